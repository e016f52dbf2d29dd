/**
 * A read replica of a compacted topic: every partition is consumed into a
 * local LevelDB, together with the offset it reached (in the same batch), so
 * a restart continues where it stopped. Used to serve a view from its output
 * topic without running the topology.
 *
 * Where the topic is the output of a task whose records on its own partition
 * carry the input offsets each commit covers (committed-inputs.ts), the
 * replica also knows, per partition, which input its rows provably reflect:
 * the newest such offsets applied, claimed once the replica has read to the
 * end of the partition (before that, compaction may have removed a change
 * that a record not yet read supersedes). A partition whose records end
 * before transaction markers the consumer has not reported read yet (kafkajs
 * reports them as lag until a fetch brings them alone) is looked at once: if
 * only markers lie between, the replica is at the end.
 */
import type { ClusterAdmin, GroupConsumer, KafkaClient } from '../kafka/client.js';
import { endOffsets } from '../kafka/admin.js';
import { partitionForKey } from '../kafka/partitioner.js';
import { committedRecordsEnd, MARKER_LOOKBACK } from '../kafka/record-finder.js';
import type { BatchEntry } from '../state/backend.js';
import { LevelDbBackend } from '../state/leveldb-backend.js';
import type { Logger } from '../util/logger.js';
import {
  committedInputsHeader,
  committedThenEnds,
  decodeCommittedInputs,
  newerOf,
  offsetsAt,
} from './committed-inputs.js';
import type { TaskPosition } from './kafka-streams.js';

const ROW = Buffer.from('r\0');
const OFFSET = Buffer.from('o\0');
const INPUTS = Buffer.from('i\0');
/** A partition's tail is looked at most this often (a busy one reports lag after nearly every batch). */
const TAIL_CHECK_INTERVAL_MS = 250;

interface TailCheck {
  nextOffset: bigint;
  end: bigint;
  applied: Map<string, bigint> | undefined;
}

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
  /** The writing task's input topics in source order, to read the committed inputs its records carry. */
  inputTopics?: readonly string[];
  /**
   * The writing application's consumer group (its application id). Its committed offsets of
   * `inputTopics` prove the position of a partition whose later commits wrote nothing to it.
   */
  applicationGroupId?: string;
}

/** How often a replica asks for the writing application's committed offsets. */
const COMMITTED_PROBE_INTERVAL_MS = 2000;

export class TopicReplica {
  private backend!: LevelDbBackend;
  private partitions = 0;
  private readonly caughtUp = new Set<number>();
  /** Per partition: the committed inputs of the newest record applied that carries them; proven once at the end. */
  private readonly appliedInputs = new Map<number, Map<string, bigint>>();
  private readonly provenInputs = new Map<number, Map<string, bigint>>();
  /** Per partition: the furthest offset the replica had read to when it was at the partition's end. */
  private readonly endReachedAt = new Map<number, bigint>();
  /** Per partition: the application's committed inputs, proven once the replica has read to `until` (see probeCommitted). */
  private readonly committedDue = new Map<number, { inputs: Map<string, bigint>; until: bigint }>();
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  /** Whether partition p of the topic is written by the task of partition p alone (inputs partitioned alike). */
  private partitionedAlike: boolean | undefined;
  private readonly lag = new Map<number, bigint>();
  private consumer: GroupConsumer | undefined;
  private stopped = false;
  /** For looking at a partition's tail and at the application's offsets; connected on first use. */
  private admin: Promise<ClusterAdmin> | undefined;
  /** Per partition: the newest batch whose tail is to be looked at, and when the last look started. */
  private readonly tailsDue = new Map<number, TailCheck>();
  private readonly tailTimers = new Map<number, NodeJS.Timeout>();
  private readonly lastTailCheck = new Map<number, number>();
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
    for (const [partition, inputs] of await this.storedInputs()) this.appliedInputs.set(partition, inputs);
    for (const [partition, end] of ends)
      if ((positions.get(partition) ?? 0n) >= end)
        this.reachedEnd(partition, this.appliedInputs.get(partition), positions.get(partition) ?? 0n);

    const consumer = this.options.kafka.groupConsumer({
      groupId: this.options.groupId(),
      topics: [this.options.topic],
      fetchMaxWaitMs: 50,
      onJoin: ({ assignment }) => {
        for (const partition of assignment[this.options.topic] ?? [])
          consumer.seek(this.options.topic, partition, positions.get(partition) ?? 0n);
      },
      onBatchDone: ({ partition, lag, nextOffset, highWatermark }) => {
        this.lag.set(partition, lag);
        this.tailsDue.delete(partition);
        if (lag === 0n) this.reachedEnd(partition, this.appliedInputs.get(partition), nextOffset);
        else if (lag <= BigInt(MARKER_LOOKBACK))
          this.scheduleTailCheck(partition, {
            nextOffset,
            end: highWatermark,
            applied: this.appliedInputs.get(partition),
          });
      },
      eachBatch: async (batch) => {
        const entries: BatchEntry[] = [];
        const from = positions.get(batch.partition) ?? 0n;
        let inputs: Buffer | undefined;
        for (const record of batch.records) {
          if (BigInt(record.offset) < from) continue;
          inputs = committedInputsHeader(record.headers) ?? inputs;
          if (!record.key) continue;
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
        const decoded = inputs && this.decodeInputs(inputs);
        if (decoded) entries.push({ key: inputsKey(batch.partition), value: inputs! });
        await this.backend.write(entries);
        positions.set(batch.partition, batch.nextOffset);
        if (decoded) this.appliedInputs.set(batch.partition, decoded);
      },
    });
    this.consumer = consumer;
    await consumer.start();
    if (this.options.inputTopics && this.options.applicationGroupId) {
      this.probeTimer = setInterval(() => void this.probeCommitted(), COMMITTED_PROBE_INTERVAL_MS);
      this.probeTimer.unref();
    }
  }

  get ready(): boolean {
    return this.partitions > 0 && this.caughtUp.size >= this.partitions;
  }

  get partitionCount(): number {
    return this.partitions;
  }

  partitionOf(key: Buffer): number {
    return partitionForKey(key, this.partitions);
  }

  get(key: Buffer): Buffer | undefined {
    return this.backend.getSync(Buffer.concat([ROW, key]));
  }

  /** What the partition's rows provably reflect of the writing task's input (undefined: nothing proven yet). */
  position(partition: number): TaskPosition | undefined {
    const applied = this.provenInputs.get(partition);
    return applied && { applied, lagRecords: this.lag.get(partition) };
  }

  /** The replica had read every record of the partition when it had read to `at` and applied `applied`. */
  private reachedEnd(partition: number, applied: Map<string, bigint> | undefined, at: bigint): void {
    const first = !this.caughtUp.has(partition);
    this.caughtUp.add(partition);
    // Claims only add: one made late (a tail looked at after newer batches) is still true of the rows.
    if (applied) this.provenInputs.set(partition, newerOf(this.provenInputs.get(partition), applied));
    if (at > (this.endReachedAt.get(partition) ?? -1n)) this.endReachedAt.set(partition, at);
    this.proveCommitted(partition);
    if (first && this.ready) this.log.info('replica caught up with the topic');
  }

  /**
   * Reads the application's committed offsets of the writing task's inputs, then the topic's high
   * watermarks (committedThenEnds): a replica that has been at the end past them has applied those
   * commits, though a later commit that wrote nothing to the partition carried no offsets in a record.
   */
  async probeCommitted(): Promise<void> {
    const { inputTopics, applicationGroupId, topic } = this.options;
    if (this.probing || this.stopped || !inputTopics || !applicationGroupId || this.caughtUp.size === 0) return;
    this.probing = true;
    try {
      const admin = await this.connectedAdmin();
      // Only then are a task's committed offsets those of one partition of the topic.
      this.partitionedAlike ??= (await Promise.all(inputTopics.map((input) => admin.highWatermarks(input)))).every(
        (input) => input.size === this.partitions,
      );
      if (!this.partitionedAlike) return;
      const { committed, ends } = await committedThenEnds(
        inputTopics,
        [topic],
        (input) => admin.groupOffsets(applicationGroupId, input),
        (output) => admin.highWatermarks(output),
      );
      for (const [partition, until] of ends.get(topic) ?? []) {
        const inputs = offsetsAt(committed, inputTopics, partition);
        if (inputs.size === 0) continue;
        this.committedDue.set(partition, { inputs, until });
        this.proveCommitted(partition);
      }
    } catch (error) {
      this.dropAdmin();
      if (!this.stopped) this.log.debug('could not read the application offsets; next time', { error });
    } finally {
      this.probing = false;
    }
  }

  private proveCommitted(partition: number): void {
    const due = this.committedDue.get(partition);
    if (!due || (this.endReachedAt.get(partition) ?? -1n) < due.until) return;
    this.provenInputs.set(partition, newerOf(this.provenInputs.get(partition), due.inputs));
    this.committedDue.delete(partition);
  }

  private connectedAdmin(): Promise<ClusterAdmin> {
    this.admin ??= (async () => {
      const admin = this.options.kafka.admin();
      await admin.connect();
      return admin;
    })();
    return this.admin;
  }

  /** A fresh connection next time; the failed one is closed, if it ever opened. */
  private dropAdmin(): void {
    const failed = this.admin;
    this.admin = undefined;
    void failed?.then((admin) => admin.disconnect()).catch(() => undefined);
  }

  /** Looks at the partition's tail for `check` soon, at most once every TAIL_CHECK_INTERVAL_MS. */
  private scheduleTailCheck(partition: number, check: TailCheck): void {
    this.tailsDue.set(partition, check);
    if (this.tailTimers.has(partition)) return;
    const wait = (this.lastTailCheck.get(partition) ?? 0) + TAIL_CHECK_INTERVAL_MS - Date.now();
    const timer = setTimeout(() => void this.checkTail(partition), Math.max(0, wait));
    timer.unref();
    this.tailTimers.set(partition, timer);
  }

  /** At the end after all if only transaction markers lie between the batch's next offset and its end. */
  private async checkTail(partition: number): Promise<void> {
    const check = this.tailsDue.get(partition);
    this.tailsDue.delete(partition);
    this.lastTailCheck.set(partition, Date.now());
    try {
      if (!check) return;
      const recordsEnd = await committedRecordsEnd(await this.connectedAdmin(), `${this.options.groupId()}-tail`, {
        topic: this.options.topic,
        partition,
        end: check.end,
        lookback: MARKER_LOOKBACK,
      });
      if (check.nextOffset >= recordsEnd) this.reachedEnd(partition, check.applied, check.nextOffset);
    } catch (error) {
      this.dropAdmin();
      if (!this.stopped)
        this.log.warn('could not look at the end of a partition; waiting for the consumer to reach it', {
          partition,
          error,
        });
    } finally {
      this.tailTimers.delete(partition);
      const next = this.tailsDue.get(partition);
      if (next && !this.stopped) this.scheduleTailCheck(partition, next);
    }
  }

  private decodeInputs(value: Buffer): Map<string, bigint> | undefined {
    return this.options.inputTopics && decodeCommittedInputs(this.options.inputTopics, value);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.tailTimers.values()) clearTimeout(timer);
    clearInterval(this.probeTimer);
    await this.consumer?.stop().catch(() => undefined);
    const admin = await this.admin?.catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
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

  private async storedInputs(): Promise<Map<number, Map<string, bigint>>> {
    const inputs = new Map<number, Map<string, bigint>>();
    for await (const [key, value] of this.backend.entries(INPUTS)) {
      const decoded = this.decodeInputs(value);
      if (decoded) inputs.set(Number(key.subarray(INPUTS.length).toString()), decoded);
    }
    return inputs;
  }
}

function inputsKey(partition: number): Buffer {
  return Buffer.concat([INPUTS, Buffer.from(String(partition))]);
}

function offsetKey(partition: number): Buffer {
  return Buffer.concat([OFFSET, Buffer.from(String(partition))]);
}
