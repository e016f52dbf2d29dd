// --admin-port: health and metrics move to a server of their own; the public one answers 404 for them.
import t from 'tap';
import { Registry } from 'prom-client';
import { buildAdminServer, buildServer } from '../../src/serving/server.js';
import { stubViewSource } from '../support/view-source.js';

const source = stubViewSource({ readiness: () => ({ ready: false, reason: 'restoring' }) });

t.test('with the admin server apart, probes and scrapes are only there', async (t) => {
  const registry = new Registry();
  const pub = await buildServer({ source, registry, corsOrigins: [], adminApart: true });
  const admin = await buildAdminServer({ source, registry, moreMetrics: async () => 'engine_metric 1\n' });
  t.teardown(() => Promise.all([pub.close(), admin.close()]));
  for (const url of ['/metrics', '/health/live', '/health/ready'])
    t.equal((await pub.inject({ method: 'GET', url })).statusCode, 404, `not on the public port: ${url}`);
  t.equal((await pub.inject({ method: 'GET', url: '/users/1' })).statusCode, 404, 'users are (this one is absent)');
  t.equal((await admin.inject({ method: 'GET', url: '/health/live' })).statusCode, 200);
  const ready = await admin.inject({ method: 'GET', url: '/health/ready' });
  t.same([ready.statusCode, ready.json()], [503, { status: 'not ready', reason: 'restoring' }]);
  const metrics = await admin.inject({ method: 'GET', url: '/metrics' });
  t.match(metrics.body, /engine_metric 1/, "the engine thread's metrics too");
  t.equal((await admin.inject({ method: 'GET', url: '/users/1' })).statusCode, 404, 'and nothing else');
  const openapi = (await pub.inject({ method: 'GET', url: '/openapi.json' })).json();
  t.same(
    Object.keys(openapi.paths).sort(),
    ['/users/{userId}', '/users/{userId}/activity', '/users/{userId}/lineage', '/users:batchGet'],
    'the public API document',
  );
});
