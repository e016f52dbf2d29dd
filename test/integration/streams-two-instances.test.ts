// Two instances of a count/sum/join topology over 4 partitions reach exactly
// the result computed from the input, and answer for their keys; the records of the
// repartition topics they committed are deleted (the repartition purge).
import t from 'tap';
import kafkajs from 'kafkajs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaStreams } from '../../src/runtime/kafka-streams.js';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { createLogger, type LogLevel } from '../../src/util/logger.js';
import { Serdes } from '../../src/serdes/index.js';
import { stack, uniqueName, eventually } from '../support/stack.js';
import { connectedProducer, createTopics, kafka, readTable } from '../support/kafka.js';
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

t.test('two instances converge on the exact result and serve every key between them', async (t) => {
  const prefix = uniqueName('cj');
  const topics = topicsFor(prefix);
  await createTopics([topics.items, topics.labels], 4);
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-streams-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));

  const instances = ['127.0.0.1:4101', '127.0.0.1:4102'].map(
    (endpoint, i) =>
      new KafkaStreams(
        countJoinTopology(prefix),
        {
          applicationId: prefix,
          brokers: stack.kafkaBrokers,
          stateDir: join(stateDir, `instance-${i}`),
          endpoint,
          commitIntervalMs: 50,
          repartitionPurgeIntervalMs: 200,
          kafkaClient: stack.kafkaClient,
        },
        {
          logger: createLogger((process.env.TEST_LOG_LEVEL ?? 'error') as LogLevel),
          sinkTopicConfigs: { [topics.summaries]: { 'cleanup.policy': 'compact' } },
        },
      ),
  );
  t.teardown(() => Promise.all(instances.map((s) => s.stop())));
  for (const instance of instances) await instance.start();

  // A deterministic workload: upserts that move items between groups, deletes, label changes.
  const producer = await connectedProducer();
  t.teardown(() => producer.disconnect());
  const items = new Map<string, Item>();
  const labels = new Map<string, string>();
  let seed = 42;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let g = 0; g < 12; g++) labels.set(`g${g}`, `label ${g}`);
  await producer.send({
    topic: topics.labels,
    messages: [...labels].map(([key, label]) => ({ key, value: labelSerdes.valueSerde.serialize(label) })),
  });
  for (let round = 0; round < 20; round++) {
    const messages = [];
    for (let i = 0; i < 50; i++) {
      const id = `item-${random(150)}`;
      if (random(10) === 0) {
        items.delete(id);
        messages.push({ key: id, value: null });
      } else {
        const item = { group: `g${random(14)}`, n: random(100) };
        items.set(id, item);
        messages.push({ key: id, value: itemSerdes.valueSerde.serialize(item) });
      }
    }
    await producer.send({ topic: topics.items, messages });
  }
  labels.delete('g3');
  await producer.send({ topic: topics.labels, messages: [{ key: 'g3', value: null }] });
  labels.set('g13', 'late label');
  await producer.send({
    topic: topics.labels,
    messages: [{ key: 'g13', value: labelSerdes.valueSerde.serialize('late label') }],
  });

  const expected = expectedSummaries(items, labels);
  const local = (group: string): GroupSummary | null => {
    const key = Serdes.string.serialize(group);
    for (const instance of instances) {
      const meta = instance.keyMetadata('summaries', key);
      if (meta.local && meta.status === 'running') {
        const bytes = instance.getLocal('summaries', key);
        return bytes ? summarySerdes.valueSerde.deserialize(bytes) : null;
      }
    }
    throw new Error(`no running instance owns ${group}`);
  };
  await eventually('every group to match', 60_000, async () => {
    try {
      for (let g = 0; g < 14; g++) {
        if (JSON.stringify(local(`g${g}`)) !== JSON.stringify(expected.get(`g${g}`) ?? null)) return undefined;
      }
      return true;
    } catch {
      return undefined; // still rebalancing or restoring
    }
  });
  for (let g = 0; g < 14; g++) t.same(local(`g${g}`), expected.get(`g${g}`) ?? null, `g${g} in the store`);

  const owners = new Set<string>();
  for (let g = 0; g < 14; g++) {
    const meta = instances[0]!.keyMetadata('summaries', Serdes.string.serialize(`g${g}`));
    t.ok(meta.owner, `the owner of g${g} is known to every instance`);
    owners.add(meta.owner!);
  }
  t.same([...owners].sort(), ['127.0.0.1:4101', '127.0.0.1:4102'], 'both instances own part of the keys');

  const topic = await readTable(topics.summaries);
  t.same(
    Object.fromEntries([...topic].map(([k, v]) => [k, summarySerdes.valueSerde.deserialize(v)])),
    Object.fromEntries(expected),
    'the output topic read from the start equals the expected table',
  );

  // Everything is processed and committed: the purge deletes every record of the repartition topics.
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const repartitionTopics = (await admin.listTopics()).filter(
    (name) => name.startsWith(`${prefix}-`) && name.endsWith('-repartition'),
  );
  t.ok(repartitionTopics.length > 0, 'the topology has repartition topics');
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: repartitionTopics[0]! }],
  });
  const configs = Object.fromEntries(resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
  t.match(
    configs,
    { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'segment.bytes': '52428800' },
    'made as Kafka Streams makes them',
  );
  const written = async () => {
    let records = 0n;
    for (const topic of repartitionTopics)
      for (const o of await admin.fetchTopicOffsets(topic)) records += BigInt(o.high);
    return records;
  };
  t.ok((await written()) > 0n, 'records went through the repartition topics');
  const kept = await eventually('the committed repartition records to be deleted', 30_000, async () => {
    const left: string[] = [];
    for (const topic of repartitionTopics)
      for (const o of await admin.fetchTopicOffsets(topic)) if (o.low !== o.high) left.push(`${topic}-${o.partition}`);
    return left.length === 0 ? left : undefined;
  });
  t.same(kept, [], 'no repartition partition keeps records before its committed offset');
});

t.test('joining topics with different partition counts stops the start with a clear message', async (t) => {
  const prefix = uniqueName('copart');
  await createTopics([`${prefix}-left`], 4);
  await createTopics([`${prefix}-right`], 2);
  const builder = new StreamsBuilder();
  const left = builder.table(`${prefix}-left`, labelSerdes);
  left
    .join(builder.table(`${prefix}-right`, labelSerdes), (a, b) => a + b)
    .toStream()
    .to(`${prefix}-out`, labelSerdes);
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-copart-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const streams = new KafkaStreams(
    builder.build(),
    {
      applicationId: prefix,
      brokers: stack.kafkaBrokers,
      stateDir,
      endpoint: '127.0.0.1:4199',
    },
    { logger: createLogger('error') },
  );
  t.teardown(() => streams.stop());
  await t.rejects(streams.start(), /not co-partitioned: .*-left has 4, .*-right has 2 partitions/);
});
