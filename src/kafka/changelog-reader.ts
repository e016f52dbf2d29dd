/**
 * Follows changelog partitions outside the application's consumer group, for
 * as long as asked: it keeps standby tasks current. The client seam has no
 * manual assignment, so this is one long-lived consumer in a group of its own (one
 * member: it gets every partition), with every partition paused except the
 * followed ones; each (re)join seeks the followed partitions back to where
 * they are.
 *
 * A partition can be followed again from an older offset than the consumer
 * last fetched (a standby reopened from its checkpoint, or wiped). A batch
 * fetched before that seek may still arrive; applying it would skip the
 * records in between. So a batch is applied only if it was fetched at or
 * before the follower's position.
 */
import type { ConsumedBatch, GroupConsumer, KafkaClient } from './client.js';
import type { RecordHeader } from './record-batches.js';
import type { Logger } from '../util/logger.js';

export interface ReadRecord {
  key: Buffer | null;
  value: Buffer | null;
  offset: bigint;
  /** The record's timestamp (ms); absent where the reader does not know it. */
  timestamp?: number;
  headers?: readonly RecordHeader[] | undefined;
}

export interface ChangelogSink {
  /** Applies records of the partition, in order; `next` is the offset after the last of them. */
  apply(records: ReadRecord[], next: bigint): Promise<void>;
  /** The reader's position moved to `position` (e.g. past transaction markers); `end` is the partition's end as last fetched. */
  advanced?(position: bigint, end: bigint | undefined): void;
}

interface Followed {
  topic: string;
  partition: number;
  position: bigint;
  end: bigint | undefined;
  sink: ChangelogSink;
}

const key = (topic: string, partition: number) => `${topic}:${partition}`;

export class ChangelogReader {
  private readonly followed = new Map<string, Followed>();
  private readonly consumer: GroupConsumer;
  private running = false;
  private readonly log: Logger;

  constructor(
    kafka: KafkaClient,
    private readonly groupId: string,
    private readonly topics: readonly string[],
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'changelog-reader' });
    this.consumer = kafka.groupConsumer({
      groupId,
      topics: [...topics],
      fetchMaxWaitMs: 100,
      concurrency: 4,
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 5000 },
      eachBatch: (batch) => this.onBatch(batch),
      onJoin: ({ assignment }) => {
        for (const [topic, partitions] of Object.entries(assignment)) {
          for (const partition of partitions) {
            const followed = this.followed.get(key(topic, partition));
            if (followed) this.consumer.seek(topic, partition, followed.position);
            else this.consumer.pause(topic, partition);
          }
        }
      },
      onBatchDone: (done) => {
        const followed = this.followed.get(key(done.topic, done.partition));
        if (!followed) return;
        followed.end = done.highWatermark;
        // Only transaction markers (or aborted records) right where the follower is: skip them.
        if (done.records === 0 && done.firstOffset === followed.position) followed.position = done.nextOffset;
        followed.sink.advanced?.(followed.position, followed.end);
      },
      // A fetch that brought nothing for a followed partition found it at its end.
      onFetch: () => {
        for (const followed of this.followed.values()) {
          if (followed.end !== undefined && followed.position >= followed.end)
            followed.sink.advanced?.(followed.position, followed.end);
        }
      },
      onCrash: (error, restarting) => {
        this.log.warn('the changelog consumer crashed', { error, restart: restarting });
        if (!restarting && this.running) void this.restart();
      },
    });
  }

  async start(): Promise<void> {
    if (this.topics.length === 0) return;
    this.running = true;
    await this.consumer.start();
  }

  /**
   * Starts delivering records of a changelog partition from `from` to `sink`, until unfollowed. `end`, if
   * known, is the partition's end now: a follower already there is then reported current after every
   * fetch even when no record ever comes (a quiet changelog is not a stale one).
   */
  follow(topic: string, partition: number, from: bigint, sink: ChangelogSink, end?: bigint): void {
    this.followed.set(key(topic, partition), { topic, partition, position: from, end, sink });
    if (!this.running) return;
    try {
      this.consumer.seek(topic, partition, from);
      this.consumer.resume(topic, partition);
    } catch (error) {
      // Between a crash and the restart: the next join seeks it.
      this.log.debug('follow before the consumer runs', { topic, partition, error });
    }
  }

  unfollow(topic: string, partition: number): void {
    if (!this.followed.delete(key(topic, partition)) || !this.running) return;
    this.consumer.pause(topic, partition); // not running: the next join pauses it
  }

  /** Where the reader is in a followed partition. */
  position(topic: string, partition: number): bigint | undefined {
    return this.followed.get(key(topic, partition))?.position;
  }

  async stop(admin?: { deleteGroups(groupIds: string[]): Promise<unknown> }): Promise<void> {
    this.running = false;
    this.followed.clear();
    await this.consumer.stop().catch(() => undefined);
    await admin?.deleteGroups([this.groupId]).catch(() => undefined);
  }

  private async onBatch(batch: ConsumedBatch): Promise<void> {
    const followed = this.followed.get(key(batch.topic, batch.partition));
    if (!followed) {
      this.consumer.pause(batch.topic, batch.partition);
      return;
    }
    const from = followed.position;
    if (!batch.stillValid()) return;
    if (batch.fetchedOffset > from) {
      // Fetched from beyond the follower: it was followed again from further back, and the consumer moved
      // its fetch position past a batch fetched before that seek once a prefetch had applied it. Every
      // later batch would be ahead too, and skipped, forever (a standby stuck at 1M users): seek again.
      this.consumer.seek(batch.topic, batch.partition, from);
      return;
    }
    const records: ReadRecord[] = [];
    for (const r of batch.records) {
      const offset = BigInt(r.offset);
      if (offset >= from)
        records.push({ key: r.key, value: r.value, offset, timestamp: r.timestamp, headers: r.headers });
    }
    // Past the last record, and past any markers behind it in the same fetch.
    const next = batch.nextOffset;
    if (records.length > 0) await followed.sink.apply(records, next);
    // Unfollowed (or followed anew) while applying: the position belongs to the new follower.
    if (this.followed.get(key(batch.topic, batch.partition)) === followed && next > followed.position)
      followed.position = next;
  }

  private async restart(attempt = 1): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 1000 * attempt)));
    if (!this.running) return;
    try {
      await this.consumer.restart();
    } catch (error) {
      this.log.warn('restarting the changelog consumer failed; retrying', { error, attempt });
      await this.restart(attempt + 1);
    }
  }
}
