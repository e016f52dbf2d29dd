/**
 * What a task does with one input record, shared by the Kafka runtime and the
 * test driver: run it through the task's processors; if the record cannot be
 * decoded or is invalid, take back its writes and output and turn it into a
 * dead letter instead, so processing goes on with the next record.
 */
import type { CompiledTopology, SubTopology } from '../processor/compile.js';
import type { PunctuationType } from '../processor/api.js';
import {
  DEFAULT_MAX_RECORD_BYTES,
  RecordTooLargeError,
  recordErrorKind,
  type RecordErrorKind,
} from '../processor/errors.js';
import { recordSize } from '../kafka/commit-writer.js';
import { TaskGraph, type TaskGraphOptions } from '../processor/task-graph.js';
import type { WindowExpiry } from '../processor/nodes/window-aggregate.js';
import type {
  DropReason,
  Header,
  KeyValueStore,
  OutgoingRecord,
  ProcessorContext,
  RecordOrigin,
} from '../processor/types.js';
import type { TaskState } from '../state/task-state.js';

export type InputRecord = RecordOrigin;

const NO_ERRORS: readonly Error[] = [];
const NO_DROPS: ReadonlyMap<DropReason, number> = new Map();
const NO_RECORDS: InputRecord[] = [];

/** The origin while a punctuator runs: no input record (ProcessorContext.recordMetadata is undefined). */
const PUNCTUATION: RecordOrigin = { topic: '', partition: -1, offset: '-1', timestamp: 0, key: null, value: null };

/** A record that failed (RecordErrorKind says how): what becomes of it is the application's policy for that kind. */
export interface DeadLetter {
  readonly record: InputRecord;
  readonly taskId: string;
  readonly reason: string;
  readonly kind: RecordErrorKind;
  readonly error: Error;
}

export function taskIdOf(subtopology: number, partition: number): string {
  return `${subtopology}_${partition}`;
}

export class TaskCore {
  readonly id: string;
  readonly graph: TaskGraph;
  /** Records to write in the next commit (sinks and repartition topics), in order. */
  outbox: OutgoingRecord[] = [];
  private readonly punctuationErrors: Error[] = [];
  /** Drops by the record being processed (they count once it succeeds), and those counted since the last take. */
  private recordDrops: DropReason[] = [];
  private drops = new Map<DropReason, number>();
  /** The input records some node dropped as late since the last call of takeLateRecords, each once. */
  private lateRecords: InputRecord[] = [];
  /** Per window store, the start before which its windows were last deleted (see expireWindows). */
  private readonly lastExpiry = new Map<string, number>();
  private current: RecordOrigin = { topic: '', partition: -1, offset: '-1', timestamp: 0, key: null, value: null };

  constructor(
    topology: CompiledTopology,
    readonly subtopology: SubTopology,
    readonly partition: number,
    readonly state: TaskState,
    options: TaskGraphOptions,
  ) {
    this.id = taskIdOf(subtopology.id, partition);
    const currentOrigin = () => this.current;
    const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    const context: ProcessorContext = {
      taskId: this.id,
      partition,
      get origin() {
        return currentOrigin();
      },
      store: <K, V>(name: string): KeyValueStore<K, V> => state.store<K, V>(name),
      send: (record) => {
        const bytes = recordSize(record);
        if (bytes > maxRecordBytes) throw new RecordTooLargeError(record.topic, bytes, maxRecordBytes);
        this.outbox.push(record);
      },
      recordDropped: (reason) => this.recordDrops.push(reason),
    };
    this.graph = new TaskGraph(topology, subtopology, context, options);
  }

  /**
   * Processes a record; returns a dead letter instead of throwing when the record is bad. Then fires
   * the stream-time punctuators whose time has come.
   */
  process(record: InputRecord): DeadLetter | undefined {
    const letter = this.guarded(record, () =>
      this.graph.process(record.topic, record.key, record.value, record.timestamp),
    );
    if (this.graph.punctuation.size > 0) this.punctuate('stream-time', this.graph.streamTime);
    return letter;
  }

  /**
   * Fires the punctuators of `type` whose time has come by `now` (for stream time, the task's). Each
   * runs as a record does: what it writes and sends goes into the next commit; if it throws, its
   * writes and records are taken back and the error is kept for `takePunctuationErrors`.
   */
  punctuate(type: PunctuationType, now: number): void {
    this.graph.punctuation.fire(type, now, (punctuate) => {
      const letter = this.guarded({ ...PUNCTUATION, timestamp: now }, punctuate);
      if (letter) this.punctuationErrors.push(letter.error);
    });
  }

  /** The errors of punctuators that threw since the last call. */
  takePunctuationErrors(): readonly Error[] {
    return this.punctuationErrors.length === 0 ? NO_ERRORS : this.punctuationErrors.splice(0);
  }

  /** Fills the task's suppression buffers from their restored stores (before init). */
  async loadBuffers(): Promise<void> {
    await this.graph.loadBuffers((storeName) => this.state.committedRows(storeName));
  }

  /** The task's stores are restored and records come next: its processors of the Processor API initialize. */
  init(): void {
    this.graph.init();
  }

  /** The task is closing: its processors of the Processor API may clean up. */
  close(): void {
    this.graph.close();
  }

  /** Changes held back by caching nodes, not yet forwarded. */
  get heldChanges(): number {
    let held = 0;
    for (const cache of this.graph.caches) held += cache.heldCount;
    return held;
  }

  /**
   * Forwards every held change downstream (before a commit, so the commit
   * carries their effects). A change whose processing fails becomes a dead
   * letter of the input record that made it last.
   */
  flush(): DeadLetter[] {
    const letters: DeadLetter[] = [];
    while (this.heldChanges > 0) {
      for (const cache of this.graph.caches) {
        cache.flush((origin, forward) => {
          const letter = this.guarded(origin, forward);
          if (letter) letters.push(letter);
        });
      }
    }
    return letters;
  }

  /** Runs one record's work; if it throws, takes back its writes, output and holds. */
  private guarded(record: InputRecord, work: () => void): DeadLetter | undefined {
    this.current = record;
    const outboxLength = this.outbox.length;
    this.state.beginRecord();
    for (const node of this.graph.undoable) node.beginRecord();
    this.recordDrops.length = 0;
    try {
      work();
      this.state.endRecord();
      for (const reason of this.recordDrops) this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
      if (this.recordDrops.includes('late')) this.lateRecords.push(record);
      return undefined;
    } catch (caught) {
      this.state.rollbackRecord();
      for (const node of this.graph.undoable) node.rollbackRecord();
      this.outbox.length = outboxLength;
      const error = caught instanceof Error ? caught : new Error(String(caught));
      return { record, taskId: this.id, reason: error.name, kind: recordErrorKind(error), error };
    }
  }

  /**
   * The input records dropped as late (by any node, once each) since the last call: with a held change
   * flushed later, the record that made that change last.
   */
  takeLateRecords(): InputRecord[] {
    if (this.lateRecords.length === 0) return NO_RECORDS;
    return this.lateRecords.splice(0);
  }

  /** Records dropped on purpose since the last call (see ProcessorContext.recordDropped), per reason. */
  takeDrops(): ReadonlyMap<DropReason, number> {
    if (this.drops.size === 0) return NO_DROPS;
    const taken = this.drops;
    this.drops = new Map();
    return taken;
  }

  /**
   * What has expired in the task's window and session stores, as of the records processed so far:
   * taken when a commit starts, so that its times are the committed ones (records processed while
   * the commit is in flight may move them on, and after a crash they are processed again).
   */
  windowExpiries(): WindowExpiry[] {
    return this.graph.expiredWindows();
  }

  /**
   * Drops what has expired (`expiries`, taken when the commit started) from the task's window and
   * session stores, once the time before which it expires has moved by a segment interval (half the
   * retention, at least a minute, as Kafka Streams' segments) since the last time: run after that
   * commit, on committed state. Returns the rows changed.
   */
  async expireWindows(expiries: readonly WindowExpiry[]): Promise<number> {
    let changed = 0;
    for (const { storeName, before, prune } of expiries) {
      const last = this.lastExpiry.get(storeName);
      const retention = this.state.retentionOf(storeName);
      if (last !== undefined && before - last < Math.max(retention / 2, 60_000)) continue;
      this.lastExpiry.set(storeName, before);
      changed += await this.state.pruneRows(storeName, prune);
    }
    return changed;
  }

  /** Takes the records to write in this commit. */
  drainOutbox(): OutgoingRecord[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }
}

/** Headers of a dead letter that say why and where from; the record's own headers come before them. */
export const DEAD_LETTER_HEADER_PREFIX = 'dlq.';

/**
 * The record a dead letter is written as: the original bytes and headers, with headers saying why
 * and where from (so `uis replay-dead-letters` can write it back as it was).
 */
export function deadLetterRecord(topic: string, letter: DeadLetter): OutgoingRecord {
  const header = (key: string, value: string): Header => ({
    key: DEAD_LETTER_HEADER_PREFIX + key,
    value: Buffer.from(value),
  });
  return {
    topic,
    key: letter.record.key,
    value: letter.record.value,
    timestamp: letter.record.timestamp,
    headers: [
      ...(letter.record.headers ?? []),
      header('reason', letter.reason),
      header('error', letter.error.message.slice(0, 1000)),
      header('source.topic', letter.record.topic),
      header('source.partition', String(letter.record.partition)),
      header('source.offset', letter.record.offset),
      header('task', letter.taskId),
    ],
  };
}
