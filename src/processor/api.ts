/**
 * The Processor API: processors written by hand, as in Kafka Streams' org.apache.kafka.streams.processor.api.
 * A processor gets each record with its headers and metadata, reads and writes the state stores connected
 * to it, forwards records to its children (all, or one by name) and schedules punctuators. Everything it
 * does (store writes, forwarded records) is part of its task's next transaction, like the DSL's operators.
 */
import type { Header, KeyValueStore } from './types.js';

/** A record as a processor sees it (Kafka Streams' Record; named so as not to hide TypeScript's Record). */
export interface StreamRecord<K, V> {
  readonly key: K;
  readonly value: V;
  /** Milliseconds since the epoch: the input record's timestamp, or what a processor set. */
  readonly timestamp: number;
  readonly headers: readonly Header[];
}

/** Where the record being processed was read: absent while a punctuator runs. */
export interface RecordMetadata {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/**
 * stream-time: fires as the task's stream time (the largest record timestamp it has processed) passes
 * each interval; wall-clock-time: fires as the system clock does, checked between records.
 */
export type PunctuationType = 'stream-time' | 'wall-clock-time';

export interface Cancellable {
  cancel(): void;
}

export interface ProcessorContext<KOut, VOut> {
  readonly taskId: string;
  /** The partition of the task's input topics this task processes. */
  readonly partition: number;
  recordMetadata(): RecordMetadata | undefined;
  /** The largest timestamp among the records this task has processed (-1 before the first). */
  currentStreamTimeMs(): number;
  currentSystemTimeMs(): number;
  /** Sends a record to every child, or to the child of that name. */
  forward(record: StreamRecord<KOut, VOut>, childName?: string): void;
  /** A store connected to this processor (KStream.process's `stores`, Topology.addStateStore). */
  getStateStore<K, V>(name: string): KeyValueStore<K, V>;
  /**
   * Calls `punctuator` every `intervalMs` of stream time or of wall-clock time, with the time it fires
   * at; its writes and records are part of the task's next transaction.
   */
  schedule(intervalMs: number, type: PunctuationType, punctuator: (timestamp: number) => void): Cancellable;
}

export interface Processor<KIn, VIn, KOut = never, VOut = never> {
  /** Called once when the task starts running: its stores are restored, records come next. */
  init?(context: ProcessorContext<KOut, VOut>): void;
  process(record: StreamRecord<KIn, VIn>): void;
  /** Called when the task closes (its state may already be gone: do not write to it). */
  close?(): void;
}

/** Makes a new processor for each task: processors keep per-task state and must not be shared. */
export type ProcessorSupplier<KIn, VIn, KOut = never, VOut = never> = () => Processor<KIn, VIn, KOut, VOut>;
