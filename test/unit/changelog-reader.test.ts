// The standbys' changelog reader against a fake group consumer (the logic under test is the reader's).
// Found at the full size: a standby followed again from further back than the consumer had fetched never
// moved again, because every batch then arrived fetched from beyond it and was dropped.
import t from 'tap';
import { ChangelogReader } from '../../src/kafka/changelog-reader.js';
import type { ReadRecord } from '../../src/kafka/changelog-reader.js';
import { createLogger } from '../../src/util/logger.js';
import { fakeClient } from '../support/fake-kafka-client.js';

/** Delivers offsets from..to (inclusive) of the changelog's partition 0, fetched at `fetchedAt`. */
function deliverer(fake: ReturnType<typeof fakeClient>) {
  return (fetchedAt: number, from: number, to: number) =>
    fake.deliver(
      'log',
      0,
      BigInt(fetchedAt),
      Array.from({ length: to - from + 1 }, (_, i) => ({ offset: BigInt(from + i), key: `k${from + i}` })),
    );
}

function sink() {
  const applied: bigint[] = [];
  return {
    applied,
    sink: { apply: async (records: ReadRecord[]) => void applied.push(...records.map((r) => r.offset)) },
  };
}

t.test('a batch fetched from beyond the follower makes the reader fetch again from the follower', async (t) => {
  const fake = fakeClient();
  const deliver = deliverer(fake);
  const reader = new ChangelogReader(fake.client, 'standby', ['log'], createLogger('error'));
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
  fake.seeks.length = 0;
  await deliver(10, 10, 14);
  t.same(second.applied, [], 'records after a gap are not applied');
  t.same(fake.seeks, [{ topic: 'log', partition: 0, offset: 5n }], 'the reader fetches again from 5');
  await deliver(5, 5, 14);
  t.same(second.applied, [5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n, 13n, 14n]);
  t.equal(reader.position('log', 0), 15n);
});

// A standby at the end of a changelog nobody writes to was reported ever more stale (380 s at 1M users),
// so requests accepting a minute of staleness would have refused it.
t.test('a follower at the end of a quiet changelog is current after every fetch', async (t) => {
  const fake = fakeClient();
  const reader = new ChangelogReader(fake.client, 'standby', ['log'], createLogger('error'));
  await reader.start();
  const advanced: Array<[bigint, bigint | undefined]> = [];
  reader.follow(
    'log',
    0,
    42n,
    { apply: async () => undefined, advanced: (position, end) => void advanced.push([position, end]) },
    42n,
  );
  fake.options().onFetch!();
  fake.options().onFetch!();
  t.same(advanced, [
    [42n, 42n],
    [42n, 42n],
  ]);
});

t.test('a batch of only transaction markers where the follower is moves it past them', async (t) => {
  const fake = fakeClient();
  const reader = new ChangelogReader(fake.client, 'standby', ['log'], createLogger('error'));
  await reader.start();
  reader.follow('log', 0, 7n, { apply: async () => undefined });
  fake.options().onBatchDone!({
    topic: 'log',
    partition: 0,
    records: 0,
    firstOffset: 7n,
    nextOffset: 8n,
    highWatermark: 8n,
    lag: 0n,
  });
  t.equal(reader.position('log', 0), 8n);
});
