// Static membership (group.instance.id, KIP-345; --kafka-client platformatic): an instance restarted
// within the session timeout gets its tasks back without a rebalance, the other instance processing on
// undisturbed; one that does not come back has its tasks moved once the session times out. Writes flow
// throughout, and afterwards every user equals SQL on the instances and in the output topic.
import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stack, uniqueName, eventually } from '../support/stack.js';
import { metricSum, startInstance, stopInstance, waitReady, type SpawnedInstance } from '../support/service.js';
import { WorkloadRuns } from '../support/workload.js';
import { compareTopicWithOracle, compareWithOracle, describeMismatch, type Mismatch } from '../support/view-check.js';

/** A port nothing listens on now (the OS's choice). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const seed = Number(process.env.WORKLOAD_SEED ?? '20261201');
// Long enough for a restart on a busy machine (a new process, with tsx compiling the sources; 3 to 6 s
// in CI runs), and short enough not to spend CI's time waiting (Kafka Streams' default is 45 s).
const sessionTimeoutMs = 25_000;
// The engine heartbeats every tenth of the session timeout, and the broker times a session from the last
// heartbeat it got, which can be up to one interval before the stop began.
const heartbeatIntervalMs = sessionTimeoutMs / 10;

t.test('a static member restarted within the session timeout keeps its tasks without a rebalance', async (t) => {
  const db = new pg.Client(stack.postgres);
  await db.connect();
  const runs = new WorkloadRuns(db, seed);
  t.teardown(async () => {
    await runs.removeAll();
    await db.end();
  });
  const created = runs.created;
  const workload = (operations: number, ratePerSecond?: number) => runs.run(operations, ratePerSecond);
  const app = uniqueName('static');
  const outputTopic = `${app}-user-information`;
  const root = mkdtempSync(join(tmpdir(), 'uis-static-'));
  t.teardown(() => t.passing() && rmSync(root, { recursive: true, force: true })); // logs kept on failure
  const running = new Map<string, SpawnedInstance>();
  t.teardown(() => {
    for (const instance of running.values()) instance.child.kill('SIGKILL');
  });
  // A static member keeps its endpoint across restarts (as a pod of a StatefulSet does).
  const ports = new Map([
    ['a', await freePort()],
    ['b', await freePort()],
  ]);
  const start = async (name: string) => {
    const instance = await startInstance(app, join(root, name), join(root, `${name}.log`), {
      port: String(ports.get(name)),
      'output-topic': outputTopic,
      'kafka-client': 'platformatic',
      'group-instance-id': `${app}-${name}`,
      'session-timeout-ms': String(sessionTimeoutMs),
    });
    running.set(name, instance);
    return instance;
  };
  const expectView = async (what: string) => {
    const inDatabase = await db.query<{ id: string }>('SELECT user_id::text AS id FROM users');
    const userIds = [...new Set([...inDatabase.rows.map((r) => r.id), ...created])];
    const urls = [...running.values()].map((i) => i.url);
    let mismatches: Mismatch[] = [];
    await eventually(`${what}: the view to equal SQL`, 120_000, async () => {
      mismatches = await compareWithOracle(urls, userIds);
      return mismatches.length === 0 ? true : undefined;
    }).catch(() => undefined);
    t.equal(
      mismatches.length,
      0,
      `${what}: every one of ${userIds.length} users equals SQL` +
        (mismatches[0] ? `; first mismatch: ${describeMismatch(mismatches[0])}` : ''),
    );
  };
  t.comment(`seed ${seed}, logs in ${root}`);

  const a = await start('a');
  await start('b');
  await waitReady([...running.values()], 180_000);
  await workload(300, 100);
  const tasksOfB = await metricSum(running.get('b')!.url, 'streams_tasks');
  const tasksOfA = await metricSum(a.url, 'streams_tasks');
  const rebalancesOfA = await metricSum(a.url, 'streams_rebalances_total');
  t.ok(tasksOfA > 0 && tasksOfB > 0, `both instances own tasks (a ${tasksOfA}, b ${tasksOfB})`);

  // b restarts (a clean stop, then a new process with the same id and state) while writes flow.
  const during = workload(1000, 100);
  t.equal(await stopInstance(running.get('b')!.child), 0, 'b stopped cleanly');
  running.delete('b');
  const restarting = Date.now();
  const b = await start('b');
  t.comment(`b was back ${((Date.now() - restarting) / 1000).toFixed(1)} s after it stopped`);
  await waitReady([...running.values()], 120_000);
  await during;
  t.equal(await metricSum(a.url, 'streams_rebalances_total'), rebalancesOfA, 'a took part in no rebalance');
  t.equal(await metricSum(a.url, 'streams_tasks'), tasksOfA, 'a kept its tasks');
  t.equal(await metricSum(b.url, 'streams_tasks'), tasksOfB, 'b got its tasks back');
  await expectView('after the restart');

  // b stops and does not come back: nothing moves at once (it did not leave), everything once its session ends.
  const stopped = Date.now();
  t.equal(await stopInstance(b.child), 0, 'b stopped cleanly');
  running.delete('b');
  const quietWrites = workload(600, 100);
  await sleep(3000);
  t.equal(await metricSum(a.url, 'streams_rebalances_total'), rebalancesOfA, 'no rebalance right after b stopped');
  await eventually('a to own every task', sessionTimeoutMs + 60_000, async () =>
    (await metricSum(a.url, 'streams_tasks')) === tasksOfA + tasksOfB ? true : undefined,
  );
  t.ok(
    Date.now() - stopped >= sessionTimeoutMs - heartbeatIntervalMs - 1000,
    `b's tasks moved once its session timed out (after ${Math.round((Date.now() - stopped) / 1000)} s)`,
  );
  await quietWrites;
  await waitReady([a], 120_000);
  await expectView('after b left for good');
  const inTopic = await compareTopicWithOracle(outputTopic, [
    ...new Set([
      ...(await db.query<{ id: string }>('SELECT user_id::text AS id FROM users')).rows.map((r) => r.id),
      ...created,
    ]),
  ]);
  t.equal(
    inTopic.length,
    0,
    'the output topic equals SQL' + (inTopic[0] ? `; first mismatch: ${describeMismatch(inTopic[0])}` : ''),
  );
});
