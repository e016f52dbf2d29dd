// Kafka helpers for integration tests: topics, producing, and reading a topic as a compacted table.
import { Kafka, logLevel, type KafkaMessage, type Producer } from 'kafkajs';
import { stack } from './stack.js';

export const kafka = new Kafka({ clientId: 'uis-test', brokers: stack.kafkaBrokers, logLevel: logLevel.NOTHING });

export async function createTopics(topics: string[], partitions: number, compact = false): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({
        topic,
        numPartitions: partitions,
        configEntries: compact ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
      })),
    });
  } finally {
    await admin.disconnect();
  }
}

export async function connectedProducer(): Promise<Producer> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  return producer;
}

/**
 * Reads a whole topic from the start (read_committed) up to its end offsets at the time of the call, calling
 * `onMessage` for each record (and its partition) in order within each partition.
 */
export async function readTopic(
  topic: string,
  onMessage: (message: KafkaMessage, partition: number) => void,
  timeoutMs = 60_000,
  /** Aborted records and open transactions' too (for a failure's diagnosis). */
  readUncommitted = false,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(
    ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)]),
  );
  if (remaining.size === 0) return;
  const consumer = kafka.consumer({ groupId: `read-table-${Date.now()}-${Math.random()}`, readUncommitted });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`reading ${topic} timed out after ${timeoutMs} ms`)), timeoutMs);
    const advance = (partition: number, next: bigint) => {
      const end = remaining.get(partition);
      if (end !== undefined && next >= end) remaining.delete(partition);
      if (remaining.size === 0) {
        clearTimeout(timer);
        resolve();
      }
    };
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) =>
      advance(payload.partition, BigInt(payload.lastOffset) + 1n),
    );
    void consumer.run({
      eachMessage: async ({ message, partition }) => onMessage(message, partition),
    });
  });
  await done.finally(() => consumer.disconnect());
}

/** The record at `offset` of a partition (read_committed). */
export async function readRecordAt(
  topic: string,
  partition: number,
  offset: string,
  timeoutMs = 30_000,
): Promise<KafkaMessage> {
  const consumer = kafka.consumer({ groupId: `read-at-${Date.now()}-${Math.random()}`, readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  const found = new Promise<KafkaMessage>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no record at ${topic}-${partition}@${offset} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    void consumer.run({
      eachMessage: async ({ partition: p, message }) => {
        if (p !== partition || BigInt(message.offset) < BigInt(offset)) return;
        clearTimeout(timer);
        if (message.offset === offset) resolve(message);
        else reject(new Error(`${topic}-${partition} has no record at ${offset} (next: ${message.offset})`));
      },
    });
    consumer.seek({ topic, partition, offset });
  });
  return found.finally(() => consumer.disconnect());
}

/** Reads a whole topic (read_committed) and keeps the latest value per key; tombstones delete. */
export async function readTable(topic: string, timeoutMs = 60_000): Promise<Map<string, Buffer>> {
  const table = new Map<string, Buffer>();
  await readTopic(
    topic,
    (message) => {
      const key = message.key?.toString() ?? '';
      if (message.value === null) table.delete(key);
      else table.set(key, message.value);
    },
    timeoutMs,
  );
  return table;
}

/** A consumer group's state and the input partitions where its committed offset is behind the end. */
export interface GroupLag {
  state: string;
  members: number;
  /** Partitions whose committed offset is more than one behind the end (one: a transaction marker). */
  behind: Array<{ topic: string; partition: number; committed: string; end: string }>;
}

/** Where a group stands: for a failed run's report, so that it says which partitions stopped moving. */
export async function groupLag(groupId: string): Promise<GroupLag> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    const group = groups[0];
    const committed = await admin.fetchOffsets({ groupId });
    const behind: GroupLag['behind'] = [];
    for (const { topic, partitions } of committed) {
      const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
      for (const { partition, offset } of partitions) {
        const end = ends.get(partition) ?? 0n;
        const at = BigInt(offset) < 0n ? 0n : BigInt(offset);
        if (end - at > 1n) behind.push({ topic, partition, committed: offset, end: end.toString() });
      }
    }
    return { state: group?.state ?? 'unknown', members: group?.members.length ?? 0, behind };
  } finally {
    await admin.disconnect();
  }
}

/** Deletes every topic whose name starts with `prefix` (an application's internal topics); returns how many. */
export async function deleteTopicsWithPrefix(prefix: string): Promise<number> {
  if (prefix.length < 4) throw new Error(`refusing to delete topics by the short prefix "${prefix}"`);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 60_000 });
    return topics.length;
  } finally {
    await admin.disconnect();
  }
}
