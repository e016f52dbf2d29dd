/**
 * A read replica of a compacted topic: every partition is consumed into a
 * local LevelDB, together with the offset it reached (in the same batch), so
 * a restart continues where it stopped. Used to serve a view from its output
 * topic without running the topology.
 */
import type { GroupConsumer, KafkaClient } from '../kafka/client.js';
import { endOffsets } from '../kafka/admin.js';
import { partitionForKey } from '../kafka/partitioner.js';
import type { BatchEntry } from '../state/backend.js';
import { LevelDbBackend } from '../state/leveldb-backend.js';
import type { Logger } from '../util/logger.js';

const ROW = Buffer.from('r\0');
const OFFSET = Buffer.from('o\0');

export interface TopicReplicaOptions {
  kafka: KafkaClient;
  topic: string;
  /** A group of its own: this replica reads every partition. Read when the replica starts. */
  groupId: () => string;
  directory: string;
  logger: Logger;
  /** Turns a record's value into the bytes to keep. May throw `needsPreparation` errors (see prepare). */
  convert(value: Buffer): Buffer;
  /** Asynchronous preparation `convert` needs for some values (e.g. fetching a writer schema); then convert is retried. */
  prepare?(value: Buffer, error: unknown): Promise<boolean>;
}

export class TopicReplica {
  private backend!: LevelDbBackend;
  private partitions = 0;
  private readonly caughtUp = new Set<number>();
  private consumer: GroupConsumer | undefined;
  private readonly log: Logger;

  constructor(private readonly options: TopicReplicaOptions) {
    this.log = options.logger.child({ component: 'replica', topic: options.topic });
  }

  async start(): Promise<void> {
    this.backend = await LevelDbBackend.open(this.options.directory);
    const admin = this.options.kafka.admin();
    await admin.connect();
    const ends = await endOffsets(admin, this.options.topic).finally(() => admin.disconnect());
    this.partitions = ends.size;
    if (this.partitions === 0) throw new Error(`topic ${this.options.topic} does not exist`);
    // The next offset to read per partition, as stored with the rows. On every (re)join the consumer
    // continues from here: it commits no offsets, so it would start from the beginning.
    const positions = await this.storedOffsets();
    for (const [partition, end] of ends) if ((positions.get(partition) ?? 0n) >= end) this.caughtUp.add(partition);

    const consumer = this.options.kafka.groupConsumer({
      groupId: this.options.groupId(),
      topics: [this.options.topic],
      fetchMaxWaitMs: 50,
      onJoin: ({ assignment }) => {
        for (const partition of assignment[this.options.topic] ?? [])
          consumer.seek(this.options.topic, partition, positions.get(partition) ?? 0n);
      },
      onBatchDone: ({ partition, lag }) => {
        if (lag === 0n && !this.caughtUp.has(partition)) {
          this.caughtUp.add(partition);
          if (this.ready) this.log.info('replica caught up with the topic');
        }
      },
      eachBatch: async (batch) => {
        const entries: BatchEntry[] = [];
        const from = positions.get(batch.partition) ?? 0n;
        for (const record of batch.records) {
          if (!record.key || BigInt(record.offset) < from) continue;
          try {
            const value = record.value === null ? null : await this.convert(record.value);
            entries.push({ key: Buffer.concat([ROW, record.key]), value });
          } catch (error) {
            // The replica only reads: an unreadable record is reported and skipped, never retried forever.
            this.log.warn('skipped a record the replica cannot read', {
              partition: batch.partition,
              offset: record.offset,
              error,
            });
          }
        }
        if (batch.nextOffset <= from) return;
        entries.push({ key: offsetKey(batch.partition), value: Buffer.from(batch.nextOffset.toString()) });
        await this.backend.write(entries);
        positions.set(batch.partition, batch.nextOffset);
      },
    });
    this.consumer = consumer;
    await consumer.start();
  }

  get ready(): boolean {
    return this.partitions > 0 && this.caughtUp.size >= this.partitions;
  }

  partitionOf(key: Buffer): number {
    return partitionForKey(key, this.partitions);
  }

  get(key: Buffer): Buffer | undefined {
    return this.backend.getSync(Buffer.concat([ROW, key]));
  }

  async stop(): Promise<void> {
    await this.consumer?.stop().catch(() => undefined);
    await this.backend?.close();
  }

  private async convert(value: Buffer): Promise<Buffer> {
    try {
      return this.options.convert(value);
    } catch (error) {
      if (this.options.prepare && (await this.options.prepare(value, error))) return this.options.convert(value);
      throw error;
    }
  }

  private async storedOffsets(): Promise<Map<number, bigint>> {
    const offsets = new Map<number, bigint>();
    for await (const [key, value] of this.backend.entries(OFFSET)) {
      offsets.set(Number(key.subarray(OFFSET.length).toString()), BigInt(value.toString()));
    }
    return offsets;
  }
}

function offsetKey(partition: number): Buffer {
  return Buffer.concat([OFFSET, Buffer.from(String(partition))]);
}
