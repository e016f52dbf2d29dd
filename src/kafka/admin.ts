/** Topic and group operations the engine needs, on the client's ClusterAdmin, with retries where Kafka asks for them. */
import type { Broker, ClusterAdmin, TopicSpec } from './client.js';

/** Partition count per topic; a topic that does not exist is absent. */
export async function partitionCounts(admin: ClusterAdmin, topics: readonly string[]): Promise<Map<string, number>> {
  // Listing asks for every topic's metadata: one partition anywhere in a leader election fails it.
  const existing = new Set(await withRetries(() => admin.listTopics()));
  const wanted = topics.filter((t) => existing.has(t));
  const counts = new Map<string, number>();
  if (wanted.length === 0) return counts;
  // A topic another instance has just created can be listed before every metadata answer knows it.
  for (const t of await withRetries(() => admin.topicMetadata(wanted))) counts.set(t.name, t.partitions.length);
  return counts;
}

/**
 * Creates the topics that do not exist. An existing topic with another
 * partition count is an error: its data is partitioned differently.
 */
export async function ensureTopics(admin: ClusterAdmin, specs: readonly TopicSpec[]): Promise<string[]> {
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
    await admin.createTopics(missing);
  }
  return missing.map((s) => s.topic);
}

/**
 * Retries an admin call on errors Kafka calls retriable (e.g. a partition
 * whose leader is still being elected just after the topic was created), also
 * when the client has given up on them itself (kafkajs then reports its last
 * error as not retriable; a soak saw a start fail so on UNKNOWN_TOPIC_OR_PARTITION).
 */
export async function withRetries<T>(call: () => Promise<T>, attempts = 10): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const retriable =
        (error as { retriable?: boolean }).retriable === true ||
        /not the leader|leader not available|leadership election|does not host this topic-partition/i.test(
          String(error),
        );
      if (!retriable || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
    }
  }
}

/** The high watermark (next offset to be written) of each partition of a topic. */
export async function endOffsets(admin: ClusterAdmin, topic: string): Promise<Map<number, bigint>> {
  return withRetries(() => admin.highWatermarks(topic));
}

/** The group's committed offset (next offset to read) per partition of a topic; absent if none. */
export async function committedOffsets(
  admin: ClusterAdmin,
  groupId: string,
  topic: string,
): Promise<Map<number, bigint>> {
  return withRetries(() => admin.groupOffsets(groupId, topic));
}

/**
 * True when every partition of `topics` has a leader among the brokers the cluster lists as alive.
 * A broker that has just restarted serves requests before it counts itself alive; a transaction
 * aborted in that window can lose its abort markers (see docs/engine.md, hanging transactions).
 */
export async function leadersAlive(admin: ClusterAdmin, topics: readonly string[]): Promise<boolean> {
  const alive = new Set((await admin.brokers()).map((b) => b.nodeId));
  const metadata = await admin.topicMetadata(topics);
  return metadata.every((t) => t.partitions.length > 0 && t.partitions.every((p) => alive.has(p.leader)));
}

/** The leader of every partition of `topics` that has a live one, as "topic:partition" -> broker address. */
export async function partitionLeaders(admin: ClusterAdmin, topics: readonly string[]): Promise<Map<string, Broker>> {
  const brokers = await admin.brokers();
  const leaders = new Map<string, Broker>();
  for (const topic of await admin.topicMetadata(topics))
    for (const p of topic.partitions) {
      const broker = brokers.find((b) => b.nodeId === p.leader);
      if (broker) leaders.set(`${topic.name}:${p.partition}`, broker);
    }
  return leaders;
}
