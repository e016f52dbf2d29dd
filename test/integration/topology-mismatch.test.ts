// An instance whose topology differs from the one its group runs (here: another output topic) refuses to
// start with a message that says so and what to do, before it creates any topic; the running instance
// keeps all its tasks.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName } from '../support/stack.js';
import { kafka } from '../support/kafka.js';
import {
  metricSum,
  spawnInstance,
  startInstance,
  stopInstance,
  waitReady,
  type SpawnedInstance,
} from '../support/service.js';

t.test('an instance running another topology is refused and creates nothing', async (t) => {
  const app = uniqueName('mismatch');
  const root = mkdtempSync(join(tmpdir(), 'uis-mismatch-'));
  t.teardown(() => t.passing() && rmSync(root, { recursive: true, force: true })); // logs kept on failure
  const running: SpawnedInstance[] = [];
  t.teardown(() => running.forEach((i) => i.child.kill('SIGKILL')));

  const a = await startInstance(app, join(root, 'a'), join(root, 'a.log'), { 'output-topic': `${app}-out` });
  running.push(a);
  await waitReady([a], 180_000);
  const tasks = await metricSum(a.url, 'streams_tasks');
  const rebalances = await metricSum(a.url, 'streams_rebalances_total');

  const logFile = join(root, 'b.log');
  const fd = openSync(logFile, 'a');
  const b = spawnInstance(app, 0, join(root, 'b'), {
    logFd: fd,
    logLevel: 'info',
    flags: { 'output-topic': `${app}-other-out` },
  });
  closeSync(fd);
  const code = await new Promise<number | null>((resolve) => b.once('exit', resolve));
  const log = readFileSync(logFile, 'utf8');
  t.equal(code, 1, 'the other instance exits with an error');
  t.match(log, /runs another topology \(fingerprint [0-9a-f]{16}; this instance's is [0-9a-f]{16}\)/, 'it says why');
  t.match(log, /uis reset/, 'and what to do');

  const admin = kafka.admin();
  await admin.connect();
  const topics = await admin.listTopics();
  await admin.disconnect();
  t.notOk(topics.includes(`${app}-other-out`), 'it created no topic');
  t.equal(await metricSum(a.url, 'streams_tasks'), tasks, 'the running instance kept its tasks');
  t.equal(await metricSum(a.url, 'streams_rebalances_total'), rebalances, 'and saw no rebalance');
  t.equal(await stopInstance(a.child), 0);
  running.length = 0;
});
