/**
 * POST /users:batchGet {"ids": [...]} — many users in one request: one result per id, in the order
 * asked, each with its own status (200 with the user, 404, 503 with the reason). Ids this instance
 * owns are read from its stores; the others are grouped by owning member and fetched from each in
 * one forwarded batch, all owners at once. A forwarded batch is answered from local stores only.
 * A request that accepts a stale answer (Cache-Control: max-stale) may be answered from this
 * instance's standby copies for ids whose owner cannot answer, as GET /users/:userId is.
 */
import type { FastifyPluginAsync } from 'fastify';
import { isInt64String } from '../../serdes/primitive.js';
import { viewSerde } from '../../../topology/user-information.js';
import type { ForwardAuth } from '../forward-auth.js';
import type { Forwarder } from '../forwarder.js';
import { formatLsn, type Freshness } from '../freshness.js';
import { batchRouteSchema } from '../schemas.js';
import type { ViewSource } from '../view-source.js';
import { maxStaleness } from './users.js';

export const BATCH_PATH = '/users:batchGet';

export interface UsersBatchRouteOptions {
  source: ViewSource;
  forwarder: Forwarder;
  forwardAuth: ForwardAuth;
  standbyMaxStalenessMs: number;
  /** The most ids one request may ask for. */
  maxIds: number;
  /** The view's positions: each local result says the position and staleness of its partition. */
  freshness?: Freshness;
}

/** One id's result, as JSON text: the user's document is spliced in as the stored bytes. */
type Result = string;

const result = (id: string, status: number, fields: Record<string, string | number>, user?: Buffer): Result => {
  const head = JSON.stringify({ id, status, ...fields });
  return user ? `${head.slice(0, -1)},"user":${user.toString('utf8')}}` : head;
};

export const usersBatchRoute: FastifyPluginAsync<UsersBatchRouteOptions> = async (
  app,
  { source, forwarder, forwardAuth, standbyMaxStalenessMs, maxIds, freshness },
) => {
  const localFields = (partition: number, now: number) => {
    const position = freshness?.of(partition).position;
    return {
      partition,
      servedBy: source.endpoint,
      ...(position ? { position: formatLsn(position.lsn), stalenessMs: Math.max(0, now - position.observedAt) } : {}),
    };
  };
  app.post<{ Body: { ids: string[] } }>(
    // '::' is a literal ':' in a fastify path.
    BATCH_PATH.replace(':', '::'),
    // Ids are at most 20 characters: the body is bounded by the count allowed.
    { schema: batchRouteSchema(maxIds), bodyLimit: 64 + 24 * maxIds },
    async (request, reply) => {
      const { ids } = request.body;
      const invalid = ids.filter((id) => !isInt64String(id));
      if (invalid.length > 0) {
        return reply.code(400).send({
          error: 'Bad Request',
          message: `ids must be 64-bit integers in canonical decimal form, e.g. "42"; not: ${invalid.slice(0, 5).join(', ')}`,
        });
      }
      const forwarded = forwardAuth.forwardedBy(request) !== undefined;
      const standbyRead = forwarded ? undefined : maxStaleness(request, standbyMaxStalenessMs);
      const results: Result[] = new Array<Result>(ids.length);
      const byOwner = new Map<string, number[]>();
      const now = Date.now();
      ids.forEach((id, i) => {
        const found = source.lookup(Buffer.from(id));
        if (found.kind === 'local') {
          const fields = localFields(found.partition, now);
          results[i] = found.value ? result(id, 200, fields, answerBody(found.value)) : result(id, 404, fields);
          return;
        }
        if (found.kind === 'remote' && !forwarded && source.isMember(found.owner)) {
          byOwner.set(found.owner, [...(byOwner.get(found.owner) ?? []), i]);
          return;
        }
        const copy = standbyRead === undefined ? undefined : found.standby.readLocal(standbyRead);
        if (copy) {
          const fields = {
            partition: found.partition ?? -1,
            servedBy: source.endpoint,
            standby: 'true',
            stalenessMs: copy.stalenessMs,
          };
          results[i] = copy.value ? result(id, 200, fields, answerBody(copy.value)) : result(id, 404, fields);
          return;
        }
        const reason =
          found.kind === 'unavailable'
            ? found.reason
            : forwarded
              ? 'the partition moved while the request was forwarded'
              : 'the owner of the partition is not a group member';
        results[i] = result(id, 503, {
          ...(found.partition !== undefined ? { partition: found.partition } : {}),
          message: reason,
        });
      });

      await Promise.all(
        [...byOwner].map(async ([owner, positions]) => {
          const asked = positions.map((i) => ids[i]!);
          const answered = await forwarder
            .post(
              owner,
              BATCH_PATH,
              forwardAuth.headers('POST', BATCH_PATH, source.endpoint),
              JSON.stringify({ ids: asked }),
            )
            .then((response) =>
              response.status === 200
                ? (JSON.parse(response.body.toString('utf8')) as { results: Array<{ id: string }> }).results
                : undefined,
            )
            .catch(() => undefined);
          positions.forEach((i, k) => {
            const their = answered?.[k];
            results[i] =
              their && their.id === ids[i]
                ? JSON.stringify(their)
                : result(ids[i]!, 503, { message: `the owner ${owner} did not answer` });
          });
        }),
      );
      request.served = byOwner.size > 0 ? 'forwarded' : 'local';
      reply.header('cache-control', 'no-cache').header('x-uis-served-by', source.endpoint);
      return reply.type('application/json; charset=utf-8').send(`{"results":[${results.join(',')}]}`);
    },
  );
};

/** The stored document (the answer row's body). */
function answerBody(value: Buffer): Buffer {
  return viewSerde.answer(value).body;
}
