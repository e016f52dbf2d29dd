// Restore: a clean restart restores from the checkpoint (nothing replayed); a
// task moving to a new instance restores from its changelog and serves the
// same state. Dead letters: a poison record is set aside with its headers and
// the records after it are processed.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { KafkaStreams } from '../../src/runtime/kafka-streams.js';
import { rebuildLocalState } from '../../src/runtime/rebuild.js';
import { createLogger, type LogLevel } from '../../src/util/logger.js';
import { Serdes } from '../../src/serdes/index.js';
import { stack, uniqueName, eventually } from '../support/stack.js';
import { connectedProducer, createTopics, kafka } from '../support/kafka.js';
import {
  countJoinTopology,
  expectedSummaries,
  itemSerdes,
  labelSerdes,
  summarySerdes,
  topicsFor,
  type GroupSummary,
  type Item,
} from '../support/count-join-topology.js';

const GROUPS = 10;
/**
 * Every restore here is bulk loaded (a large memtable, a task at a time: runtime/restore-waves.ts), as
 * a restore from scratch at scale is; the other tests' small restores take the usual path.
 */
const bulkRestore = { bulkRestoreMinRecords: 1, bulkRestoreWriteBufferBytes: 8 * 1024 * 1024, bulkRestoreTasks: 2 };

t.test('restore from checkpoint, task migration, and dead letters', async (t) => {
  const prefix = uniqueName('restore');
  const topics = topicsFor(prefix);
  await createTopics([topics.items, topics.labels], 4);
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-restore-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));

  const running: KafkaStreams[] = [];
  t.teardown(() => Promise.all(running.map((s) => s.stop())));
  const startInstance = async (name: string, endpoint: string) => {
    const registry = new Registry();
    const streams = new KafkaStreams(
      countJoinTopology(prefix),
      {
        applicationId: prefix,
        brokers: stack.kafkaBrokers,
        stateDir: join(stateDir, name),
        endpoint,
        commitIntervalMs: 50,
        kafkaClient: stack.kafkaClient,
        ...bulkRestore,
      },
      { logger: createLogger((process.env.TEST_LOG_LEVEL ?? 'error') as LogLevel, { name }), registry },
    );
    await streams.start();
    running.push(streams);
    const restored = async () =>
      (await registry.getSingleMetric('streams_restore_records_total')!.get()).values[0]?.value ?? 0;
    return { streams, restored };
  };
  /** The summary a set of instances serves for a group (from whichever runs its task). */
  const serve = (instances: KafkaStreams[], group: string): GroupSummary | null | undefined => {
    const key = Serdes.string.serialize(group);
    for (const s of instances) {
      const meta = s.keyMetadata('summaries', key);
      if (meta.status === 'running') {
        const bytes = s.getLocal('summaries', key);
        return bytes ? summarySerdes.valueSerde.deserialize(bytes) : null;
      }
    }
    return undefined;
  };
  const matches = (instances: KafkaStreams[], expected: Map<string, GroupSummary>) => async () => {
    for (let g = 0; g < GROUPS; g++) {
      if (JSON.stringify(serve(instances, `g${g}`)) !== JSON.stringify(expected.get(`g${g}`) ?? null)) return undefined;
    }
    return true;
  };

  const producer = await connectedProducer();
  t.teardown(() => producer.disconnect());
  const items = new Map<string, Item>();
  const labels = new Map<string, string>();
  for (let g = 0; g < GROUPS; g++) labels.set(`g${g}`, `label ${g}`);
  await producer.send({
    topic: topics.labels,
    messages: [...labels].map(([key, label]) => ({ key, value: labelSerdes.valueSerde.serialize(label) })),
  });
  const messages = [];
  for (let i = 0; i < 400; i++) {
    const item = { group: `g${i % GROUPS}`, n: i };
    items.set(`item-${i}`, item);
    messages.push({ key: `item-${i}`, value: itemSerdes.valueSerde.serialize(item) });
  }
  // A poison record in the middle: not JSON. It must be set aside, and the records after it processed.
  messages.splice(200, 0, { key: 'poison', value: Buffer.from('{"group": not json') });
  await producer.send({ topic: topics.items, messages });
  const expected = expectedSummaries(items, labels);

  const a = await startInstance('a', '127.0.0.1:4301');
  await eventually('instance a to reach the expected result', 60_000, matches([a.streams], expected));
  t.pass('a single instance reaches the expected result');
  t.equal(await a.restored(), 0, 'a first start has nothing to restore');

  const admin = kafka.admin();
  await admin.connect();
  const changelogEnd = (await admin.fetchTopicOffsets(`${prefix}-items-changelog`)).reduce(
    (sum, p) => sum + Number(p.high),
    0,
  );
  await admin.disconnect();
  t.ok(changelogEnd >= 400, `the items changelog holds ${changelogEnd} offsets`);

  // A clean stop and restart: the local stores are current, so nothing is replayed.
  await a.streams.stop();
  running.splice(running.indexOf(a.streams), 1);
  const a2 = await startInstance('a', '127.0.0.1:4301');
  await eventually('instance a to be ready again', 60_000, async () => (a2.streams.ready ? true : undefined));
  await eventually('a restarted a to serve the same result', 30_000, matches([a2.streams], expected));
  t.equal(await a2.restored(), 0, 'a restart with a clean local store replays no changelog record');

  // A second instance with an empty state dir takes over half of the tasks by restoring them.
  const b = await startInstance('b', '127.0.0.1:4302');
  await eventually('both instances to be ready', 60_000, async () =>
    a2.streams.ready && b.streams.ready ? true : undefined,
  );
  await eventually('the two instances to serve the same result', 60_000, matches([a2.streams, b.streams], expected));
  t.ok((await b.restored()) > 0, `the moved tasks were restored from their changelogs (${await b.restored()} records)`);
  const servedByB = [...Array(GROUPS).keys()].filter(
    (g) => b.streams.keyMetadata('summaries', Serdes.string.serialize(`g${g}`)).local,
  );
  t.ok(servedByB.length > 0 && servedByB.length < GROUPS, `b serves ${servedByB.length} of ${GROUPS} groups`);
  for (const g of servedByB) t.same(serve([b.streams], `g${g}`), expected.get(`g${g}`), `b serves g${g} as a did`);

  // The poison record is in the dead-letter topic with headers naming its origin.
  const letters: Array<{ key: string; headers: Record<string, string> }> = [];
  const consumer = kafka.consumer({ groupId: uniqueName('dlq-reader') });
  await consumer.connect();
  await consumer.subscribe({ topic: `${prefix}-dead-letters`, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
      letters.push({ key: message.key?.toString() ?? '', headers });
    },
  });
  await eventually('the dead letter', 30_000, async () => (letters.length > 0 ? true : undefined));
  await consumer.disconnect();
  t.equal(letters.length, 1, 'exactly one dead letter');
  t.match(letters[0], {
    key: 'poison',
    headers: { 'dlq.reason': 'DeserializationError', 'dlq.source.topic': topics.items, 'dlq.error': /position 10/ },
  });
  t.match(letters[0]!.headers['dlq.source.partition'], /^[0-3]$/);
  t.match(letters[0]!.headers['dlq.source.offset'], /^\d+$/);

  // `uis rebuild-state` fills an empty state directory from the changelogs, outside the group: an
  // instance started on it alone has nothing left to restore and serves the same result.
  for (const s of [a2.streams, b.streams]) await s.stop();
  running.length = 0;
  const rebuilt = await rebuildLocalState(
    countJoinTopology(prefix),
    {
      applicationId: prefix,
      brokers: stack.kafkaBrokers,
      stateDir: join(stateDir, 'c'),
      endpoint: '127.0.0.1:4303',
      ...bulkRestore,
    },
    createLogger('error'),
  );
  t.ok(rebuilt >= 400, `rebuild read ${rebuilt} changelog records`);
  const c = await startInstance('c', '127.0.0.1:4303');
  await eventually('the instance on the rebuilt state to be ready', 60_000, async () =>
    c.streams.ready ? true : undefined,
  );
  await eventually('it to serve the same result', 30_000, matches([c.streams], expected));
  t.equal(await c.restored(), 0, 'nothing left to restore on a rebuilt state directory');
});
