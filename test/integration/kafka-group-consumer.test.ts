// The Kafka client seam's group consumer (src/kafka/client.ts), the same contract for each client
// library, on the real broker: an application assignor's user data reach every member and the group
// description; only committed records are delivered, and the position moves past transaction
// markers; a seek re-reads, a paused partition is not read; a member that leaves hands its
// partitions over.
import t, { type Test } from 'tap';
import {
  createKafkaClient,
  KAFKA_CLIENTS,
  type ConsumedBatch,
  type GroupAssignor,
  type GroupConsumer,
  type GroupJoin,
  type KafkaClientKind,
} from '../../src/kafka/client.js';
import { decodeAssignment } from '../../src/kafka/consumer-protocol.js';
import { createLogger } from '../../src/util/logger.js';
import { createTopics, kafka } from '../support/kafka.js';
import { eventually, stack, uniqueName } from '../support/stack.js';

const PARTITIONS = 4;

/** The topic's partitions dealt round-robin in member id order; each member is told how many members there are. */
const dealer = (topic: string, name: string): GroupAssignor => ({
  name: 'test-dealer',
  userData: () => Buffer.from(name),
  async assign({ members, partitionCount }) {
    const sorted = [...members].sort((a, b) => a.memberId.localeCompare(b.memberId));
    return sorted.map((member, i) => ({
      memberId: member.memberId,
      partitions: { [topic]: [...Array(partitionCount(topic)).keys()].filter((p) => p % sorted.length === i) },
      userData: Buffer.from(`${sorted.length} members, you are ${member.userData?.toString()}`),
    }));
  },
});

interface Member {
  consumer: GroupConsumer;
  joins: GroupJoin[];
  /** Delivered records: "partition@offset=key". */
  seen: string[];
  batches: ConsumedBatch[];
}

function member(t: Test, kind: KafkaClientKind, groupId: string, topic: string, name: string): Member {
  const client = createKafkaClient({
    brokers: stack.kafkaBrokers,
    clientId: `${groupId}-${name}`,
    logger: createLogger('error'),
    kind,
  });
  const m: Member = { joins: [], seen: [], batches: [], consumer: undefined as unknown as GroupConsumer };
  m.consumer = client.groupConsumer({
    groupId,
    topics: [topic],
    fetchMaxWaitMs: 100,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 500,
    rebalanceTimeoutMs: 10_000,
    assignor: dealer(topic, name),
    onJoin: (join) => void m.joins.push(join),
    eachBatch: async (batch) => {
      m.batches.push(batch);
      for (const r of batch.records) m.seen.push(`${r.partition}@${r.offset}=${r.key?.toString()}`);
    },
  });
  t.teardown(() => m.consumer.stop().catch(() => undefined));
  return m;
}

for (const kind of KAFKA_CLIENTS) {
  t.test(`${kind}: the group consumer's contract`, async (t) => {
    const topic = uniqueName(`gc-${kind}`);
    const groupId = uniqueName(`gc-${kind}-group`);
    await createTopics([topic], PARTITIONS);
    const producer = kafka.producer({ transactionalId: `${topic}-tx`, maxInFlightRequests: 1 });
    await producer.connect();
    t.teardown(() => producer.disconnect());
    // Per partition: a committed transaction of two records, an aborted one, a committed one.
    for (let p = 0; p < PARTITIONS; p++) {
      for (const [keys, commit] of [
        [['a', 'b'], true],
        [['aborted'], false],
        [['c'], true],
      ] as const) {
        const tx = await producer.transaction();
        await tx.send({ topic, messages: keys.map((key) => ({ key: `${p}-${key}`, value: 'v', partition: p })) });
        if (commit) await tx.commit();
        else await tx.abort();
      }
    }
    // Offsets per partition: a@0 b@1 marker@2 aborted@3 marker@4 c@5 marker@6; the end is 7.

    const one = member(t, kind, groupId, topic, 'one');
    await one.consumer.start();
    await eventually('every committed record', 30_000, async () =>
      one.seen.length === 3 * PARTITIONS ? true : undefined,
    );
    t.same(one.joins.at(-1)?.assignment, { [topic]: [0, 1, 2, 3] }, 'a lone member gets every partition');
    t.same(
      [...one.seen].sort(),
      [0, 1, 2, 3].flatMap((p) => [`${p}@0=${p}-a`, `${p}@1=${p}-b`, `${p}@5=${p}-c`]).sort(),
      'only committed records, with their offsets',
    );
    t.ok(
      one.batches.every((b) => b.nextOffset <= 7n && b.fetchedOffset < b.nextOffset),
      'each batch says where it was fetched and where the next fetch starts',
    );
    t.ok(one.joins.at(-1)!.generationId > 0, 'the join carries the group generation');

    // A seek re-reads; a paused partition is not read.
    one.seen.length = 0;
    one.consumer.pause(topic, 1);
    one.consumer.seek(topic, 0, 1n);
    one.consumer.seek(topic, 1, 0n);
    await eventually('partition 0 read again from offset 1', 30_000, async () =>
      one.seen.includes(`0@5=0-c`) ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.same(one.seen, ['0@1=0-b', '0@5=0-c'], 'partition 0 from the sought offset; paused partition 1 not at all');
    one.consumer.resume(topic, 1);
    await eventually('partition 1 read after resuming', 30_000, async () =>
      one.seen.includes(`1@0=1-a`) ? true : undefined,
    );

    // A second member: the assignor's split and user data reach both, and the group description.
    const two = member(t, kind, groupId, topic, 'two');
    await two.consumer.start();
    await eventually('a rebalance that splits the partitions', 60_000, async () => {
      const a = one.joins.at(-1)?.assignment[topic] ?? [];
      const b = two.joins.at(-1)?.assignment[topic] ?? [];
      return a.length === 2 && b.length === 2 ? true : undefined;
    });
    t.same(
      [...one.joins.at(-1)!.assignment[topic]!, ...two.joins.at(-1)!.assignment[topic]!].sort(),
      [0, 1, 2, 3],
      'every partition once',
    );
    const admin = createKafkaClient({
      brokers: stack.kafkaBrokers,
      clientId: 'gc-admin',
      logger: createLogger('error'),
    }).admin();
    await admin.connect();
    t.teardown(() => admin.disconnect());
    const group = await eventually('the group to be stable', 30_000, async () => {
      const g = await admin.describeGroup(groupId);
      return g?.state === 'Stable' && g.members.length === 2 ? g : undefined;
    });
    t.same(
      group.members.map((m) => decodeAssignment(m.assignment)?.userData?.toString()).sort(),
      ['2 members, you are one', '2 members, you are two'],
      "the assignor's user data, per member",
    );

    // The second leaves: the first gets every partition back.
    await two.consumer.stop();
    await eventually('the first member to hold every partition again', 60_000, async () =>
      one.joins.at(-1)?.assignment[topic]?.length === PARTITIONS ? true : undefined,
    );
    t.pass('a leaving member hands its partitions over');
  });
}
