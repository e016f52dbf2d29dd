/** HTTP request durations, fine enough to tell 0.25 ms from 1 ms and 5 ms from 10 ms. */
import { Histogram, type Registry } from 'prom-client';

export type Served = 'local' | 'standby' | 'forwarded' | 'replica' | 'none';

export function createHttpMetrics(registry: Registry) {
  return {
    requestSeconds: new Histogram({
      name: 'uis_http_request_duration_seconds',
      help: 'HTTP request duration, by route, status and where the answer came from.',
      labelNames: ['route', 'status', 'served'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
}

export type HttpMetrics = ReturnType<typeof createHttpMetrics>;
