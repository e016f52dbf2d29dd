// A restore read moves past records only once they are applied. It used to move on any fetched
// batch's end event, even for a batch it had skipped because the read was being given up; the
// read then counted as complete, the stores were marked restored to the changelog's end without
// those records, and users went missing from the view (the churn test found it). Fake kafkajs
// consumer, real reader.
import t from 'tap';
import type { Kafka } from 'kafkajs';
import { readPartitions, ReadAbandonedError, type ReadRecord } from '../../src/kafka/partition-reader.js';
import { fakeConsumer } from '../support/fake-consumer.js';

function fakeKafka() {
  const consumer = fakeConsumer<unknown>();
  const admin = {
    connect: async () => undefined,
    deleteGroups: async () => undefined,
    disconnect: async () => undefined,
  };
  const kafka = { consumer: () => consumer, admin: () => admin } as unknown as Kafka; // only what the reader calls
  /** Delivers one fetched batch of offsets `from`..`to` (inclusive) as kafkajs does: eachBatch, then the end event. */
  const deliver = async (from: number, to: number) => {
    const messages = Array.from({ length: to - from + 1 }, (_, i) => ({
      offset: String(from + i),
      key: Buffer.from(`k${from + i}`),
      value: Buffer.from('v'),
    }));
    await consumer.eachBatch!({ batch: { topic: 'log', partition: 0, messages, lastOffset: () => String(to) } });
    consumer.emit('end-batch', { topic: 'log', partition: 0, lastOffset: String(to), batchSize: messages.length });
  };
  return { kafka, consumer, deliver };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

t.test('a batch skipped because the read is given up does not complete the read', async (t) => {
  const { kafka, consumer, deliver } = fakeKafka();
  let abandoned = false;
  const applied: bigint[] = [];
  const reading = readPartitions(
    kafka,
    'restore',
    [{ topic: 'log', partition: 0, from: 0n, to: 10n }],
    async (_range, records: ReadRecord[]) => void applied.push(...records.map((r) => r.offset)),
    () => abandoned,
  );
  await tick();
  consumer.emit('join', { memberAssignment: { log: [0] } });
  await deliver(0, 4);
  abandoned = true; // the assignment changed
  await deliver(5, 9);
  await t.rejects(reading, ReadAbandonedError, 'the read fails, so nothing is marked restored');
  t.same(applied, [0n, 1n, 2n, 3n, 4n], 'only the records before it were applied');
});

t.test('a read completes when its records are applied, and moves past trailing transaction markers', async (t) => {
  const { kafka, consumer, deliver } = fakeKafka();
  const applied: bigint[] = [];
  const reading = readPartitions(
    kafka,
    'restore',
    [{ topic: 'log', partition: 0, from: 0n, to: 6n }],
    async (_range, records: ReadRecord[]) => void applied.push(...records.map((r) => r.offset)),
  );
  await tick();
  consumer.emit('join', { memberAssignment: { log: [0] } });
  await deliver(0, 4);
  // Offset 5 is a commit marker: kafkajs filters it out and emits only the end event.
  consumer.emit('end-batch', { topic: 'log', partition: 0, lastOffset: '5', batchSize: 0 });
  await reading;
  t.same(applied, [0n, 1n, 2n, 3n, 4n]);
});

// The soak found it: a read given up while its consumer was still joining rejected a promise nobody
// awaited yet, and Node ended the process (unhandled rejection) in the middle of a rebalance.
t.test('a read given up while its consumer is still connecting fails the read, not the process', async (t) => {
  const { kafka, consumer } = fakeKafka();
  let connected: () => void = () => undefined;
  consumer.connect = () => new Promise<undefined>((resolve) => (connected = () => resolve(undefined)));
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  process.prependListener('unhandledRejection', onUnhandled);
  t.teardown(() => void process.off('unhandledRejection', onUnhandled));
  let abandoned = false;
  const reading = readPartitions(
    kafka,
    'restore',
    [{ topic: 'log', partition: 0, from: 0n, to: 10n }],
    async () => undefined,
    () => abandoned,
  );
  abandoned = true;
  await new Promise((resolve) => setTimeout(resolve, 300)); // the watch runs every 100 ms
  connected();
  await t.rejects(reading, ReadAbandonedError);
  t.same(unhandled, [], 'no promise was left rejected without a handler');
});
