// The standbys' changelog reader against a fake kafkajs consumer (the logic under test is the reader's).
// Found at the full size: a standby followed again from further back than the consumer had fetched never
// moved again, because every batch then arrived fetched from beyond it and was dropped.
import t from 'tap';
import type { Kafka } from 'kafkajs';
import { ChangelogReader } from '../../src/kafka/changelog-reader.js';
import type { ReadRecord } from '../../src/kafka/changelog-reader.js';
import { createLogger } from '../../src/util/logger.js';
import { fakeConsumer } from '../support/fake-consumer.js';

interface BatchPayload {
  batch: unknown;
  isStale: () => boolean;
}

function fakeKafka() {
  const consumer = fakeConsumer<BatchPayload>();
  const seeks = consumer.seeks;
  const kafka = { consumer: () => consumer } as unknown as Kafka; // only what the reader calls
  /** Hands over a batch of offsets from..to (inclusive) fetched at `fetchedAt`, as kafkajs does. */
  const deliver = (fetchedAt: number, from: number, to: number) => {
    const messages = Array.from({ length: to - from + 1 }, (_, i) => ({
      offset: String(from + i),
      key: Buffer.from(`k${from + i}`),
      value: Buffer.from('v'),
    }));
    return consumer.eachBatch!({
      batch: { topic: 'log', partition: 0, messages, lastOffset: () => String(to), fetchedOffset: String(fetchedAt) },
      isStale: () => false,
    });
  };
  return { kafka, consumer, deliver, seeks };
}

function sink() {
  const applied: bigint[] = [];
  return {
    applied,
    sink: { apply: async (records: ReadRecord[]) => void applied.push(...records.map((r) => r.offset)) },
  };
}

t.test('a batch fetched from beyond the follower makes the reader fetch again from the follower', async (t) => {
  const { kafka, deliver, seeks } = fakeKafka();
  const reader = new ChangelogReader(kafka, 'standby', ['log'], createLogger('error'));
  await reader.start();
  const first = sink();
  reader.follow('log', 0, 0n, first.sink);
  await deliver(0, 0, 9);
  t.same(first.applied, [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
  // Unfollowed and followed again from offset 5 (a standby reopened from its checkpoint); the consumer's
  // position has meanwhile moved to 10.
  reader.unfollow('log', 0);
  const second = sink();
  reader.follow('log', 0, 5n, second.sink);
  seeks.length = 0;
  await deliver(10, 10, 14);
  t.same(second.applied, [], 'records after a gap are not applied');
  t.same(seeks, [{ topic: 'log', partition: 0, offset: '5' }], 'the reader fetches again from 5');
  await deliver(5, 5, 14);
  t.same(second.applied, [5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n, 13n, 14n]);
  t.equal(reader.position('log', 0), 15n);
});

// A standby at the end of a changelog nobody writes to was reported ever more stale (380 s at 1M users),
// so requests accepting a minute of staleness would have refused it.
t.test('a follower at the end of a quiet changelog is current after every fetch', async (t) => {
  const { kafka, consumer } = fakeKafka();
  const reader = new ChangelogReader(kafka, 'standby', ['log'], createLogger('error'));
  await reader.start();
  const advanced: Array<[bigint, bigint | undefined]> = [];
  reader.follow(
    'log',
    0,
    42n,
    { apply: async () => undefined, advanced: (position, end) => void advanced.push([position, end]) },
    42n,
  );
  consumer.emit('fetch', { numberOfBatches: 0 });
  consumer.emit('fetch', { numberOfBatches: 0 });
  t.same(advanced, [
    [42n, 42n],
    [42n, 42n],
  ]);
});
