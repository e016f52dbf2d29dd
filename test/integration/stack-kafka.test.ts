// kafkajs 2.2.4 against the pinned Kafka broker: admin with topic configs,
// transactions with read_committed, and a consumer group with a custom assignor.
import t from 'tap';
import { AssignerProtocol, Kafka, logLevel, type PartitionAssigner } from 'kafkajs';
import { stack, uniqueName, eventually } from '../support/stack.js';

const kafka = new Kafka({ clientId: 'stack-test', brokers: stack.kafkaBrokers, logLevel: logLevel.NOTHING });

t.test('admin creates a compacted topic with its configs', async (t) => {
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const topic = uniqueName('compacted');
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: 3, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
  });
  t.equal(created, true);
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  t.equal(metadata.topics[0]?.partitions.length, 3);
  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: 2 /* TOPIC */, name: topic, configNames: ['cleanup.policy'] }],
  });
  t.equal(configs.resources[0]?.configEntries[0]?.configValue, 'compact');
});

t.test('a read_committed consumer sees committed transactions only', async (t) => {
  const admin = kafka.admin();
  await admin.connect();
  const topic = uniqueName('txn');
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
  await admin.disconnect();

  const producer = kafka.producer({
    transactionalId: uniqueName('txn-producer'),
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  t.teardown(() => producer.disconnect());

  const committed = await producer.transaction();
  await committed.send({
    topic,
    messages: [
      { key: 'a', value: 'committed-1' },
      { key: 'b', value: 'committed-2' },
    ],
  });
  await committed.commit();
  const aborted = await producer.transaction();
  await aborted.send({ topic, messages: [{ key: 'c', value: 'aborted' }] });
  await aborted.abort();
  const last = await producer.transaction();
  await last.send({ topic, messages: [{ key: 'd', value: 'committed-3' }] });
  await last.commit();

  const consumer = kafka.consumer({ groupId: uniqueName('txn-reader'), readUncommitted: false });
  await consumer.connect();
  t.teardown(() => consumer.disconnect());
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen: string[] = [];
  await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value?.toString() ?? '') });
  await eventually('3 committed records', 20_000, async () => (seen.length >= 3 ? true : undefined));
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.same(seen, ['committed-1', 'committed-2', 'committed-3']);
});

t.test('a custom assignor assigns, and describeGroups shows every member its userData', async (t) => {
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const topic = uniqueName('assign');
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 4 }] });

  // Every member advertises its host in userData; the member whose host sorts
  // first gets every partition, so the outcome is checkable.
  const userDataOf = (metadata: Buffer) => AssignerProtocol.MemberMetadata.decode(metadata)?.userData.toString() ?? '';
  const hostAssigner =
    (host: string): PartitionAssigner =>
    ({ cluster }) => ({
      name: 'uis-test-assignor',
      version: 1,
      protocol: ({ topics }) => ({
        name: 'uis-test-assignor',
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.from(host) }),
      }),
      async assign({ members, topics }) {
        const ordered = [...members].sort((a, b) =>
          userDataOf(a.memberMetadata).localeCompare(userDataOf(b.memberMetadata)),
        );
        const partitions = topics.flatMap((name) => cluster.findTopicPartitionMetadata(name).map((p) => p.partitionId));
        return ordered.map((member, i) => ({
          memberId: member.memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 1,
            assignment: { [topic]: i === 0 ? partitions : [] },
            userData: Buffer.alloc(0),
          }),
        }));
      },
    });

  const groupId = uniqueName('assign-group');
  const members = ['host-a:3000', 'host-b:3001'].map((host) =>
    kafka.consumer({ groupId, partitionAssigners: [hostAssigner(host)] }),
  );
  for (const consumer of members) {
    await consumer.connect();
    await consumer.subscribe({ topic });
    await consumer.run({ eachMessage: async () => undefined });
  }
  t.teardown(async () => {
    for (const consumer of members) await consumer.disconnect();
  });
  const described = await eventually('a stable group of 2', 30_000, async () => {
    const { groups } = await admin.describeGroups([groupId]);
    const group = groups[0];
    return group?.state === 'Stable' && group.members.length === 2 ? group : undefined;
  });
  t.equal(described.protocol, 'uis-test-assignor');
  const userData = described.members.map((m) => userDataOf(m.memberMetadata)).sort();
  t.same(userData, ['host-a:3000', 'host-b:3001']);
  const partitionsByHost = Object.fromEntries(
    described.members.map((m) => [
      userDataOf(m.memberMetadata),
      AssignerProtocol.MemberAssignment.decode(m.memberAssignment)!.assignment[topic]?.length ?? 0,
    ]),
  );
  t.same(partitionsByHost, { 'host-a:3000': 4, 'host-b:3001': 0 });
});
