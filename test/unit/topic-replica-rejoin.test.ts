// A read replica that rejoins its group (e.g. after a broker restart) continues from the offsets it
// stored with its rows; and a replica proves the writing application's committed offsets of a quiet
// partition. It commits no offsets, so before the fix every rejoin sought back to the
// offsets it had at start and re-read (and re-applied) everything since. A fake Kafka client, the
// real replica and LevelDB.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { COMMITTED_INPUTS_HEADER, encodeCommittedInputs } from '../../src/runtime/committed-inputs.js';
import { TopicReplica } from '../../src/runtime/topic-replica.js';
import { createLogger } from '../../src/util/logger.js';
import { fakeClient } from '../support/fake-kafka-client.js';

type Fake = ReturnType<typeof fakeClient>;

/** A started replica of topic 'view' over the fake client; with `proving`, of the application 'app' whose input is 'in'. */
async function startReplica(t: Test, fake: Fake, proving = false): Promise<TopicReplica> {
  const replica = new TopicReplica({
    kafka: fake.client,
    topic: 'view',
    groupId: () => 'replica',
    directory: mkdtempSync(join(tmpdir(), 'uis-replica-')),
    logger: createLogger('error'),
    convert: (value) => value,
    ...(proving ? { inputTopics: ['in'], applicationGroupId: 'app' } : {}),
  });
  await replica.start();
  t.teardown(() => replica.stop());
  return replica;
}

const joinGroup = (fake: Fake) => fake.options().onJoin!({ memberId: 'm', generationId: 1, assignment: { view: [0] } });

/** The consumer found partition 0 read up to its end, `nextOffset`. */
const atEnd = (fake: Fake, nextOffset: bigint) =>
  fake.options().onBatchDone!({
    topic: 'view',
    partition: 0,
    records: 0,
    firstOffset: undefined,
    nextOffset,
    highWatermark: nextOffset,
    lag: 0n,
  });

t.test('a rejoin continues from the stored offsets, not from those at start', async (t) => {
  const fake = fakeClient(new Map([[0, 10n]]));
  const replica = await startReplica(t, fake);
  const seeks = () => fake.seeks.map((s) => `${s.partition}@${s.offset}`);
  const join_ = () => joinGroup(fake);

  join_();
  t.same(seeks(), ['0@0'], 'a new replica starts at the beginning');
  await fake.deliver('view', 0, 0n, [
    { offset: 0n, key: 'a' },
    { offset: 1n, key: 'b' },
  ]);
  t.equal(replica.get(Buffer.from('b'))?.toString(), 'b');

  join_(); // the group was rebalanced, e.g. after a broker restart
  t.same(seeks(), ['0@0', '0@2'], 'the rejoin continues after what was stored');
  // A batch re-delivered from before the stored position changes nothing.
  await fake.deliver('view', 0, 0n, [{ offset: 0n, key: 'stale' }]);
  t.equal(replica.get(Buffer.from('stale')), undefined, 'records before the stored position are not applied again');
});

t.test("a quiet partition: the replica proves the application's committed offsets once read past them", async (t) => {
  const ends = new Map([[0, 2n]]);
  const committed = new Map([['in', new Map([[0, 9n]])]]);
  const fake = fakeClient(ends, committed);
  const replica = await startReplica(t, fake, true);
  joinGroup(fake);
  const inputs = (offset: bigint) => [
    { key: COMMITTED_INPUTS_HEADER, value: encodeCommittedInputs(['in'], new Map([['in', offset]])) },
  ];
  const proven = () => replica.position(0)?.applied.get('in');

  await fake.deliver('view', 0, 0n, [
    { offset: 0n, key: 'a' },
    { offset: 1n, key: 'b', headers: inputs(5n) },
  ]);
  atEnd(fake, 2n);
  t.equal(proven(), 5n, 'at the end: the offsets the last record carried');

  // Later commits of the task wrote nothing to this partition; the group has 9 committed.
  await replica.probeCommitted();
  t.equal(proven(), 9n, "read to the topic's end after the offsets were read: the application's offsets");

  // A commit whose records the replica has not read yet: proven only once it has.
  ends.set(0, 4n);
  committed.get('in')!.set(0, 12n);
  await replica.probeCommitted();
  t.equal(proven(), 9n, 'its records lie past what the replica has read');
  await fake.deliver('view', 0, 2n, [
    { offset: 2n, key: 'c' },
    { offset: 3n, key: 'd', headers: inputs(11n) },
  ]);
  atEnd(fake, 4n);
  t.equal(proven(), 12n, 'read past them and at the end: proven, beyond what the records carried');
});

t.test('no proof from committed offsets when the topic is partitioned unlike the inputs', async (t) => {
  const fake = fakeClient(new Map([[0, 0n]]), new Map([['in', new Map([[0, 9n]])]]));
  const replica = await startReplica(t, fake, true);
  // The fake's admin gives every topic the same partitions; the replica counted the topic's at start.
  (replica as unknown as { partitions: number }).partitions = 2; // the output topic has two: tasks share them
  joinGroup(fake);
  atEnd(fake, 0n);
  await replica.probeCommitted();
  t.equal(replica.position(0), undefined, 'nothing proven from offsets of a task that is not the partition');
});
