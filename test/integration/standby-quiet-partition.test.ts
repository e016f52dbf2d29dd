// A standby copy proves the position of a quiet partition: records that change no row (tombstones of
// keys never written) move the task's committed input offsets, but its commits then write nothing to
// the changelog, so no changelog record carries those offsets (decision 0017). The copy learns them
// from the group's committed offsets, read before the changelog's end. Real broker, two instances.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { KafkaStreams } from '../../src/runtime/kafka-streams.js';
import { Serdes } from '../../src/serdes/index.js';
import { createLogger, type LogLevel } from '../../src/util/logger.js';
import { connectedProducer, createTopics, kafka } from '../support/kafka.js';
import { eventually, stack, uniqueName } from '../support/stack.js';

t.setTimeout(180_000);

t.test("a standby proves a quiet partition's committed position, not only its last row change", async (t) => {
  const app = uniqueName('quiet');
  const input = `${app}-in`;
  await createTopics([input], 1);
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-quiet-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));

  const builder = new StreamsBuilder();
  builder.table(input, { keySerde: Serdes.string, valueSerde: Serdes.string, storeName: 'rows' });
  const topology = builder.build();
  const instances = ['a', 'b'].map(
    (name) =>
      new KafkaStreams(
        topology,
        {
          applicationId: app,
          brokers: stack.kafkaBrokers,
          stateDir: join(stateDir, name),
          endpoint: `${name}.invalid:1`, // advertised only; nothing here listens
          commitIntervalMs: 50,
          numStandbyReplicas: 1,
          kafkaClient: stack.kafkaClient,
        },
        { logger: createLogger((process.env.TEST_LOG_LEVEL ?? 'error') as LogLevel) },
      ),
  );
  t.teardown(() => Promise.all(instances.map((s) => s.stop())));
  for (const instance of instances) await instance.start();

  const producer = await connectedProducer();
  t.teardown(() => producer.disconnect());
  await producer.send({ topic: input, messages: [{ key: 'k', value: 'v' }] });
  const proven = () =>
    instances.map((s) => s.standbyPosition('rows', 0)?.applied.get(input)).find((o) => o !== undefined);
  const first = await eventually('the standby copy to prove the row change', 60_000, async () => proven());
  t.equal(first, 1n, 'the commit that wrote the row: input offset 1');

  // Tombstones of keys never written: the task consumes and commits them, and changes no row.
  const QUIET = 5;
  await producer.send({
    topic: input,
    messages: Array.from({ length: QUIET }, (_, i) => ({ key: `absent-${i}`, value: null })),
  });
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const committed = await eventually('the task to commit past the tombstones', 60_000, async () => {
    const [offsets] = await admin.fetchOffsets({ groupId: app, topics: [input] });
    const committedAt = offsets?.partitions.find((p) => p.partition === 0)?.offset;
    const offset = committedAt !== undefined && Number(committedAt) >= 0 ? BigInt(committedAt) : undefined;
    return offset !== undefined && offset >= BigInt(1 + QUIET) ? offset : undefined;
  });
  t.equal(committed, BigInt(1 + QUIET), 'the group has every record committed');
  const quiet = await eventually("the standby copy to prove the group's committed offset", 30_000, async () => {
    const offset = proven();
    return offset !== undefined && offset >= committed ? offset : undefined;
  });
  t.equal(quiet, committed, 'proven up to the committed offset, though no changelog record carries it');
});
