// A read replica that rejoins its group (e.g. after a broker restart) continues from the offsets it
// stored with its rows. It commits no offsets, so before the fix every rejoin sought back to the
// offsets it had at start and re-read (and re-applied) everything since. A fake Kafka client, the
// real replica and LevelDB.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { TopicReplica } from '../../src/runtime/topic-replica.js';
import { createLogger } from '../../src/util/logger.js';
import { fakeClient } from '../support/fake-kafka-client.js';

t.test('a rejoin continues from the stored offsets, not from those at start', async (t) => {
  const fake = fakeClient(new Map([[0, 10n]]));
  const replica = new TopicReplica({
    kafka: fake.client,
    topic: 'view',
    groupId: () => 'replica',
    directory: mkdtempSync(join(tmpdir(), 'uis-replica-')),
    logger: createLogger('error'),
    convert: (value) => value,
  });
  await replica.start();
  t.teardown(() => replica.stop());
  const seeks = () => fake.seeks.map((s) => `${s.partition}@${s.offset}`);
  const join_ = () => fake.options().onJoin!({ memberId: 'm', generationId: 1, assignment: { view: [0] } });

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
