/** ClusterAdmin on a kafkajs admin client. */
import type { Admin } from 'kafkajs';
import type { Broker, ClusterAdmin, GroupDescription, TopicMetadata, TopicSpec } from '../client.js';
import type { KafkaSecurity } from '../security.js';

export class KafkajsAdmin implements ClusterAdmin {
  constructor(
    private readonly admin: Admin,
    /** The listener's security, which the brokers listed share: our own connections to them use it. */
    private readonly security?: KafkaSecurity,
  ) {}

  connect(): Promise<void> {
    return this.admin.connect();
  }

  disconnect(): Promise<void> {
    return this.admin.disconnect();
  }

  listTopics(): Promise<string[]> {
    return this.admin.listTopics();
  }

  async topicMetadata(topics: readonly string[]): Promise<TopicMetadata[]> {
    const { topics: metadata } = await this.admin.fetchTopicMetadata({ topics: [...topics] });
    return metadata.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partition: p.partitionId, leader: p.leader })),
    }));
  }

  async brokers(): Promise<Broker[]> {
    const { brokers } = await this.admin.describeCluster();
    const security = this.security;
    return brokers.map(({ nodeId, host, port }) => ({ nodeId, host, port, ...(security ? { security } : {}) }));
  }

  async createTopics(specs: readonly TopicSpec[]): Promise<void> {
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: specs.map((s) => ({
        topic: s.topic,
        numPartitions: s.partitions,
        replicationFactor: s.replicationFactor,
        configEntries: Object.entries(s.configs).map(([name, value]) => ({ name, value })),
      })),
    });
  }

  async highWatermarks(topic: string): Promise<Map<number, bigint>> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  }

  async offsetsForTime(topic: string, timestamp: number): Promise<Map<number, bigint>> {
    const offsets = await this.admin.fetchTopicOffsetsByTimestamp(topic, timestamp);
    return new Map(offsets.map((o) => [o.partition, BigInt(o.offset)]));
  }

  async groupOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
    const [result] = await this.admin.fetchOffsets({ groupId, topics: [topic] });
    const offsets = new Map<number, bigint>();
    for (const p of result?.partitions ?? []) if (p.offset !== '-1') offsets.set(p.partition, BigInt(p.offset));
    return offsets;
  }

  async describeGroup(groupId: string): Promise<GroupDescription | undefined> {
    const { groups } = await this.admin.describeGroups([groupId]);
    const group = groups[0];
    if (!group) return undefined;
    return {
      state: group.state,
      members: group.members.map((m) => ({
        memberId: m.memberId,
        subscription: m.memberMetadata,
        assignment: m.memberAssignment,
      })),
    };
  }

  async deleteGroups(groupIds: string[]): Promise<void> {
    await this.admin.deleteGroups(groupIds);
  }

  async deleteTopics(topics: string[]): Promise<void> {
    await this.admin.deleteTopics({ topics });
  }

  async deleteRecords(topic: string, before: ReadonlyMap<number, bigint>): Promise<void> {
    // kafkajs finds the leaders in the metadata it holds without loading the topic's first; asking for
    // the topic's offsets loads it (and refreshes metadata older than its maximum age).
    await this.admin.fetchTopicOffsets(topic);
    await this.admin.deleteTopicRecords({
      topic,
      partitions: [...before].map(([partition, offset]) => ({ partition, offset: String(offset) })),
    });
  }
}
