// Per-client rate limits (off by default): beyond the limit a client gets 429 with Retry-After and a
// reason; health, metrics and signed forwards from other instances are not counted.
import t from 'tap';
import { Registry } from 'prom-client';
import { ForwardAuth } from '../../src/serving/forward-auth.js';
import { buildServer } from '../../src/serving/server.js';
import { ConfigError, loadConfig } from '../../src/service/config.js';
import { stubViewSource } from '../support/view-source.js';

const SECRET = 'a shared secret of 32 bytes.....';
const source = stubViewSource();

t.test('the fourth request in the window gets 429 with Retry-After; probes and forwards are not counted', async (t) => {
  const app = await buildServer({
    source,
    registry: new Registry(),
    corsOrigins: [],
    forwardSecret: SECRET,
    rateLimit: { max: 3, windowMs: 60_000 },
  });
  t.teardown(() => app.close());
  const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });
  for (let i = 0; i < 3; i++) t.equal((await get(`/users/${i}`)).statusCode, 404, `request ${i + 1} is answered`);
  const limited = await get('/users/4');
  t.equal(limited.statusCode, 429);
  t.ok(Number(limited.headers['retry-after']) > 0, `with Retry-After (${limited.headers['retry-after']} s)`);
  t.match(limited.json(), { error: 'Too Many Requests', message: /more than 3 requests in 60000 ms/ });
  t.equal((await get('/health/live')).statusCode, 200, 'a health probe is not limited');
  t.equal((await get('/metrics')).statusCode, 200, 'nor a scrape');
  const forward = new ForwardAuth(SECRET).headers('GET', '/users/5', '127.0.0.1:2');
  t.equal((await get('/users/5', forward)).statusCode, 404, 'nor a signed forward from another instance');
  t.equal((await get('/users/5', { 'x-uis-forwarded': 'x:1' })).statusCode, 429, 'but a forged one is');
});

t.test('no limit by default; a limit needs the forward secret', async (t) => {
  const app = await buildServer({ source, registry: new Registry(), corsOrigins: [] });
  t.teardown(() => app.close());
  for (let i = 0; i < 50; i++) {
    const status = (await app.inject({ method: 'GET', url: '/users/1' })).statusCode;
    if (status !== 404) t.fail(`request ${i} got ${status}`);
  }
  t.pass('50 requests at once, none limited');
  t.throws(
    () => loadConfig(new Map([['rate-limit-max', '100']]), {}),
    ConfigError,
    'a limit without a forward secret stops the start',
  );
});
