/**
 * Baseline "cache-aside": GET /users/:userId looks in Redis first (key user:<id>); on a hit it answers the
 * cached document, on a miss it runs the seed's five SQL queries, stores the document with a TTL and answers
 * it. Within the TTL a change in PostgreSQL is not seen: that staleness is what this baseline is measured
 * for, with its hit rate (GET /stats: {hits, misses, redisErrors}). A missing user is not cached. When
 * Redis fails the request is answered from PostgreSQL and counted in redisErrors.
 *
 *   node --import tsx bench/baselines/cache-aside-service.ts [--port 3200] [--ttl 60] [--pool 16] [--redis-connections 4]
 *
 * PostgreSQL on 127.0.0.1 from PG_PORT, PG_DB, PG_USER, PG_PASSWORD (5432, twitter, uis, uis);
 * Redis on 127.0.0.1:REDIS_PORT (6379), started by bench/baselines/redis.sh.
 */
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import pg from 'pg';
import { RespClient } from './resp.js';
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

export interface CacheAsideServiceOptions {
  /** 0 picks a free port; default 3200. */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** seconds a cached document lives; default 60. */
  ttl?: number;
  /** PostgreSQL connections; default 16. */
  pool?: number;
  /** default: pgConfigFromEnv() */
  pg?: pg.PoolConfig;
  /** default: REDIS_PORT or 6379 */
  redisPort?: number;
  /** Redis connections used round-robin; default 4. */
  redisConnections?: number;
  /** fastify's request log; default off. */
  logger?: boolean;
}

export interface CacheStats {
  hits: number;
  misses: number;
  redisErrors: number;
}

export const cacheKey = (userId: string): string => `user:${userId}`;

export async function startCacheAsideService(opts: CacheAsideServiceOptions = {}): Promise<RunningService> {
  const ttl = opts.ttl ?? 60;
  const pool = new pg.Pool({ ...(opts.pg ?? pgConfigFromEnv()), max: opts.pool ?? 16 });
  pool.on('error', () => undefined);
  const redis = new RespClient({
    port: opts.redisPort ?? integerOption('REDIS_PORT', process.env.REDIS_PORT, 6379, 1),
    connections: opts.redisConnections ?? 4,
  });
  const stats: CacheStats = { hits: 0, misses: 0, redisErrors: 0 };

  const app = Fastify({ logger: opts.logger ?? false });
  app.get<{ Params: { userId: string } }>(
    '/users/:userId',
    { schema: { response: { 200: userSchema, 400: errorSchema, 404: errorSchema } } },
    async (request, reply) => {
      const { userId } = request.params;
      if (!isCanonicalInt64(userId)) return badUserId(reply);
      const key = cacheKey(userId);
      let redisUp = true;
      try {
        const cached = await redis.get(key);
        if (cached !== null) {
          stats.hits++;
          // Already the serialized document: sent as it is.
          return reply
            .header('x-cache', 'hit')
            .type('application/json; charset=utf-8')
            .serializer((payload: unknown) => payload as string)
            .send(cached);
        }
      } catch {
        redisUp = false;
        stats.redisErrors++;
      }
      stats.misses++;
      reply.header('x-cache', 'miss');
      const document = await queryUserDocument(pool, userId);
      if (document === undefined) return noSuchUser(reply, userId);
      if (redisUp) {
        try {
          await redis.set(key, JSON.stringify(document), { ex: ttl });
        } catch {
          stats.redisErrors++;
        }
      }
      return document;
    },
  );
  app.get('/stats', async () => ({ ...stats }));

  const shutdown = async () => {
    await app.close();
    await Promise.all([pool.end(), redis.close()]);
  };
  try {
    await redis.ping(); // fail at start, not at the first request, when Redis is not there
    const url = await listen(app, opts.host ?? '127.0.0.1', opts.port ?? 3200);
    return { url, close: shutdown };
  } catch (error) {
    await shutdown();
    throw error;
  }
}

if (isMainModule(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      ttl: { type: 'string' },
      pool: { type: 'string' },
      'redis-connections': { type: 'string' },
      log: { type: 'boolean' },
    },
  });
  runAsScript('cache-aside-service', () =>
    startCacheAsideService({
      port: integerOption('--port', values.port, 3200, 0),
      ttl: integerOption('--ttl', values.ttl, 60, 1),
      pool: integerOption('--pool', values.pool, 16, 1),
      redisConnections: integerOption('--redis-connections', values['redis-connections'], 4, 1),
      logger: values.log ?? false,
    }),
  );
}
