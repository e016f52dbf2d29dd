/** /metrics in the Prometheus text format. */
import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import { metricsRouteSchema } from '../schemas.js';

export const metricsRoute: FastifyPluginAsync<{ registry: Registry; moreMetrics: () => Promise<string> }> = async (
  app,
  { registry, moreMetrics },
) => {
  app.get('/metrics', { schema: metricsRouteSchema }, async (_request, reply) => {
    const [own, more] = await Promise.all([registry.metrics(), moreMetrics()]);
    return reply.type(registry.contentType).send(more ? `${own.trimEnd()}\n${more}` : own);
  });
};
