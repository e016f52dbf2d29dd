// Exactly-once v2's fencing (KIP-447) on the real broker, through src/kafka/group-transactions.ts:
// offsets committed in a transaction as a member of the group's current generation count; from a
// replaced generation they are refused; and while such a transaction is open, a stable offset fetch
// (what a task's new owner does) is refused until it ends. And a whole transaction driven by those
// requests, with record batches encoded by record-batch-encoder.ts (the broker checks their CRC).
import t from 'tap';
import type { Consumer } from 'kafkajs';
import {
  addOffsetsToTxn,
  addPartitionsToTxn,
  produceTransactional,
  endTxn,
  fetchStableOffsets,
  findCoordinator,
  initProducerId,
  KafkaErrors,
  KafkaProtocolError,
  txnOffsetCommit,
  type GroupMembership,
} from '../../src/kafka/group-transactions.js';
import { BrokerConnection, type BrokerAddress } from '../../src/kafka/wire.js';
import { createTopics, kafka, readTable } from '../support/kafka.js';
import { eventually, stack, uniqueName } from '../support/stack.js';

const bootstrap: BrokerAddress = {
  host: stack.kafkaBrokers[0]!.split(':')[0]!,
  port: Number(stack.kafkaBrokers[0]!.split(':')[1]),
};

/** A kafkajs consumer in the group; resolves with its membership once it has joined. */
async function join(
  groupId: string,
  topic: string,
  events: string[],
): Promise<{ consumer: Consumer; membership: () => GroupMembership | undefined }> {
  // A rebalance timeout well under the wait below: a member that fails to rejoin is dropped and the
  // group settles without it, rather than the group waiting the default minute for it.
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 20_000 });
  const started = Date.now();
  const note = (what: string) => events.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);
  let membership: GroupMembership | undefined;
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const generationId = (payload as { generationId?: number }).generationId; // added by patches/kafkajs
    note(`joined generation ${generationId} as ${payload.memberId}`);
    if (generationId !== undefined) membership = { groupId, generationId, memberId: payload.memberId };
  });
  consumer.on(consumer.events.REBALANCING, () => note('rebalancing'));
  consumer.on(consumer.events.CRASH, ({ payload }) =>
    note(`crashed: ${(payload.error.cause as Error | undefined)?.stack ?? payload.error.stack}`),
  );
  consumer.on(consumer.events.STOP, () => note('stopped'));
  await consumer.connect();
  await consumer.subscribe({ topic });
  await consumer.run({ eachMessage: async () => undefined });
  // Members here only hold the generation; they never fetch. A fetch would start at the offset the test
  // commits (past the empty log's end), and kafkajs's out-of-range recovery throws a TypeError when a
  // rebalance has replaced its assignment meanwhile (offsetManager clearOffsets), crashing the member.
  consumer.pause([{ topic }]);
  return { consumer, membership: () => membership };
}

const errorCode = (error: unknown) => (error instanceof KafkaProtocolError ? error.code : undefined);

t.test('offsets in a transaction: current generation counts, a replaced one is refused', async (t) => {
  const topic = uniqueName('kip447');
  const groupId = uniqueName('kip447-group');
  await createTopics([topic], 1);
  const firstEvents: string[] = [];
  const secondEvents: string[] = [];
  const first = await join(groupId, topic, firstEvents);
  t.teardown(() => first.consumer.disconnect().catch(() => undefined));
  const before = await eventually('the first member to join', 30_000, async () => first.membership());

  const groupCoordinator = await findCoordinator(bootstrap, groupId, 'group');
  const transactionalId = uniqueName('kip447-producer');
  const txnCoordinator = await findCoordinator(bootstrap, transactionalId, 'transaction');
  const producer = await initProducerId(txnCoordinator, transactionalId, 10_000);
  const offsets = (offset: bigint) => new Map([[topic, new Map([[0, offset]])]]);

  await addOffsetsToTxn(txnCoordinator, producer, groupId);
  await txnOffsetCommit(groupCoordinator, producer, before, offsets(7n));
  // While the transaction is open, a new owner cannot read the partition's offset yet.
  const unstable = await fetchStableOffsets(groupCoordinator, groupId, new Map([[topic, [0]]])).catch(errorCode);
  t.equal(unstable, KafkaErrors.UNSTABLE_OFFSET_COMMIT, 'a stable fetch is refused while the transaction is open');
  await endTxn(txnCoordinator, producer, true);
  const stable = await eventually('the offset to be stable', 30_000, () =>
    fetchStableOffsets(groupCoordinator, groupId, new Map([[topic, [0]]])).catch(() => undefined),
  );
  t.equal(stable.get(topic)?.get(0), 7n, 'the committed transaction set the offset');

  // A second member joins: the group moves to a new generation, and the first member's old one is void.
  const second = await join(groupId, topic, secondEvents);
  t.teardown(() => second.consumer.disconnect().catch(() => undefined));
  // Waits for a stable group: the first member's view alone can be a generation the group already left
  // (under load a join can take more than one round), and then the commits below would be refused.
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  let lastState = '';
  const after = await eventually('the group to settle on a new generation', 90_000, async () => {
    const [now, other] = [first.membership(), second.membership()];
    const { groups } = await admin.describeGroups([groupId]);
    lastState = `${groups[0]?.state} with ${groups[0]?.members.length} members`;
    if (!now || !other || now.generationId <= before.generationId || now.generationId !== other.generationId) return;
    return groups[0]?.state === 'Stable' && groups[0].members.length === 2 ? now : undefined;
  }).catch((error: unknown) => {
    t.comment(`group: ${lastState}; first member: ${firstEvents.join(' | ')}; second: ${secondEvents.join(' | ')}`);
    throw error;
  });
  await addOffsetsToTxn(txnCoordinator, producer, groupId);
  const refused = await txnOffsetCommit(groupCoordinator, producer, before, offsets(9n)).then(
    () => 'accepted',
    (error: unknown) => errorCode(error) ?? String(error),
  );
  // ILLEGAL_GENERATION, or UNKNOWN_MEMBER_ID if the first member had to join again under a new id:
  // either one is what the engine takes as "this task moved on" (commit-writer.ts isFencedError).
  t.ok(
    refused === KafkaErrors.ILLEGAL_GENERATION || refused === KafkaErrors.UNKNOWN_MEMBER_ID,
    `offsets of the replaced generation are refused (answer: ${refused}, before: ${JSON.stringify(before)}, after: ${JSON.stringify(after)})`,
  );
  await endTxn(txnCoordinator, producer, false);

  await addOffsetsToTxn(txnCoordinator, producer, groupId);
  await txnOffsetCommit(groupCoordinator, producer, after, offsets(11n));
  await endTxn(txnCoordinator, producer, true);
  const latest = await eventually('the new offset to be stable', 30_000, () =>
    fetchStableOffsets(groupCoordinator, groupId, new Map([[topic, [0]]])).catch(() => undefined),
  );
  t.equal(latest.get(topic)?.get(0), 11n, 'offsets of the current generation count');

  // A newer producer with the same transactional id fences this one.
  const newer = await initProducerId(txnCoordinator, transactionalId, 10_000);
  t.ok(newer.producerEpoch > producer.producerEpoch, 'the epoch moved on');
  const fenced = await addOffsetsToTxn(txnCoordinator, producer, groupId).catch(errorCode);
  t.equal(fenced, KafkaErrors.PRODUCER_FENCED, 'the older producer is fenced');
});

t.test('a transaction driven by these requests alone: produced batches are read only once committed', async (t) => {
  const topic = uniqueName('raw-txn');
  await createTopics([topic], 2);
  const transactionalId = uniqueName('raw-txn-producer');
  const coordinator = await findCoordinator(bootstrap, transactionalId, 'transaction');
  const producer = await initProducerId(coordinator, transactionalId, 10_000);
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  const { brokers } = await admin.describeCluster();
  const leaderOf = (partition: number) =>
    brokers.find((b) => b.nodeId === metadata.topics[0]!.partitions.find((p) => p.partitionId === partition)!.leader)!;
  const leader = new BrokerConnection({ host: leaderOf(0).host, port: leaderOf(0).port }, 'uis-test');
  t.teardown(() => leader.close());
  const sequences = new Map<number, number>();
  const transaction = async (keys: string[], commit: boolean) => {
    const byPartition = new Map<number, string[]>();
    for (const [i, key] of keys.entries()) byPartition.set(i % 2, [...(byPartition.get(i % 2) ?? []), key]);
    await addPartitionsToTxn(coordinator, producer, new Map([[topic, [...byPartition.keys()]]]));
    const written = await produceTransactional(
      leader,
      producer,
      [...byPartition].map(([partition, partitionKeys]) => {
        const baseSequence = sequences.get(partition) ?? 0;
        sequences.set(partition, baseSequence + partitionKeys.length);
        return {
          topic,
          partition,
          baseSequence,
          records: partitionKeys.map((key) => ({
            key: Buffer.from(key),
            value: Buffer.from(`v-${key}`),
            timestamp: Date.now(),
            headers: [{ key: 'source', value: Buffer.from('raw') }],
          })),
        };
      }),
    );
    await endTxn(coordinator, producer, commit);
    return written;
  };
  const first = await transaction(['a', 'b', 'c'], true);
  t.equal(first.get(`${topic}:0`), 2n, 'offsets after the batch are reported');
  await transaction(['aborted-1', 'aborted-2'], false);
  await transaction(['d', 'e'], true);
  const table = await readTable(topic);
  t.same([...table.keys()].sort(), ['a', 'b', 'c', 'd', 'e'], 'committed records are read, aborted ones not');
  t.equal(table.get('d')?.toString(), 'v-d');
});
