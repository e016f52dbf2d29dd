/**
 * What both baselines share: the user document our service answers, built here the classic way, with
 * the seed's five SQL queries against the source tables, and the small plumbing of a baseline service
 * (id check, response schemas, options from flags and environment, running a file as a script).
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type pg from 'pg';

export type { UserDocument } from '../../topology/user-information.js';
import type { UserDocument } from '../../topology/user-information.js';
export { errorSchema, userSchema } from '../../src/serving/schemas.js';
export { isInt64String as isCanonicalInt64 } from '../../src/serdes/primitive.js';

interface UserRow {
  user_id: string;
  username: string;
  name: string;
  description: string | null;
  location: string | null;
  web_page_url: string | null;
  joined_date: string;
  profile_image_url: string | null;
  background_image_url: string | null;
}

// The id is read as text (ids exceed 2^53); joined_date as Debezium renders a timestamptz: UTC, six fractional
// digits and 'Z'. Named statements: each pooled connection prepares them once.
const USER_QUERY = {
  name: 'baseline-user',
  text: `SELECT user_id::text AS user_id, username, name, description, location, web_page_url,
       to_char(joined_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS joined_date,
       profile_image_url, background_image_url
FROM users WHERE user_id = $1`,
};
const COUNT_QUERIES = {
  tweetCount: { name: 'baseline-tweets', text: 'SELECT COUNT(*) AS n FROM tweets WHERE user_id = $1' },
  followingCount: { name: 'baseline-following', text: 'SELECT COUNT(*) AS n FROM follows WHERE follower_id = $1' },
  followerCount: { name: 'baseline-followers', text: 'SELECT COUNT(*) AS n FROM follows WHERE followee_id = $1' },
  likeCount: { name: 'baseline-likes', text: 'SELECT COUNT(*) AS n FROM likes WHERE user_id = $1' },
} as const;

/**
 * The user's document from the seed's five queries, run one after another on one pooled connection (no
 * transaction, as a classic service would), or undefined when there is no such user.
 */
export async function queryUserDocument(pool: pg.Pool, userId: string): Promise<UserDocument | undefined> {
  const client = await pool.connect();
  try {
    const user = (await client.query<UserRow>({ ...USER_QUERY, values: [userId] })).rows[0];
    if (user === undefined) return undefined;
    const counts: Record<keyof typeof COUNT_QUERIES, number> = {
      tweetCount: 0,
      followingCount: 0,
      followerCount: 0,
      likeCount: 0,
    };
    for (const [field, query] of Object.entries(COUNT_QUERIES) as [keyof typeof COUNT_QUERIES, pg.QueryConfig][]) {
      const row = (await client.query<{ n: string }>({ ...query, values: [userId] })).rows[0];
      counts[field] = Number(row?.n ?? 0);
    }
    return {
      userId: user.user_id,
      username: user.username,
      name: user.name,
      description: user.description,
      location: user.location,
      webPageUrl: user.web_page_url,
      joinedDate: user.joined_date,
      profileImageUrl: user.profile_image_url,
      backgroundImageUrl: user.background_image_url,
      ...counts,
    };
  } finally {
    client.release();
  }
}

export function badUserId(reply: FastifyReply) {
  return reply.code(400).send({
    error: 'Bad Request',
    message: 'userId must be a 64-bit integer in canonical decimal form, e.g. 42',
  });
}

export function noSuchUser(reply: FastifyReply, userId: string) {
  return reply.code(404).send({ error: 'Not Found', message: `user ${userId} does not exist` });
}

/** PostgreSQL on 127.0.0.1 from PG_PORT, PG_DB, PG_USER, PG_PASSWORD (the local stack's defaults). */
export function pgConfigFromEnv(env: NodeJS.ProcessEnv = process.env): pg.PoolConfig {
  return {
    host: '127.0.0.1',
    port: Number(env.PG_PORT ?? '5432'),
    database: env.PG_DB ?? 'twitter',
    user: env.PG_USER ?? 'uis',
    password: env.PG_PASSWORD ?? 'uis',
  };
}

/** An integer option from a flag or the environment, at least `min`; `fallback` when not given. */
export function integerOption(name: string, value: string | number | undefined, fallback: number, min: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, not ${value}`);
  return n;
}

/** A listening baseline service. */
export interface RunningService {
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

export async function listen(app: FastifyInstance, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the server has no TCP address');
  return `http://${host}:${address.port}`;
}

/** Whether the module at `moduleUrl` is the script node was started with (rather than imported). */
export function isMainModule(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === moduleUrl;
  } catch {
    return false;
  }
}

/** Runs a service as a script: prints where it listens, closes it on SIGINT/SIGTERM. */
export function runAsScript(name: string, start: () => Promise<RunningService>): void {
  start().then(
    (service) => {
      console.log(`${name} listening on ${service.url}`);
      const stop = () => {
        service.close().then(
          () => process.exit(0),
          (error: unknown) => {
            console.error(error);
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (error: unknown) => {
      console.error(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
