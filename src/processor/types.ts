/**
 * The contract between the runtime and the processor nodes a topology compiles
 * into. Keys and values travel as already-deserialized objects; a table's
 * update travels as a Change (its new and its old value).
 */

/** An update of a table row: what it is now and what it was. null means "no row". */
export interface Change<V> {
  readonly newValue: V | null;
  readonly oldValue: V | null;
}

/** The input record being processed: where it came from, and its bytes (for a dead letter). */
export interface RecordOrigin {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: readonly Header[];
  /**
   * The source record this one derives from, encoded (see lineage.ts): set while the task processes
   * it, by its source node or from the lineage header a repartition record carries.
   */
  lineage?: Buffer;
}

export interface Header {
  readonly key: string;
  readonly value: Buffer;
}

/** A record leaving the task for a Kafka topic (a sink, a repartition or a changelog topic). */
export interface OutgoingRecord {
  readonly topic: string;
  /** Set for changelog records (same partition as the task); otherwise chosen from the key. */
  readonly partition?: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly timestamp: number;
  readonly headers?: readonly Header[];
}

/** A typed key-value store as processors see it. Reads see the task's own uncommitted writes. */
export interface KeyValueStore<K, V> {
  readonly name: string;
  get(key: K): V | null;
  /** null deletes the key. */
  put(key: K, value: V | null): void;
}

export interface ProcessorContext {
  readonly taskId: string;
  readonly partition: number;
  /** The input record currently being processed. */
  readonly origin: RecordOrigin;
  store<K, V>(name: string): KeyValueStore<K, V>;
  /** Queues a record for a topic; it is written in the task's next commit. */
  send(record: OutgoingRecord): void;
  /**
   * Says that a node drops the current record by its semantics, not as an error (`late`: a window it
   * falls in had closed); the runtime counts it per reason.
   */
  recordDropped(reason: DropReason): void;
  /**
   * The headers a processor of the Processor API gave the record it is forwarding (see
   * nodes/user-processor.ts), while it forwards it: sinks write them. Unset otherwise.
   */
  forwardedHeaders?: readonly Header[];
}

/**
 * Why a node dropped a record on purpose: `late`, after its window's grace period; `null-key-or-value`,
 * a record a windowed node cannot use (sliding windows and stream-stream joins skip those, as in Kafka Streams).
 */
export type DropReason = 'late' | 'null-key-or-value';

/** One node of a running task. */
export interface Processor {
  process(key: unknown, value: unknown, timestamp: number): void;
}

/**
 * A node that holds back its changes until the task flushes it (before each
 * commit, or when too many are held), forwarding only the newest change per
 * key: like Kafka Streams' record cache, it spares downstream nodes and
 * output topics the intermediate values of a busy key.
 */
export interface ChangeCache extends RecordScoped {
  readonly heldCount: number;
  /** Hands each held change to `run`, with the input record that made it last, to forward it. */
  flush(run: (origin: RecordOrigin, forward: () => void) => void): void;
}

/** A node with state of its own besides its stores' writes, which a failed record's work must not change. */
export interface RecordScoped {
  /** Starts a new input record: what it does from here can be taken back. */
  beginRecord(): void;
  /** Takes back what the current input record did (it failed). */
  rollbackRecord(): void;
}

/**
 * The instance's global stores (GlobalKTable): a row's bytes by store name and key bytes, as the
 * store holds them when asked (undefined: no row).
 */
export interface GlobalStoreReader {
  get(storeName: string, key: Buffer): Buffer | undefined;
}

/** Reads a table's current value for a key, from its store or computed from upstream tables. */
export type ValueGetter = (key: unknown) => unknown;
