/**
 * A read replica of a compacted topic: every partition is consumed into a
 * local LevelDB, together with the offset it reached (in the same batch), so
 * a restart continues where it stopped. Used to serve a view from its output
 * topic without running the topology.
 */
import type { Kafka } from 'kafkajs';
import type { Consumer } from '../kafka/client.js';
import { endOffsets } from '../kafka/admin.js';
import { partitionForKey } from '../kafka/partitioner.js';
import type { BatchEntry } from '../state/backend.js';
import { LevelDbBackend } from '../state/leveldb-backend.js';
import type { Logger } from '../util/logger.js';

const ROW = Buffer.from('r\0');
const OFFSET = Buffer.from('o\0');

export interface TopicReplicaOptions {
  kafka: Kafka;
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
  private consumer!: Consumer;
  private readonly log: Logger;

  constructor(private readonly options: TopicReplicaOptions) {
    this.log = options.logger.child({ component: 'replica', topic: options.topic });
  }

  async start(): Promise<void> {
    this.consumer = this.options.kafka.consumer({
      groupId: this.options.groupId(),
      readUncommitted: false,
      maxWaitTimeInMs: 50,
    });
    this.backend = await LevelDbBackend.open(this.options.directory);
    const admin = this.options.kafka.admin();
    await admin.connect();
    const ends = await endOffsets(admin, this.options.topic).finally(() => admin.disconnect());
    this.partitions = ends.size;
    if (this.partitions === 0) throw new Error(`topic ${this.options.topic} does not exist`);
    // The next offset to read per partition, as stored with the rows. On every (re)join the consumer
    // continues from here: it commits no offsets, so kafkajs would start from the beginning.
    const positions = await this.storedOffsets();
    for (const [partition, end] of ends) if ((positions.get(partition) ?? 0n) >= end) this.caughtUp.add(partition);

    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      for (const partition of payload.memberAssignment[this.options.topic] ?? []) {
        this.consumer.seek({ topic: this.options.topic, partition, offset: String(positions.get(partition) ?? 0n) });
      }
    });
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.offsetLag === '0' && !this.caughtUp.has(payload.partition)) {
        this.caughtUp.add(payload.partition);
        if (this.ready) this.log.info('replica caught up with the topic');
      }
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.options.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const entries: BatchEntry[] = [];
        const from = positions.get(batch.partition) ?? 0n;
        for (const message of batch.messages) {
          if (!message.key || BigInt(message.offset) < from) continue;
          try {
            const value = message.value === null ? null : await this.convert(message.value);
            entries.push({ key: Buffer.concat([ROW, message.key]), value });
          } catch (error) {
            // The replica only reads: an unreadable record is reported and skipped, never retried forever.
            this.log.warn('skipped a record the replica cannot read', {
              partition: batch.partition,
              offset: message.offset,
              error,
            });
          }
        }
        const next = BigInt(batch.lastOffset()) + 1n;
        if (next <= from) return;
        entries.push({ key: offsetKey(batch.partition), value: Buffer.from(next.toString()) });
        await this.backend.write(entries);
        positions.set(batch.partition, next);
      },
    });
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
    await this.consumer?.disconnect().catch(() => undefined);
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
