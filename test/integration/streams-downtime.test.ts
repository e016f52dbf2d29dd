// Both instances of an application stopped while the source keeps changing, then started again a
// moment apart: the first takes every task and starts catching up, the second joins and takes some of
// them over while they are still restoring or processing. Issue 10 saw renames lost this way (29 users
// kept an old name: a restore given up by the first instance counted as complete). Afterwards every
// user must equal SQL on both instances and in the output topic.
import t from 'tap';
import pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stack, uniqueName, eventually } from '../support/stack.js';
import { startInstance, stopInstance, waitReady, type SpawnedInstance } from '../support/service.js';
import { WorkloadRuns } from '../support/workload.js';
import { compareTopicWithOracle, compareWithOracle, describeMismatch, type Mismatch } from '../support/view-check.js';

const seed = Number(process.env.WORKLOAD_SEED ?? '20261201');

t.test('restarting both instances after downtime loses no change', async (t) => {
  const db = new pg.Client(stack.postgres);
  await db.connect();
  const runs = new WorkloadRuns(db, seed);
  t.teardown(async () => {
    await runs.removeAll();
    await db.end();
  });
  const created = runs.created;
  const workload = (operations: number, ratePerSecond?: number) => runs.run(operations, ratePerSecond);
  const app = uniqueName('downtime');
  const outputTopic = `${app}-user-information`;
  const root = mkdtempSync(join(tmpdir(), 'uis-downtime-'));
  t.teardown(() => t.passing() && rmSync(root, { recursive: true, force: true })); // logs kept on failure
  const running = new Map<string, SpawnedInstance>();
  t.teardown(() => {
    for (const instance of running.values()) instance.child.kill('SIGKILL');
  });
  const start = async (name: string) => {
    const instance = await startInstance(app, join(root, name), join(root, `${name}.log`), {
      'output-topic': outputTopic,
    });
    running.set(name, instance);
    return instance;
  };
  t.comment(`seed ${seed}, logs in ${root}`);

  // Before: both run and keep up with a light workload.
  await Promise.all([start('a'), start('b')]);
  await waitReady([...running.values()], 180_000);
  await workload(600, 100);

  // Downtime: both leave cleanly, and the source changes a lot meanwhile.
  const exits = await Promise.all([...running.values()].map((i) => stopInstance(i.child)));
  running.clear();
  t.same(exits, [0, 0], 'both instances stopped cleanly');
  await workload(5000);

  // Restart: the first takes everything, the second joins 2 s later while writes go on.
  const during = workload(1200, 100);
  await start('a');
  await sleep(2000);
  await start('b');
  await during;
  await waitReady([...running.values()], 300_000);

  const inDatabase = await db.query<{ id: string }>('SELECT user_id::text AS id FROM users');
  const userIds = [...new Set([...inDatabase.rows.map((r) => r.id), ...created])];
  const urls = [...running.values()].map((i) => i.url);
  let mismatches: Mismatch[] = [];
  await eventually('both instances to equal SQL', 120_000, async () => {
    mismatches = await compareWithOracle(urls, userIds);
    return mismatches.length === 0 ? true : undefined;
  }).catch(() => undefined);
  t.equal(
    mismatches.length,
    0,
    `every one of ${userIds.length} users equals SQL on both instances` +
      (mismatches[0] ? `; first mismatch: ${describeMismatch(mismatches[0])}` : ''),
  );
  const inTopic = await compareTopicWithOracle(outputTopic, userIds);
  t.equal(
    inTopic.length,
    0,
    'the output topic equals SQL' + (inTopic[0] ? `; first mismatch: ${describeMismatch(inTopic[0])}` : ''),
  );
});
