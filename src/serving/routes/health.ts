/** /health/live: the process answers. /health/ready: the view source says it is ready (or why not). */
import type { FastifyPluginAsync } from 'fastify';
import { liveRouteSchema, readyRouteSchema } from '../schemas.js';
import type { ViewSource } from '../view-source.js';

export const healthRoutes: FastifyPluginAsync<{ source: ViewSource }> = async (app, { source }) => {
  app.get('/health/live', { schema: liveRouteSchema }, async () => ({ status: 'live' }));
  app.get('/health/ready', { schema: readyRouteSchema }, async (_request, reply) => {
    const { ready, reason } = source.readiness();
    return reply.code(ready ? 200 : 503).send(ready ? { status: 'ready' } : { status: 'not ready', reason });
  });
};
