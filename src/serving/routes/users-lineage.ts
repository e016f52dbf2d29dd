/**
 * GET /users/:userId/lineage — why the row is what it is: for its profile and
 * each count, the source change that last moved it (table, primary key, LSN,
 * commit time, and the CDC record in Kafka), and the changelog record that
 * holds the row. Answered by the owner of the user's partition from its
 * stores (the view's lineage store, see src/processor/lineage.ts); another
 * instance forwards the request to it.
 *
 * The row and its lineage are read one after the other: a commit in between
 * can make the lineage newer than the row read (never older).
 */
import type { FastifyPluginAsync } from 'fastify';
import { decodeLineage, type Lineage } from '../../processor/lineage.js';
import { debeziumKeyColumns, readDebeziumLineage, type JsonObject } from '../../serdes/debezium.js';
import { stringifyJson } from '../../serdes/index.js';
import { viewSerde, type UserInformation } from '../../../topology/user-information.js';
import type { ForwardAuth } from '../forward-auth.js';
import type { Forwarder } from '../forwarder.js';
import { answerFromOwner, lookUpUser, refuseBadUserId } from './user-subresource.js';
import { formatLsn } from '../freshness.js';
import { lineageRouteSchema } from '../schemas.js';
import type { ViewSource } from '../view-source.js';

/** The lineage kept for the view's rows, on an instance that runs the view's tasks. */
export interface ViewLineage {
  /** The parts of a row it explains: the field, and the input topic of the view's task its changes arrive on. */
  readonly parts: ReadonlyArray<{ field: string; inputTopic: string }>;
  readonly changelogTopic: string;
  /** The lineage stored for a part of a row of a partition whose task runs here. */
  read(key: Buffer, partition: number, inputTopic: string): Buffer | undefined;
  /** The offset of the changelog record that wrote `value` for `key`, looked for from the time `since` (ms) on. */
  changelogOffset(key: Buffer, partition: number, value: Buffer, since: number): Promise<bigint | undefined>;
}

export interface LineageRouteOptions {
  source: ViewSource;
  /** Absent where no lineage is kept (a read replica, or --lineage off): 501. */
  lineage: ViewLineage | undefined;
  forwarder: Forwarder;
  forwardAuth: ForwardAuth;
}

/** The owner may search its changelog for the row: a forward may take this much longer than a GET. */
const FORWARD_EXTRA_MS = 10_000;

const OPS: Record<string, string> = { c: 'insert', u: 'update', d: 'delete', r: 'snapshot' };

export const usersLineageRoute: FastifyPluginAsync<LineageRouteOptions> = async (
  app,
  { source, lineage, forwarder, forwardAuth },
) => {
  app.get<{ Params: { userId: string } }>(
    '/users/:userId/lineage',
    { schema: lineageRouteSchema },
    async (request, reply) => {
      const { userId } = request.params;
      if (refuseBadUserId(userId, reply)) return reply;
      if (!lineage)
        return reply.code(501).send({
          error: 'Not Implemented',
          message:
            'this instance keeps no lineage: it is a read replica, or runs with --lineage off; ask an instance of the application that keeps it',
        });
      const { key, found } = lookUpUser(userId, request, reply, source);
      if (!found) return reply;
      if (found.kind === 'local') {
        const row = viewSerde.deserialize(found.value);
        const offset = await lineage
          .changelogOffset(key, found.partition, found.value, row.updatedAt)
          .catch((error: unknown) => {
            request.log.warn({ err: error }, 'looking for the row in its changelog failed');
            return undefined;
          });
        const fields: Record<string, { value?: number; lastChange: ReturnType<typeof sourceChange> | null }> = {};
        for (const part of lineage.parts) {
          const stored = lineage.read(key, found.partition, part.inputTopic);
          const value = row[part.field as keyof UserInformation];
          fields[part.field] = {
            ...(typeof value === 'number' ? { value } : {}),
            lastChange: stored ? sourceChange(decodeLineage(stored)) : null,
          };
        }
        return reply.send({
          userId,
          partition: found.partition,
          servedBy: source.endpoint,
          lastModified: new Date(row.updatedAt).toISOString(),
          changelog: {
            topic: lineage.changelogTopic,
            partition: found.partition,
            offset: offset === undefined ? null : offset.toString(),
          },
          fields,
        });
      }
      return answerFromOwner(
        request,
        reply,
        found,
        `/users/${userId}/lineage`,
        { source, forwarder, forwardAuth },
        FORWARD_EXTRA_MS,
      );
    },
  );
};

/** A stored lineage as the answer gives it: the source's facts, when it gave them, and the record in Kafka. */
function sourceChange(lineage: Lineage) {
  const cdc = { topic: lineage.topic, partition: lineage.partition, offset: lineage.offset };
  const facts = readDebeziumLineage(lineage.facts);
  if (!facts) return { committedAt: new Date(lineage.timestamp).toISOString(), cdc };
  const columns = lineage.key ? debeziumKeyColumns(lineage.key) : undefined;
  return {
    table: facts.table,
    primaryKey: columns ? primaryKey(columns) : {},
    op: OPS[facts.op] ?? facts.op,
    lsn: facts.lsn === undefined ? null : formatLsn(BigInt(facts.lsn)),
    committedAt: new Date(lineage.timestamp).toISOString(),
    cdc,
  };
}

/** The key columns, ids as decimal strings (exact beyond 2^53). */
function primaryKey(columns: JsonObject): Record<string, string | boolean | null> {
  const result: Record<string, string | boolean | null> = {};
  for (const [column, value] of Object.entries(columns)) {
    result[column] =
      typeof value === 'number' || typeof value === 'bigint'
        ? String(value)
        : typeof value === 'string' || typeof value === 'boolean' || value === null
          ? value
          : stringifyJson(value);
  }
  return result;
}
