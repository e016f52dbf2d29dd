/** HTTP request durations, fine enough to tell 0.25 ms from 1 ms and 5 ms from 10 ms. */
import { Histogram, type Registry } from 'prom-client';

export type Served = 'local' | 'standby' | 'forwarded' | 'replica' | 'none';

export function createHttpMetrics(registry: Registry) {
  const requestSeconds = new Histogram({
    name: 'uis_http_request_duration_seconds',
    help: 'HTTP request duration, by route, status and where the answer came from.',
    labelNames: ['route', 'status', 'served'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  // The labelled series, kept: prom-client would hash the label object on every request otherwise.
  // Few: routes x statuses x where served.
  const series = new Map<string, Histogram.Internal<'route' | 'status' | 'served'>>();
  return {
    requestSeconds,
    /** Counts one request's duration. */
    observe(route: string, status: number, served: Served, seconds: number): void {
      const key = `${route} ${status} ${served}`;
      let child = series.get(key);
      if (!child) series.set(key, (child = requestSeconds.labels({ route, status: String(status), served })));
      child.observe(seconds);
    },
  };
}

export type HttpMetrics = ReturnType<typeof createHttpMetrics>;
