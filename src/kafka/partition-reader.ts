/**
 * Reads ranges of partitions (e.g. changelogs during a restore) outside the
 * application's consumer group. kafkajs has no manual assignment, so this
 * joins a throwaway group of one member, seeks each partition to its start,
 * pauses what it does not need, and deletes the group when done.
 */
import type { Kafka } from 'kafkajs';

export interface PartitionRange {
  topic: string;
  partition: number;
  /** First offset to read. */
  from: bigint;
  /** Read until the position reaches this offset (the end offset when the read started). */
  to: bigint;
}

export interface ReadRecord {
  key: Buffer | null;
  value: Buffer | null;
  offset: bigint;
}

/** Thrown when a read is given up because `abandoned()` turned true. */
export class ReadAbandonedError extends Error {
  override name = 'ReadAbandonedError';
}

export async function readPartitions(
  kafka: Kafka,
  groupId: string,
  ranges: readonly PartitionRange[],
  onRecords: (range: PartitionRange, records: ReadRecord[]) => Promise<void>,
  abandoned: () => boolean = () => false,
  /** Give up when no record or batch arrived for this long (a consumer stuck without an error). */
  stallTimeoutMs = 60_000,
): Promise<void> {
  const pending = ranges.filter((r) => r.from < r.to);
  if (pending.length === 0) return;
  const byKey = new Map(pending.map((r) => [`${r.topic}:${r.partition}`, r]));
  const position = new Map(pending.map((r) => [`${r.topic}:${r.partition}`, r.from]));
  const topics = [...new Set(pending.map((r) => r.topic))];

  const consumer = kafka.consumer({
    groupId,
    readUncommitted: false,
    maxWaitTimeInMs: 100,
    allowAutoTopicCreation: false,
  });
  let finish: () => void = () => undefined;
  let fail: (error: unknown) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  // The watch may fail the read while the consumer is still joining, before anything awaits `done`.
  done.catch(() => undefined);
  let lastProgress = Date.now();
  const watch = setInterval(() => {
    if (abandoned()) fail(new ReadAbandonedError('the read was given up'));
    else if (Date.now() - lastProgress > stallTimeoutMs)
      fail(new Error(`reading ${groupId} made no progress for ${stallTimeoutMs} ms`));
  }, 100);
  const advance = (key: string, next: bigint) => {
    lastProgress = Date.now();
    if (next > (position.get(key) ?? 0n)) position.set(key, next);
    if ([...byKey].every(([k, r]) => (position.get(k) ?? 0n) >= r.to)) finish();
  };

  try {
    await consumer.connect();
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        const unneeded = partitions.filter((p) => !byKey.has(`${topic}:${p}`));
        if (unneeded.length) consumer.pause([{ topic, partitions: unneeded }]);
      }
      for (const r of pending) consumer.seek({ topic: r.topic, partition: r.partition, offset: r.from.toString() });
    });
    // A batch of transaction markers (or aborted records) only never reaches eachBatch: move past it.
    // A batch with records moves the position only once eachBatch has applied them.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const key = `${payload.topic}:${payload.partition}`;
      if (byKey.has(key) && payload.batchSize === 0 && !abandoned()) advance(key, BigInt(payload.lastOffset) + 1n);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => fail(payload.error));
    await consumer.subscribe({ topics, fromBeginning: true });
    if (abandoned()) throw new ReadAbandonedError('the read was given up');
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const key = `${batch.topic}:${batch.partition}`;
        const range = byKey.get(key);
        if (!range || abandoned()) return;
        const records = batch.messages
          .map((m) => ({ key: m.key, value: m.value, offset: BigInt(m.offset) }))
          .filter((m) => m.offset >= range.from && m.offset < range.to);
        if (records.length) await onRecords(range, records);
        advance(key, BigInt(batch.lastOffset()) + 1n);
      },
    });
    await done;
    if (abandoned()) throw new ReadAbandonedError('the read was given up');
  } finally {
    clearInterval(watch);
    await consumer.disconnect().catch(() => undefined);
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
