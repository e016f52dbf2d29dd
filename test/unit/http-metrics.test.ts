// uis_http_request_duration_seconds: every request counted once, by route, status and where it was served.
import t from 'tap';
import { Registry } from 'prom-client';
import { buildServer } from '../../src/serving/server.js';
import { stubViewSource } from '../support/view-source.js';

const source = stubViewSource();

t.test('requests are timed by route, status and where they were served', async (t) => {
  const registry = new Registry();
  const app = await buildServer({ source, registry, corsOrigins: [] });
  t.teardown(() => app.close());
  for (const url of ['/users/1', '/users/2', '/users/x', '/nowhere']) await app.inject({ method: 'GET', url });
  const text = await registry.getSingleMetricAsString('uis_http_request_duration_seconds');
  const counts = Object.fromEntries(
    [
      ...text.matchAll(
        /^uis_http_request_duration_seconds_count\{route="([^"]*)",status="(\d+)",served="(\w+)"\} (\d+)$/gm,
      ),
    ].map((m) => [`${m[1]} ${m[2]} ${m[3]}`, Number(m[4])]),
  );
  t.same(
    counts,
    { '/users/:userId 404 local': 2, '/users/:userId 400 none': 1, 'unknown 404 none': 1 },
    'two absent users answered locally, one bad id, one unknown route',
  );
  const sums = [...text.matchAll(/^uis_http_request_duration_seconds_sum\{[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]));
  t.equal(sums.length, 3, 'a sum per series');
  t.ok(
    sums.every((sum) => sum > 0 && sum < 5),
    `durations in seconds (${sums.join(', ')})`,
  );
});
