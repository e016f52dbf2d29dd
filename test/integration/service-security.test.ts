// The service's own security settings on running instances against the stack (issue 12): forwarding
// between instances signed with a shared secret, so a client's forged forwarded marker is ignored and
// the request still reaches the key's owner; health and metrics on an admin port of their own, not on
// the public one; per-client rate limits, 429 with Retry-After, where probes are not counted.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { FORWARDED_HEADER } from '../../src/serving/forward-auth.js';
import { startTestService, waitReady, type TestService } from '../support/service.js';
import { eventually, stack, uniqueName } from '../support/stack.js';

t.setTimeout(240_000);

const adminUrlOf = (service: TestService) =>
  `http://127.0.0.1:${(service.admin!.server.address() as AddressInfo).port}`;

t.test('signed forwarding, an admin port apart and rate limits, on running instances', async (t) => {
  const app = uniqueName('security');
  const dir = mkdtempSync(join(tmpdir(), 'uis-security-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const secretFile = join(dir, 'forward-secret');
  writeFileSync(secretFile, randomBytes(32).toString('hex'), { mode: 0o600 });
  const flags = { 'forward-secret-file': secretFile, 'admin-port': '0' };
  const a = await startTestService(app, { flags });
  t.teardown(() => a.stop());
  const b = await startTestService(app, { flags });
  t.teardown(() => b.stop());
  await waitReady(
    [a, b].map((s) => ({ url: adminUrlOf(s) })),
    180_000,
  );

  // Users of our own, read through A until both instances own some.
  const db = new pg.Client(stack.postgres);
  await db.connect();
  t.teardown(() => db.end());
  const base = 7_500_000_000_000_000_000n + BigInt(Date.now() % 1_000_000) * 1000n;
  const ids = Array.from({ length: 16 }, (_, i) => String(base + BigInt(i)));
  for (const id of ids)
    await db.query('INSERT INTO users (user_id, username, name) VALUES ($1, $2, $3)', [id, `sec_${id}`, 'n']);
  const servedBy = new Map<string, string>();
  await eventually('every user in the view', 120_000, async () => {
    for (const id of ids.filter((id) => !servedBy.has(id))) {
      const answer = await fetch(`${a.url}/users/${id}`);
      if (answer.status === 200) servedBy.set(id, answer.headers.get('x-uis-served-by') ?? '');
    }
    return servedBy.size === ids.length ? true : undefined;
  });
  const ofB = ids.find((id) => servedBy.get(id) === b.config.advertisedEndpoint);
  t.ok(ofB, 'a user owned by B, read through A (forwarded, signed)');

  // A client sending the forwarded marker itself: ignored, so A still forwards to the owner.
  const forged = await fetch(`${a.url}/users/${ofB}`, { headers: { [FORWARDED_HEADER]: a.config.advertisedEndpoint } });
  t.equal(forged.status, 200, 'a forged forwarded marker is not honoured');
  t.equal(forged.headers.get('x-uis-served-by'), b.config.advertisedEndpoint, 'the owner answered, as for any client');

  // Health and metrics on the admin port only.
  t.equal((await fetch(`${a.url}/metrics`)).status, 404, 'no metrics on the public port');
  t.equal((await fetch(`${a.url}/health/ready`)).status, 404, 'no health on the public port');
  const metrics = await fetch(`${adminUrlOf(a)}/metrics`);
  t.equal(metrics.status, 200, 'metrics on the admin port');
  t.match(await metrics.text(), /streams_tasks/, 'the engine metrics among them');
  t.equal((await fetch(`${adminUrlOf(a)}/users/${ofB}`)).status, 404, 'no user reads on the admin port');

  // A read replica with a rate limit of 5 requests a minute per client.
  const replica = await startTestService(app, {
    replica: true,
    flags: { ...flags, 'rate-limit-max': '5', 'rate-limit-window-ms': '60000' },
  });
  t.teardown(() => replica.stop());
  await waitReady([{ url: adminUrlOf(replica) }], 120_000);
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 8; i++) {
    const answer = await fetch(`${replica.url}/users/${ids[i]}`);
    statuses.push(answer.status);
    if (answer.status === 429) retryAfter ??= answer.headers.get('retry-after');
  }
  t.same(statuses.slice(0, 5), [200, 200, 200, 200, 200], 'the first five are answered');
  t.same(statuses.slice(5), [429, 429, 429], 'the rest get 429');
  t.ok(Number(retryAfter) > 0, `with Retry-After (${retryAfter} s)`);
  t.equal((await fetch(`${adminUrlOf(replica)}/health/ready`)).status, 200, 'probes are not counted');
});
