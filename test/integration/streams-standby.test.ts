// Standby replicas: with --num-standby-replicas 1, every task's state is kept current on the other
// instance. After kill -9 of the owner of a key, a request that accepts stale answers
// (Cache-Control: max-stale) is answered at once from the standby, never a 503 and never a wrong
// answer; a plain request gets 503 until the group notices the death (session timeout) and the
// standby takes over, with no long restore. Real broker, two `uis run` processes.
import t from 'tap';
import { openSync, closeSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { expectedUsers } from '../support/oracle.js';
import { compareWithOracle } from '../support/view-check.js';
import { servingUrl, spawnInstance, waitReady } from '../support/service.js';
import { eventually, stack, uniqueName } from '../support/stack.js';

t.setTimeout(240_000);

t.test('kill -9 of an owner: standby answers at once, then the standby takes the task over', async (t) => {
  const app = uniqueName('standby');
  const root = mkdtempSync(join(tmpdir(), 'uis-standby-'));
  const children: ChildProcess[] = [];
  t.teardown(() => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });
  // Users of its own, so the test does not depend on what earlier tests wrote (on an empty database it
  // would find no user owned by A).
  const db = new pg.Client(stack.postgres);
  await db.connect();
  t.teardown(() => db.end());
  const firstId = BigInt(Date.now()) * 100n;
  const ownIds = Array.from({ length: 40 }, (_, i) => String(firstId + BigInt(i)));
  for (const id of ownIds)
    await db.query('INSERT INTO users (user_id, username, name) VALUES ($1, $2, $3)', [id, `standby_${id}`, 'standby']);

  const start = async (name: string) => {
    const log = join(root, `${name}.log`);
    const fd = openSync(log, 'a');
    const child = spawnInstance(app, 0, join(root, name), {
      logFd: fd,
      logLevel: 'info',
      // Ready only once the CDC history has gone through every stage (without it a fresh application
      // is ready when its own tasks are, before the repartition topics have been processed).
      flags: { 'num-standby-replicas': '1', 'connect-url': stack.connectUrl },
    });
    closeSync(fd);
    children.push(child);
    const url = await eventually(`${name} serving`, 60_000, async () =>
      readFileSync(log, 'utf8').split('\n').map(servingUrl).find(Boolean),
    );
    return { child, url, endpoint: url.replace('http://', '') };
  };
  const a = await start('a');
  const b = await start('b');
  await waitReady([a, b]);
  await eventually('every standby caught up', 60_000, async () => {
    const lags = await Promise.all(
      [a, b].map(async (i) =>
        (await fetch(`${i.url}/metrics`).then((r) => r.text()))
          .split('\n')
          .filter((l) => l.startsWith('streams_standby_staleness_seconds{'))
          .map((l) => Number(l.split(' ').at(-1))),
      ),
    );
    return lags.every((l) => l.length > 0 && l.every((s) => s >= 0 && s < 2)) ? true : undefined;
  });

  // A user whose document A serves.
  const others = (await db.query<{ id: string }>('SELECT user_id::text AS id FROM users ORDER BY user_id LIMIT 200'))
    .rows;
  const ids = [...new Set([...ownIds, ...others.map((r) => r.id)])];
  let userId: string | undefined;
  for (const id of ids) {
    const answer = await fetch(`${b.url}/users/${id}`);
    if (answer.status === 200 && answer.headers.get('x-uis-served-by') === a.endpoint) {
      userId = id;
      break;
    }
  }
  t.ok(userId, 'a user owned by A');
  const expected = (await expectedUsers(db, [userId!])).get(userId!);

  a.child.kill('SIGKILL');
  const killedAt = Date.now();
  const stale: Array<{ status: number; standby: boolean; body: unknown }> = [];
  const plain: number[] = [];
  while (Date.now() - killedAt < 20_000) {
    const [s, p] = await Promise.all([
      fetch(`${b.url}/users/${userId}`, { headers: { 'cache-control': 'max-stale=60' } }),
      fetch(`${b.url}/users/${userId}`),
    ]);
    stale.push({ status: s.status, standby: s.headers.get('x-uis-standby') === 'true', body: await s.json() });
    plain.push(p.status);
    await p.arrayBuffer();
    if (plain.at(-1) === 200 && plain.length > 20) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.same(
    stale.filter((s) => s.status !== 200),
    [],
    `every answer accepting staleness was a 200 (${stale.length} asked)`,
  );
  t.ok(
    stale.some((s) => s.standby),
    'some came from the standby',
  );
  t.ok(
    stale.every((s) => JSON.stringify(s.body) === JSON.stringify(expected)),
    'and every one was the right document',
  );
  t.ok(plain.includes(503), 'plain requests got 503 while the owner was dead');
  t.equal(
    plain.at(-1),
    200,
    `then B took the task over (${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill)`,
  );

  await waitReady([b]);
  t.same(await compareWithOracle([b.url], ids), [], `B serves every one of ${ids.length} users right`);
});
