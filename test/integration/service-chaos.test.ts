// The oracle after kill -9 of instances during the workload, and after an
// instance joins and leaves mid-workload: zero mismatches.
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { runWorkload } from '../support/workload.js';
import { compareWithOracle, type Mismatch } from '../support/view-check.js';
import { stack, uniqueName, eventually } from '../support/stack.js';
import { spawnInstance } from '../support/service.js';

t.test('kill -9, join and leave during the workload: the view still equals the oracle', async (t) => {
  const app = uniqueName('chaos');
  const stateRoot = mkdtempSync(join(tmpdir(), 'uis-chaos-'));
  t.teardown(() => rmSync(stateRoot, { recursive: true, force: true }));
  const processes = new Map<number, ChildProcess>();
  t.teardown(() => {
    for (const child of processes.values()) child.kill('SIGKILL');
  });
  const start = (port: number) => {
    const child = spawnInstance(app, port, join(stateRoot, String(port)));
    processes.set(port, child);
    return child;
  };
  const ready = (ports: number[]) =>
    eventually(`instances ${ports.join(', ')} ready`, 120_000, async () => {
      const statuses = await Promise.all(
        ports.map((p) =>
          fetch(`http://127.0.0.1:${p}/health/ready`)
            .then((r) => r.status)
            .catch(() => 0),
        ),
      );
      return statuses.every((s) => s === 200) ? true : undefined;
    });
  const stopGracefully = (port: number) =>
    new Promise<void>((resolve) => {
      const child = processes.get(port)!;
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      processes.delete(port);
    });

  start(3401);
  start(3402);
  await ready([3401, 3402]);

  const db = new pg.Client(stack.postgres);
  await db.connect();
  t.teardown(() => db.end());
  const events: string[] = [];
  const chaos = (async () => {
    const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    await wait(2000);
    processes.get(3401)!.kill('SIGKILL');
    events.push('kill -9 3401');
    await wait(500);
    start(3401);
    await wait(2500);
    start(3403);
    events.push('3403 joins');
    await wait(3000);
    processes.get(3402)!.kill('SIGKILL');
    events.push('kill -9 3402');
    await wait(500);
    start(3402);
    await wait(3000);
    await stopGracefully(3403);
    events.push('3403 leaves');
  })();
  const result = await runWorkload(db, {
    seed: 11,
    operations: 600,
    idBase: 6_000_000_000_000_000_000n + BigInt(Date.now() % 1_000_000) * 1_000_000_000n,
    pauseMs: 20,
  });
  await chaos;
  t.same(
    events,
    ['kill -9 3401', '3403 joins', 'kill -9 3402', '3403 leaves'],
    'the chaos happened during the workload',
  );

  await ready([3401, 3402]);
  let mismatches: Mismatch[] = [];
  await eventually('the view to equal the oracle', 120_000, async () => {
    mismatches = await compareWithOracle(['http://127.0.0.1:3401', 'http://127.0.0.1:3402'], result.userIds);
    return mismatches.length === 0 ? true : undefined;
  }).catch(() => undefined);
  t.same(mismatches.slice(0, 3), [], `zero mismatches over ${result.userIds.length} users x 2 instances`);
});
