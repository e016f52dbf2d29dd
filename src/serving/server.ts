/**
 * The HTTP server: fastify's small core with each concern a plugin (users,
 * health, metrics, CORS, the OpenAPI document). CORS is off unless origins are configured.
 */
import cors from '@fastify/cors';
import rateLimitPlugin from '@fastify/rate-limit';
import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { ForwardAuth } from './forward-auth.js';
import { Forwarder } from './forwarder.js';
import { createHttpMetrics } from './http-metrics.js';
import { healthRoutes } from './routes/health.js';
import { registerOpenApi } from './openapi.js';
import { metricsRoute } from './routes/metrics.js';
import { storeRoutes } from '../query/store-routes.js';
import { usersActivityRoute } from './routes/users-activity.js';
import type { QueryableStores } from '../query/queryable-stores.js';
import { usersRoute } from './routes/users.js';
import { usersBatchRoute } from './routes/users-batch.js';
import { usersLineageRoute, type ViewLineage } from './routes/users-lineage.js';
import type { ViewSource } from './view-source.js';
import type { Freshness } from './freshness.js';

export interface ServerOptions {
  source: ViewSource;
  registry: Registry;
  /** Metrics kept elsewhere (the engine's thread), appended to the registry's. */
  moreMetrics?: () => Promise<string>;
  /** Origins allowed by CORS; empty: no CORS headers at all. */
  corsOrigins: string[];
  /** Staleness a request accepts from a standby copy when it does not say (0: none). */
  standbyMaxStalenessMs?: number;
  /** The most ids a POST /users:batchGet may ask for. */
  batchMaxIds?: number;
  /** Shared by every instance of the application: authenticates forwarded requests (ForwardAuth). */
  forwardSecret?: string;
  /** At most `max` requests per client address in each `windowMs`; beyond, 429 with Retry-After. Off when absent. */
  rateLimit?: { max: number; windowMs: number };
  /** Health and metrics are served by the admin server (buildAdminServer), not on this one. */
  adminApart?: boolean;
  /** The view's positions against the source database (freshness headers, read-your-writes). */
  freshness?: Freshness;
  /** The longest a request may wait for the freshness it asks for (ms). */
  maxReadWaitMs?: number;
  /** The lineage of the view's rows (GET /users/:userId/lineage); absent: that route answers 501. */
  lineage?: ViewLineage;
  /** Stores served by the generic store routes under /stores (src/query/store-routes.ts); absent: none. */
  stores?: QueryableStores;
}

export async function buildServer({
  source,
  registry,
  moreMetrics = async () => '',
  corsOrigins,
  standbyMaxStalenessMs = 0,
  batchMaxIds = 100,
  forwardSecret,
  rateLimit,
  adminApart = false,
  freshness,
  maxReadWaitMs = 10_000,
  lineage,
  stores,
}: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    routerOptions: { maxParamLength: 64 },
    bodyLimit: 1024,
    return503OnClosing: true,
    forceCloseConnections: true,
  });
  const metrics = createHttpMetrics(registry);
  const forwarder = new Forwarder();
  const forwardAuth = new ForwardAuth(forwardSecret);

  // Fastify times every request of a route with an onResponse hook, from its arrival (elapsedTime, ms).
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observe(
      request.routeOptions.url ?? 'unknown',
      reply.statusCode,
      request.served ?? 'none',
      reply.elapsedTime / 1000,
    );
    done();
  });
  app.addHook('onClose', async () => forwarder.close());
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'Not Found', message: `no route ${request.method} ${request.url.slice(0, 100)}` }),
  );
  app.setErrorHandler<FastifyError>((error, _request, reply) => {
    const status =
      typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500
        ? error.statusCode
        : 500;
    if (status === 500) app.log.error(error);
    return reply.code(status).send({
      error: STATUS_CODES[status] ?? 'Bad Request',
      message: status === 500 ? 'unexpected error' : error.message,
    });
  });

  if (corsOrigins.length > 0) await app.register(cors, { origin: corsOrigins, methods: ['GET', 'HEAD', 'POST'] });
  if (rateLimit) {
    await app.register(rateLimitPlugin, {
      global: true,
      max: rateLimit.max,
      timeWindow: rateLimit.windowMs,
      // Per client address. Probes, scrapes and forwards from other instances are not counted.
      allowList: (request) =>
        request.url.startsWith('/health/') ||
        request.url === '/metrics' ||
        (forwardAuth.enabled && forwardAuth.forwardedBy(request) !== undefined),
      errorResponseBuilder: (_request, context) => ({
        statusCode: 429,
        message: `more than ${context.max} requests in ${rateLimit.windowMs} ms from this client: retry in ${context.after}`,
      }),
    });
  }
  await registerOpenApi(app);
  await app.register(usersRoute, {
    source,
    ...(freshness ? { freshness } : {}),
    maxReadWaitMs,
    forwarder,
    forwardAuth,
    standbyMaxStalenessMs,
  });
  await app.register(usersBatchRoute, {
    source,
    forwarder,
    forwardAuth,
    standbyMaxStalenessMs,
    maxIds: batchMaxIds,
    ...(freshness ? { freshness } : {}),
  });
  await app.register(usersLineageRoute, { source, lineage, forwarder, forwardAuth });
  await app.register(usersActivityRoute, { source, stores, forwarder, forwardAuth });
  if (stores) {
    // Signed like the /users forwards, so the owner does not count them against a client's rate limit.
    await app.register(storeRoutes, {
      streams: stores,
      forwardHeaders: (path) => forwardAuth.headers('GET', path, stores.endpoint),
    });
  }
  if (!adminApart) {
    await app.register(healthRoutes, { source });
    await app.register(metricsRoute, { registry, moreMetrics });
  }
  return app;
}

/** Health and metrics on a port of their own (--admin-port), for probes and scrapes only. */
export async function buildAdminServer({
  source,
  registry,
  moreMetrics = async () => '',
}: Pick<ServerOptions, 'source' | 'registry' | 'moreMetrics'>): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1024, return503OnClosing: true, forceCloseConnections: true });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'Not Found', message: `no route ${request.method} ${request.url.slice(0, 100)}` }),
  );
  await app.register(healthRoutes, { source });
  await app.register(metricsRoute, { registry, moreMetrics });
  return app;
}
