/** Topic and group operations the engine needs, on a kafkajs admin client. */
import type { Admin } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor: number;
  configs: Record<string, string>;
}

/** Partition count per topic; a topic that does not exist is absent. */
export async function partitionCounts(admin: Admin, topics: readonly string[]): Promise<Map<string, number>> {
  const existing = new Set(await admin.listTopics());
  const wanted = topics.filter((t) => existing.has(t));
  const counts = new Map<string, number>();
  if (wanted.length === 0) return counts;
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics: wanted });
  for (const t of metadata) counts.set(t.name, t.partitions.length);
  return counts;
}

/**
 * Creates the topics that do not exist. An existing topic with another
 * partition count is an error: its data is partitioned differently.
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[]): Promise<string[]> {
  const counts = await partitionCounts(
    admin,
    specs.map((s) => s.topic),
  );
  const wrong = specs.filter((s) => counts.has(s.topic) && counts.get(s.topic) !== s.partitions);
  if (wrong.length) {
    throw new Error(
      wrong.map((s) => `topic ${s.topic} has ${counts.get(s.topic)} partitions, expected ${s.partitions}`).join('; ') +
        '. Delete the internal topics (or reset the application) to repartition.',
    );
  }
  const missing = specs.filter((s) => !counts.has(s.topic));
  if (missing.length) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: s.topic,
        numPartitions: s.partitions,
        replicationFactor: s.replicationFactor,
        configEntries: Object.entries(s.configs).map(([name, value]) => ({ name, value })),
      })),
    });
  }
  return missing.map((s) => s.topic);
}

/**
 * Retries an admin call on errors Kafka calls retriable (e.g. a partition
 * whose leader is still being elected just after the topic was created).
 */
export async function withRetries<T>(call: () => Promise<T>, attempts = 10): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const retriable =
        (error as { retriable?: boolean }).retriable === true ||
        /not the leader|leader not available/i.test(String(error));
      if (!retriable || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
    }
  }
}

/** The high watermark (next offset to be written) of each partition of a topic. */
export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, bigint>> {
  const offsets = await withRetries(() => admin.fetchTopicOffsets(topic));
  return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
}

/** The group's committed offset (next offset to read) per partition of a topic; absent if none. */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<Map<number, bigint>> {
  const [result] = await withRetries(() => admin.fetchOffsets({ groupId, topics: [topic] }));
  const offsets = new Map<number, bigint>();
  for (const p of result?.partitions ?? []) if (p.offset !== '-1') offsets.set(p.partition, BigInt(p.offset));
  return offsets;
}

/**
 * True when every partition of `topics` has a leader among the brokers the cluster lists as alive.
 * A broker that has just restarted serves requests before it counts itself alive; a transaction
 * aborted in that window can lose its abort markers (see docs/engine.md, hanging transactions).
 */
export async function leadersAlive(admin: Admin, topics: readonly string[]): Promise<boolean> {
  const { brokers } = await admin.describeCluster();
  const alive = new Set(brokers.map((b) => b.nodeId));
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics: [...topics] });
  return metadata.every((t) => t.partitions.length > 0 && t.partitions.every((p) => alive.has(p.leader)));
}

/** The leader of every partition of `topics` that has a live one, as "topic:partition" -> broker address. */
export async function partitionLeaders(
  admin: Admin,
  topics: readonly string[],
): Promise<Map<string, { nodeId: number; host: string; port: number }>> {
  const { brokers } = await admin.describeCluster();
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics: [...topics] });
  const leaders = new Map<string, { nodeId: number; host: string; port: number }>();
  for (const topic of metadata)
    for (const p of topic.partitions) {
      const broker = brokers.find((b) => b.nodeId === p.leader);
      if (broker) leaders.set(`${topic.name}:${p.partitionId}`, broker);
    }
  return leaders;
}
