// read_committed through kafkajs, on the real broker: records of aborted transactions are never
// delivered, also when aborted transactions interleave. kafkajs 2.2.4 delivered them then (the
// broker lists aborted transactions in the order they ended, kafkajs assumed the order they began);
// every restore, standby and repartition read of the engine depends on it. patches/kafkajs+2.2.4.patch.
import t, { type Test } from 'tap';
import type { KafkaMessage } from 'kafkajs';
import { readRangesBulk } from '../../src/kafka/bulk-reader.js';
import { KafkajsAdmin } from '../../src/kafka/kafkajs/admin.js';
import { createTopics, kafka, readTable, readTopic } from '../support/kafka.js';
import { eventually, uniqueName } from '../support/stack.js';

/** A connected transactional producer, disconnected when the test ends. */
async function transactionalProducer(t: Test, transactionalId: string) {
  const p = kafka.producer({ transactionalId, maxInFlightRequests: 1 });
  await p.connect();
  t.teardown(() => p.disconnect());
  return p;
}

t.test('interleaved aborted transactions are filtered out', async (t) => {
  const topic = uniqueName('aborted');
  await createTopics([topic], 1);
  const producer = (name: string) => transactionalProducer(t, `${topic}-${name}`);
  const [a, b, c] = [await producer('a'), await producer('b'), await producer('c')];
  // a begins first and ends last: its abort marker comes after b's.
  const ta = await a.transaction();
  await ta.send({ topic, messages: [{ key: 'a1', value: 'x' }] });
  const tb = await b.transaction();
  await tb.send({ topic, messages: [{ key: 'b1', value: 'x' }] });
  await ta.send({ topic, messages: [{ key: 'a2', value: 'x' }] });
  await tb.abort();
  await ta.abort();
  const tc = await c.transaction();
  await tc.send({ topic, messages: [{ key: 'committed', value: 'x' }] });
  await tc.commit();
  t.same([...(await readTable(topic)).keys()], ['committed'], 'only the committed record is read');
});

// The restore path's own reader (src/kafka/bulk-reader.ts) on the same kind of log: committed,
// aborted and interleaved transactions, plain records, and ranges that start and end inside batches.
t.test('the bulk reader reads exactly the committed records of a range', async (t) => {
  const topic = uniqueName('bulk');
  await createTopics([topic], 2);
  const producer = (name: string) => transactionalProducer(t, `${topic}-${name}`);
  const [a, b] = [await producer('a'), await producer('b')];
  const expected: string[] = [];
  let written = 0; // offsets: the records and one marker per transaction
  for (let round = 0; round < 20; round++) {
    const ta = await a.transaction();
    const tb = await b.transaction();
    const keys = Array.from({ length: 1 + (round % 4) }, (_, i) => `r${round}-${i}`);
    written += keys.length + 1 + 2;
    await ta.send({ topic, messages: keys.map((key) => ({ key, value: `v-${key}`, partition: 0 })) });
    await tb.send({ topic, messages: [{ key: `aborted-${round}`, value: 'x', partition: 0 }] });
    if (round % 3 === 0) await tb.abort();
    if (round % 5 === 0) {
      await ta.abort();
    } else {
      await ta.commit();
      expected.push(...keys);
    }
    if (round % 3 !== 0) {
      await tb.commit();
      expected.push(`aborted-${round}`);
    }
  }
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  // A commit returns before its markers are written, and the end offset kafkajs reads is the last
  // stable one (read_committed): until the last markers are in, it stops before the last transaction.
  const end = await eventually('every transaction marker to be written', 30_000, async () => {
    const offset = BigInt((await admin.fetchTopicOffsets(topic)).find((p) => p.partition === 0)!.offset);
    return offset === BigInt(written) ? offset : undefined;
  });

  const read = async (from: bigint, to: bigint) => {
    const keys: string[] = [];
    let position = from;
    await readRangesBulk(
      new KafkajsAdmin(admin),
      [{ topic, partition: 0, from, to }],
      async (_range, records) => {
        keys.push(...records.keys.map((k) => k.toString()));
        for (const [i, key] of records.keys.entries()) {
          const k = key.toString();
          if (records.values[i]?.toString() !== (k.startsWith('aborted-') ? 'x' : `v-${k}`)) t.fail(`value of ${k}`);
        }
        position = records.nextOffset;
      },
      () => false,
      { clientId: 'uis-test', partitionMaxBytes: 512 },
    );
    return { keys, position };
  };
  const whole = await read(0n, end);
  t.same([...whole.keys].sort(), [...expected].sort(), 'every committed record once, no aborted one');

  // With prepare (as a restore reads): what it made of each run of records reaches onRecords in
  // fetch order, with the run's next offset.
  const prepared: string[] = [];
  let preparedPosition = 0n;
  await readRangesBulk<string[]>(
    new KafkajsAdmin(admin),
    [{ topic, partition: 0, from: 0n, to: end }],
    async (_range, records, keys) => {
      prepared.push(...keys!);
      preparedPosition = records.nextOffset;
    },
    () => false,
    {
      clientId: 'uis-test',
      partitionMaxBytes: 512,
      prepare: (_range, records) => records.keys.map((k) => k.toString()),
    },
  );
  t.same(prepared, whole.keys, 'prepared runs are handed over in order, every record once');
  t.equal(preparedPosition, end, 'and the last run ends at the end of the range');
  t.equal(whole.position, end, 'the read ends at the end of the range');

  const offsets: KafkaMessage[] = [];
  await readTopic(topic, (message) => void offsets.push(message));
  const middle = offsets.slice(5, 15);
  const part = await read(BigInt(middle[0]!.offset), BigInt(middle.at(-1)!.offset) + 1n);
  t.same(
    part.keys,
    middle.map((m) => m.key!.toString()),
    'a range inside the log: exactly its committed records',
  );
});
