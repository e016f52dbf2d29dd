// Compares what the service serves (over HTTP, or in its output topic) with the oracle computed from PostgreSQL.
import pg from 'pg';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { readTable, readTopic } from './kafka.js';
import { expectedUsers, type ExpectedUser } from './oracle.js';
import { stack } from './stack.js';

export interface Mismatch {
  /** The instance asked, or `topic:<name>` for the output topic. */
  url: string;
  userId: string;
  /** The document, or 404 when the user must not exist. */
  expected: unknown;
  /** The document, the HTTP status, `absent` (from the topic) or `unreachable: <error>`. */
  actual: unknown;
}

/** The oracle's view of `userIds` (a user absent from the map does not exist). */
export async function expectedFor(userIds: string[]): Promise<Map<string, ExpectedUser>> {
  const db = new pg.Client(stack.postgres);
  await db.connect();
  return expectedUsers(db, userIds).finally(() => db.end());
}

/** What an instance answers for a user: the document, the HTTP status, or why it did not answer (10 s at most). */
async function served(url: string, userId: string): Promise<unknown> {
  try {
    const response = await fetch(`${url}/users/${userId}`, { signal: AbortSignal.timeout(10_000) });
    return response.status === 200 ? await response.json() : response.status;
  } catch (error) {
    return `unreachable: ${(error as Error).message}`;
  }
}

/**
 * Asks every given instance for every user (`concurrency` requests at a time per instance, the instances in
 * parallel); returns the differences (empty = all match), instance by instance.
 */
export async function compareWithOracle(urls: string[], userIds: string[], concurrency = 20): Promise<Mismatch[]> {
  const expected = await expectedFor(userIds);
  const perUrl = await Promise.all(
    urls.map(async (url) => {
      const mismatches: Mismatch[] = [];
      for (let i = 0; i < userIds.length; i += concurrency) {
        await Promise.all(
          userIds.slice(i, i + concurrency).map(async (userId) => {
            const actual = await served(url, userId);
            const want = expected.get(userId) ?? 404;
            if (JSON.stringify(actual) !== JSON.stringify(want)) {
              mismatches.push({ url, userId, expected: want, actual });
            }
          }),
        );
      }
      return mismatches;
    }),
  );
  return perUrl.flat();
}

/**
 * Every user id the CDC users topic has ever named (created, changed or deleted since the topic began, as far
 * as compaction kept it): the users a view built from the topic may hold, deleted ones included.
 */
export async function userIdsInCdc(topic = `${stack.cdcTopicPrefix}.public.users`): Promise<Set<string>> {
  const ids = new Set<string>();
  await readTopic(
    topic,
    (message) => {
      // Debezium's JSON key, e.g. {"user_id":5000000000000000001}: the id as written, never through a number.
      const id = /"user_id"\s*:\s*(-?\d+)/.exec(message.key?.toString() ?? '')?.[1];
      if (id !== undefined) ids.add(id);
    },
    120_000,
  );
  return ids;
}

/**
 * Reads the service's output topic from the start (read_committed, tombstones applied) and decodes each
 * Avro value with the schema registry, without updatedAt (not part of the HTTP document): userId -> document.
 */
export async function readViewTopic(topic: string, timeoutMs?: number): Promise<Map<string, Record<string, unknown>>> {
  const registry = new SchemaRegistry({ host: stack.registryUrl });
  const documents = new Map<string, Record<string, unknown>>();
  for (const [key, bytes] of await readTable(topic, timeoutMs)) {
    const { updatedAt: _updatedAt, ...document } = (await registry.decode(bytes)) as Record<string, unknown>;
    documents.set(key, document);
  }
  return documents;
}

/**
 * Compares the output topic (readViewTopic) with the oracle for `userIds`; a key in the topic that is not among
 * `userIds` is a mismatch too (it must not exist).
 */
export async function compareTopicWithOracle(
  topic: string,
  userIds: string[],
  timeoutMs?: number,
): Promise<Mismatch[]> {
  const documents = await readViewTopic(topic, timeoutMs);
  const ids = new Set(userIds);
  for (const key of documents.keys()) ids.add(key);
  const expected = await expectedFor([...ids]);
  const mismatches: Mismatch[] = [];
  for (const userId of ids) {
    const actual = documents.get(userId) ?? 'absent';
    const want = expected.get(userId) ?? 'absent';
    if (JSON.stringify(actual) !== JSON.stringify(want)) {
      mismatches.push({ url: `topic:${topic}`, userId, expected: want === 'absent' ? 404 : want, actual });
    }
  }
  return mismatches;
}

/** One line for a mismatch: the fields that differ (`tweetCount 1 -> 2`: expected, then served), or the statuses. */
export function describeMismatch(m: Mismatch): string {
  const { expected, actual } = m;
  const isDocument = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  let what: string;
  if (isDocument(expected) && isDocument(actual)) {
    const fields = [...new Set([...Object.keys(expected), ...Object.keys(actual)])];
    what = fields
      .filter((f) => JSON.stringify(expected[f]) !== JSON.stringify(actual[f]))
      .map((f) => `${f} ${JSON.stringify(expected[f])} -> ${JSON.stringify(actual[f])}`)
      .join(', ');
  } else {
    const brief = (v: unknown) => (isDocument(v) ? 'the document' : JSON.stringify(v));
    what = `expected ${brief(expected)}, got ${brief(actual)}`;
  }
  return `user ${m.userId} at ${m.url}: ${what}`;
}

const COUNTS = ['tweetCount', 'followingCount', 'followerCount', 'likeCount'];

/**
 * How a set of mismatches is wrong, counted by kind (a user may count under several): counts too high
 * (updates applied twice) or too low (lost), other fields differing (e.g. a rename that never arrived), a
 * user served though it must not exist, a user missing, or another answer (503, unreachable).
 */
export function mismatchKinds(mismatches: Mismatch[]): Record<string, number> {
  const kinds: Record<string, number> = {};
  const add = (kind: string) => (kinds[kind] = (kinds[kind] ?? 0) + 1);
  const isDocument = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  for (const { expected, actual } of mismatches) {
    if (isDocument(expected) && isDocument(actual)) {
      const differs = (f: string) => JSON.stringify(expected[f]) !== JSON.stringify(actual[f]);
      const fields = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].filter(differs);
      if (fields.some((f) => COUNTS.includes(f) && Number(actual[f]) > Number(expected[f]))) add('counts too high');
      if (fields.some((f) => COUNTS.includes(f) && Number(actual[f]) < Number(expected[f]))) add('counts too low');
      if (fields.some((f) => !COUNTS.includes(f))) add('other fields differ');
    } else if (expected === 404 && isDocument(actual)) add('served, but deleted in SQL');
    else if (isDocument(expected) && (actual === 404 || actual === 'absent')) add('missing');
    else add(`answered ${JSON.stringify(actual).slice(0, 60)}`);
  }
  return kinds;
}
