/**
 * Baseline "classic": GET /users/:userId runs the seed's five SQL queries against PostgreSQL for every
 * request and answers the same document as our service (404 for no such user, 400 for a bad id).
 *
 *   node --import tsx bench/baselines/sql-service.ts [--port 3100] [--pool 16]
 *
 * PostgreSQL on 127.0.0.1 from PG_PORT, PG_DB, PG_USER, PG_PASSWORD (5432, twitter, uis, uis).
 */
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import pg from 'pg';
import {
  badUserId,
  errorSchema,
  integerOption,
  isCanonicalInt64,
  isMainModule,
  listen,
  noSuchUser,
  pgConfigFromEnv,
  queryUserDocument,
  runAsScript,
  userSchema,
  type RunningService,
} from './user-document.js';

export interface SqlServiceOptions {
  /** 0 picks a free port; default 3100. */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** PostgreSQL connections; default 16. */
  pool?: number;
  /** default: pgConfigFromEnv() */
  pg?: pg.PoolConfig;
  /** fastify's request log; default off (it would be measured too). */
  logger?: boolean;
}

export async function startSqlService(opts: SqlServiceOptions = {}): Promise<RunningService> {
  const pool = new pg.Pool({ ...(opts.pg ?? pgConfigFromEnv()), max: opts.pool ?? 16 });
  // An idle client's error (e.g. PostgreSQL restarted) must not crash the process; the pool drops it.
  pool.on('error', () => undefined);
  const app = Fastify({ logger: opts.logger ?? false });
  app.get<{ Params: { userId: string } }>(
    '/users/:userId',
    { schema: { response: { 200: userSchema, 400: errorSchema, 404: errorSchema } } },
    async (request, reply) => {
      const { userId } = request.params;
      if (!isCanonicalInt64(userId)) return badUserId(reply);
      const document = await queryUserDocument(pool, userId);
      return document ?? noSuchUser(reply, userId);
    },
  );
  try {
    const url = await listen(app, opts.host ?? '127.0.0.1', opts.port ?? 3100);
    return {
      url,
      close: async () => {
        await app.close();
        await pool.end();
      },
    };
  } catch (error) {
    await app.close();
    await pool.end();
    throw error;
  }
}

if (isMainModule(import.meta.url)) {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, pool: { type: 'string' }, log: { type: 'boolean' } },
  });
  runAsScript('sql-service', () =>
    startSqlService({
      port: integerOption('--port', values.port, 3100, 0),
      pool: integerOption('--pool', values.pool, 16, 1),
      logger: values.log ?? false,
    }),
  );
}
