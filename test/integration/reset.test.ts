// `uis reset` (Kafka Streams' application reset): refused while an instance runs; --dry-run lists what
// it would delete and deletes nothing; then it deletes the internal topics, the consumer group and the
// local state, and the next start processes everything again from the beginning, to the same view.
import t from 'tap';
import pg from 'pg';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileTopology } from '../../src/processor/compile.js';
import { userInformationTopology } from '../../topology/user-information.js';
import { jsonSerde } from '../../src/serdes/json.js';
import { stack, uniqueName, eventually } from '../support/stack.js';
import { kafka } from '../support/kafka.js';
import { runCli, startInstance, stopInstance, waitReady, type SpawnedInstance } from '../support/service.js';
import { compareWithOracle, describeMismatch } from '../support/view-check.js';

t.test('uis reset deletes what a fresh start needs gone, and the fresh start gets the same view', async (t) => {
  const app = uniqueName('reset');
  const root = mkdtempSync(join(tmpdir(), 'uis-reset-'));
  const stateDir = join(root, 'state');
  t.teardown(() => t.passing() && rmSync(root, { recursive: true, force: true })); // logs kept on failure
  const running: SpawnedInstance[] = [];
  t.teardown(() => running.forEach((i) => i.child.kill('SIGKILL')));
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const db = new pg.Client(stack.postgres);
  await db.connect();
  t.teardown(() => db.end());

  const topology = compileTopology(
    userInformationTopology({ cdcTopicPrefix: 'cdc', outputTopic: `${app}-out`, outputValueSerde: jsonSerde() }),
    app,
  );
  const internal = [
    ...topology.repartitionTopics,
    ...topology.subtopologies.flatMap((s) => s.stores.map((store) => store.changelogTopic)),
  ].sort();
  const flags = { 'output-topic': `${app}-out` };
  const reset = (...more: string[]) =>
    runCli(['reset', '--application-id', app, '--state-dir', stateDir, '--output-topic', `${app}-out`, ...more]);
  const expectView = async (url: string, what: string) => {
    const ids = (await db.query<{ id: string }>('SELECT user_id::text AS id FROM users')).rows.map((r) => r.id);
    let first = '';
    await eventually(`${what}: the view to equal SQL`, 120_000, async () => {
      const mismatches = await compareWithOracle([url], ids);
      first = mismatches[0] ? describeMismatch(mismatches[0]) : '';
      return mismatches.length === 0 ? true : undefined;
    }).catch(() => undefined);
    t.equal(first, '', `${what}: every one of ${ids.length} users equals SQL`);
  };

  const first = await startInstance(app, stateDir, join(root, 'first.log'), flags);
  running.push(first);
  await waitReady([first], 180_000);
  await expectView(first.url, 'first run');

  const refused = await reset();
  t.equal(refused.code, 2, 'refused while an instance runs');
  t.match(refused.stderr, /stop every instance/, `and says why: ${refused.stderr.trim()}`);
  t.equal(await stopInstance(first.child), 0, 'the instance stopped cleanly');
  running.length = 0;

  const dry = await reset('--dry-run');
  t.equal(dry.code, 0, `dry run: ${dry.stderr.trim()}`);
  const listed = [...dry.stdout.matchAll(/^ {2}topic (\S+)$/gm)].map((m) => m[1]).sort();
  t.same(listed, internal, `it lists every internal topic (${internal.length}) and nothing else`);
  t.match(dry.stdout, new RegExp(`consumer group ${app} `), 'and the group');
  t.match(dry.stdout, /state directory /, 'and the state directory');
  const topicsAfterDryRun = new Set(await admin.listTopics());
  t.ok(
    internal.every((topic) => topicsAfterDryRun.has(topic)),
    'the dry run deleted no topic',
  );
  t.ok(existsSync(join(stateDir, app)), 'nor the state directory');

  const done = await reset();
  t.equal(done.code, 0, `reset: ${done.stderr.trim().slice(-500)}`);
  const topicsAfter = new Set(await admin.listTopics());
  t.same(
    internal.filter((topic) => topicsAfter.has(topic)),
    [],
    'no internal topic is left',
  );
  t.ok(topicsAfter.has(`${app}-out`) && topicsAfter.has(`${app}-dead-letters`), 'output and dead letters stay');
  const { groups } = await admin.describeGroups([app]);
  t.ok(!groups[0] || groups[0].state === 'Dead', `the group is gone (${groups[0]?.state ?? 'none'})`);
  const offsets = await admin.fetchOffsets({ groupId: app, topics: ['cdc.public.users'] });
  t.ok(
    offsets[0]!.partitions.every((p) => p.offset === '-1'),
    'no committed offset is left',
  );
  t.ok(!existsSync(join(stateDir, app)), 'the state directory is gone');
  const again = await reset();
  t.match(again.stdout, /nothing/, 'a second reset finds nothing to delete');

  const second = await startInstance(app, stateDir, join(root, 'second.log'), flags);
  running.push(second);
  await waitReady([second], 180_000);
  await expectView(second.url, 'after the reset, from the beginning');
  t.equal(await stopInstance(second.child), 0);
  running.length = 0;
});
