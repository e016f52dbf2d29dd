// A read replica that rejoins its group (e.g. after a broker restart) continues from the offsets it
// stored with its rows. It commits no offsets, so before the fix every rejoin sought back to the
// offsets it had at start and re-read (and re-applied) everything since. Fake kafkajs clients,
// real replica and LevelDB.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Kafka } from 'kafkajs';
import { TopicReplica } from '../../src/runtime/topic-replica.js';
import { createLogger } from '../../src/util/logger.js';

type Listener = (event: { payload: unknown }) => void;

t.test('a rejoin continues from the stored offsets, not from those at start', async (t) => {
  const listeners = new Map<string, Listener[]>();
  const seeks: string[] = [];
  let eachBatch: ((payload: unknown) => Promise<void>) | undefined;
  const consumer = {
    events: { GROUP_JOIN: 'join', END_BATCH_PROCESS: 'end-batch' },
    on: (event: string, listener: Listener) => listeners.set(event, [...(listeners.get(event) ?? []), listener]),
    connect: async () => undefined,
    subscribe: async () => undefined,
    run: async (options: { eachBatch: (payload: unknown) => Promise<void> }) => void (eachBatch = options.eachBatch),
    seek: ({ partition, offset }: { partition: number; offset: string }) => seeks.push(`${partition}@${offset}`),
    disconnect: async () => undefined,
  };
  const join_ = () =>
    listeners.get('join')!.forEach((listener) => listener({ payload: { memberAssignment: { view: [0] } } }));
  const kafka = {
    consumer: () => consumer,
    admin: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      fetchTopicOffsets: async () => [{ partition: 0, high: '10', low: '0' }],
    }),
  } as unknown as Kafka; // only what TopicReplica calls
  const replica = new TopicReplica({
    kafka,
    topic: 'view',
    groupId: () => 'replica',
    directory: mkdtempSync(join(tmpdir(), 'uis-replica-')),
    logger: createLogger('error'),
    convert: (value) => value,
  });
  await replica.start();
  t.teardown(() => replica.stop());

  join_();
  t.same(seeks, ['0@0'], 'a new replica starts at the beginning');
  const message = (offset: string, key: string) => ({ offset, key: Buffer.from(key), value: Buffer.from(key) });
  await eachBatch!({
    batch: { partition: 0, messages: [message('0', 'a'), message('1', 'b')], lastOffset: () => '1' },
  });
  t.equal(replica.get(Buffer.from('b'))?.toString(), 'b');

  join_(); // the group was rebalanced, e.g. after a broker restart
  t.same(seeks, ['0@0', '0@2'], 'the rejoin continues after what was stored');
  // A batch re-delivered from before the stored position changes nothing.
  await eachBatch!({ batch: { partition: 0, messages: [message('0', 'stale')], lastOffset: () => '0' } });
  t.equal(replica.get(Buffer.from('stale')), undefined, 'records before the stored position are not applied again');
});
