// 10,000 malformed or hostile requests get 4xx (never 5xx) and the service keeps answering.
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { eventually, uniqueName } from '../support/stack.js';
import { startTestService, waitReady } from '../support/service.js';

/** Sends a raw request path (not normalized by a URL parser); resolves with the status code. */
function rawGet(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

function hostileRequests(): Array<{ method: string; path: string; headers?: Record<string, string> }> {
  const ids = [
    'abc',
    '-',
    '1.5',
    '1e3',
    '0x10',
    '+1',
    '007',
    '-0',
    '9223372036854775808', // 2^63: out of range
    '-9223372036854775809',
    '99999999999999999999999',
    '%00',
    '%2e%2e',
    '..%2f..%2fetc%2fpasswd',
    '%ZZ',
    '%',
    '%E2%82',
    '1%20',
    '%F0%9F%98%80',
    'null',
    'undefined',
    '__proto__',
    'constructor',
    '1;DROP TABLE users',
    "1' OR '1'='1",
    '<script>alert(1)</script>',
    '1'.repeat(300),
    'a'.repeat(5000),
  ];
  const out: Array<{ method: string; path: string; headers?: Record<string, string> }> = [];
  for (const id of ids)
    out.push({
      method: 'GET',
      path: `/users/${id.includes('<') || id.includes("'") || id.includes(' ') ? encodeURIComponent(id) : id}`,
    });
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) out.push({ method, path: '/users/1' });
  out.push({ method: 'GET', path: '/users/' });
  out.push({ method: 'GET', path: '/users' });
  out.push({ method: 'GET', path: '/users/1/extra' });
  out.push({ method: 'GET', path: '/' + 'x'.repeat(8000) });
  out.push({ method: 'GET', path: '/users/1?' + 'q=1&'.repeat(500) });
  out.push({ method: 'GET', path: '/users/1', headers: { 'if-none-match': 'x'.repeat(4000) } });
  out.push({ method: 'GET', path: '/users/abc', headers: { origin: 'https://evil.example' } });
  return out;
}

t.test('hostile requests get 4xx and never 5xx', async (t) => {
  const service = await startTestService(uniqueName('hostile'));
  t.teardown(() => service.stop());
  await waitReady([service]);
  // Ready means every task runs, not that it has caught up with the input there was at its start (a
  // long CDC history after the churn test takes seconds); until then a missing row answers 503, not a
  // possibly wrong 404. This test is about hostile input: it starts once the one valid id answers.
  await eventually('the valid id to answer', 120_000, async () =>
    (await fetch(`${service.url}/users/1`)).status === 503 ? undefined : true,
  );
  const port = service.config.port;
  const requests = hostileRequests();
  const statuses = new Map<number, number>();
  const fiveHundreds: string[] = [];
  const total = 10_000;
  for (let i = 0; i < total; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: 50 }, (_, j) => {
        const r = requests[(i + j) % requests.length]!;
        return rawGet(port, r.method, r.path, r.headers).then((status) => {
          if (status >= 500) fiveHundreds.push(`${r.method} ${r.path.slice(0, 60)} -> ${status}`);
          return status;
        });
      }),
    );
    for (const status of batch) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.same(fiveHundreds.slice(0, 5), [], 'no 5xx');
  const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
  t.equal(answered, total, 'every request was answered');
  t.ok(
    [...statuses.keys()].every((s) => s >= 400 && s < 500),
    'every answer is a 4xx',
  );

  const ok = await fetch(`${service.url}/users/1`);
  // When it does not, the answer and the instance's readiness say why.
  const why = [200, 404].includes(ok.status)
    ? ''
    : `: ${(await ok.text()).slice(0, 300)}; ready: ${await fetch(`${service.url}/health/ready`).then((r) => r.text())}`;
  t.ok([200, 404].includes(ok.status), `a good request still answers (${ok.status}${why})`);
  const bad = await fetch(`${service.url}/users/abc`);
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: 'Bad Request', message: /64-bit integer/ });
  const cors = await fetch(`${service.url}/users/1`, { headers: { origin: 'https://evil.example' } });
  t.equal(cors.headers.get('access-control-allow-origin'), null, 'CORS is closed by default');
});
