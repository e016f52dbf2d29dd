/**
 * The bottom layer of a task's state: an ordered bytes map with atomic batch
 * writes. One backend per task holds all of the task's stores (under key
 * prefixes) and their changelog checkpoints, so that data and checkpoint are
 * always written in one atomic batch.
 */
export interface BatchEntry {
  readonly key: Buffer;
  /** null deletes the key. */
  readonly value: Buffer | null;
}

/** Bounds of a range read, as LevelDB's iterator options take them. */
export interface BackendRange {
  gt?: Buffer;
  gte?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
  reverse: boolean;
  limit: number;
}

export interface StateBackend {
  /** A synchronous point read (LevelDB's getSync): no event-loop turn per lookup. */
  getSync(key: Buffer): Buffer | undefined;
  /** Applies every entry, or none. */
  write(batch: readonly BatchEntry[]): Promise<void>;
  /**
   * Builds the write of `batch` now and returns what applies it (as `write` does), so that the
   * building overlaps writes in flight. The returned writes apply in the order they are called.
   */
  prepare(batch: readonly BatchEntry[]): () => Promise<void>;
  /** Entries whose key starts with `prefix`, in key order. */
  entries(prefix: Buffer): AsyncIterable<[Buffer, Buffer]>;
  /** At most `range.limit` entries within the bounds, in key order (or reversed), from one snapshot. */
  range(range: BackendRange): Promise<Array<[Buffer, Buffer]>>;
  /** Deletes every entry whose key starts with `prefix`. */
  clear(prefix: Buffer): Promise<void>;
  /**
   * A large load begins (a restore from scratch): until `endBulkLoad` the backend may trade memory for
   * write speed. Nothing else may use the backend while either runs.
   */
  startBulkLoad(): Promise<void>;
  endBulkLoad(): Promise<void>;
  close(): Promise<void>;
}
