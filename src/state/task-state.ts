/**
 * A task's state: its stores in one backend, and the writes made since the
 * last commit. Writes stay in memory (the task can read them back) until the
 * task's Kafka transaction commits; then they are applied to the backend in
 * one batch together with the changelog checkpoints. So the backend only ever
 * holds committed state, and its checkpoints say exactly how far it is.
 */
import { UndoLog } from '../util/undo-log.js';
import type { CompiledStore } from '../processor/compile.js';
import type { KeyValueStore, OutgoingRecord } from '../processor/types.js';
import type { BatchEntry, StateBackend } from './backend.js';
import { CHECKPOINT_PREFIX, checkpointKey, storePrefix } from './keys.js';
import { RowCache } from './row-cache.js';
import { backendRange, type RangeQuery } from './range-query.js';

/** Rows deleted or rewritten per LevelDB batch when pruning a store. */
const PRUNE_BATCH = 10_000;

interface PendingWrite {
  readonly store: CompiledStore;
  readonly key: Buffer;
  readonly value: Buffer | null;
}

/** A snapshot of writes being committed: their changelog records, and how to apply them afterwards. */
export interface CommitSnapshot {
  readonly changelogRecords: OutgoingRecord[];
  /** Applies the snapshot and the new checkpoints (next offset per changelog topic) to the backend. */
  apply(checkpoints: ReadonlyMap<string, bigint>): Promise<void>;
}

/** No key read or written yet (see TaskState.store). */
const NO_KEY = Symbol('no key');

export class TaskState {
  /** Writes since the last commit started, by full backend key (latin1). */
  private pending = new Map<string, PendingWrite>();
  /** Writes of the commit in flight: still readable until applied. */
  private committing = new Map<string, PendingWrite>();
  /** A commit was started and is neither applied nor discarded yet: the next must wait for it. */
  private commitOpen = false;
  /** Undo log of the record being processed, to take back a failed record's writes. */
  private readonly undo = new UndoLog<string, PendingWrite>();
  /** A record is being processed (its writes are logged in `undo`). */
  private inRecord = false;
  private readonly stores = new Map<string, CompiledStore>();
  private readonly prefixes = new Map<string, Buffer>();
  /** The checkpoints written last, per changelog topic (known once read or written). */
  private readonly knownCheckpoints = new Map<string, bigint>();
  /** Committed rows read or written lately (see RowCache): what the backend holds for them. */
  readonly rowCache: RowCache;

  constructor(
    readonly backend: StateBackend,
    stores: readonly CompiledStore[],
    private readonly partition: number,
    options: { rowCacheBytes?: number } = {},
  ) {
    this.rowCache = new RowCache(options.rowCacheBytes ?? 0);
    for (const store of stores) {
      this.stores.set(store.name, store);
      this.prefixes.set(store.name, storePrefix(store.name));
    }
  }

  get storeNames(): string[] {
    return [...this.stores.keys()];
  }

  get changelogTopics(): string[] {
    return [...this.stores.values()].map((s) => s.changelogTopic);
  }

  get hasPendingWrites(): boolean {
    return this.pending.size > 0;
  }

  /** The typed view processors use: reads see uncommitted writes. */
  store<K, V>(name: string): KeyValueStore<K, V> {
    const spec = this.spec(name);
    const prefix = this.prefixOf(name);
    // The key of the last get or put, in its three forms: an aggregate reads a key and then writes it.
    // Only a primitive key is reused (an object key may have changed since).
    let lastKey: unknown = NO_KEY;
    let lastKeyBytes = prefix;
    let lastFullKey = prefix;
    let lastId = '';
    const keyOf = (key: K): void => {
      if (Object.is(key, lastKey) && (typeof key !== 'object' || key === null)) return;
      lastKeyBytes = spec.keySerde.serialize(key);
      lastFullKey = Buffer.concat([prefix, lastKeyBytes]);
      lastId = lastFullKey.toString('latin1');
      lastKey = key;
    };
    return {
      name,
      get: (key: K): V | null => {
        keyOf(key);
        const bytes = this.readLatest(lastFullKey, lastId);
        return bytes === undefined ? null : (spec.valueSerde.deserialize(bytes) as V);
      },
      put: (key: K, value: V | null): void => {
        keyOf(key);
        this.write(spec, lastId, lastKeyBytes, value === null ? null : spec.valueSerde.serialize(value));
      },
    };
  }

  /** A committed row's bytes, for serving: never an uncommitted write. */
  readCommitted(storeName: string, key: Buffer): Buffer | undefined {
    return this.backend.getSync(Buffer.concat([this.prefixOf(storeName), key]));
  }

  /** Committed rows of a store in a range (keys without the store's prefix), from one snapshot. */
  async rangeCommitted(storeName: string, query: RangeQuery): Promise<Array<[Buffer, Buffer]>> {
    const prefix = this.prefixOf(storeName);
    const entries = await this.backend.range(backendRange(prefix, query));
    return entries.map(([key, value]) => [key.subarray(prefix.length), value]);
  }

  /** Every committed row of a store (keys without the store's prefix), in key order. */
  async *committedRows(storeName: string): AsyncIterable<[Buffer, Buffer]> {
    const prefix = this.prefixOf(storeName);
    for await (const [key, value] of this.backend.entries(prefix)) yield [key.subarray(prefix.length), value];
  }

  beginRecord(): void {
    this.undo.clear();
    this.inRecord = true;
  }

  /** Takes back every write of the current record. */
  rollbackRecord(): void {
    this.undo.rollback((fullKey, previous) => {
      if (previous) this.pending.set(fullKey, previous);
      else this.pending.delete(fullKey);
    });
    this.inRecord = false;
  }

  endRecord(): void {
    this.undo.clear();
    this.inRecord = false;
  }

  /**
   * Moves the pending writes into a commit. The changelog gets one record per
   * written key (its last value), which is all a compacted changelog keeps.
   */
  startCommit(): CommitSnapshot {
    // The writes of a commit shadow the backend until they are in it; a second commit would take
    // that shadow away from the first's writes while they may not have landed.
    if (this.commitOpen) throw new Error('a commit is in flight: apply (or discard) it before starting the next');
    this.commitOpen = true;
    this.committing = this.pending;
    this.pending = new Map();
    const writes = this.committing;
    const changelogRecords: OutgoingRecord[] = [...writes.values()].map((w) => ({
      topic: w.store.changelogTopic,
      partition: this.partition,
      key: w.key,
      value: w.value,
      timestamp: Date.now(),
    }));
    return {
      changelogRecords,
      apply: async (checkpoints) => {
        const batch: BatchEntry[] = [...writes].map(([fullKey, w]) => ({
          key: Buffer.from(fullKey, 'latin1'),
          value: w.value,
        }));
        for (const [topic, offset] of checkpoints)
          batch.push({ key: checkpointKey(topic), value: Buffer.from(offset.toString()) });
        await this.backend.write(batch);
        for (const [topic, offset] of checkpoints) this.knownCheckpoints.set(topic, offset);
        // Before the writes stop shadowing the backend, so no read in between caches an older row.
        for (const [fullKey, w] of writes) this.rowCache.set(fullKey, w.value);
        if (this.committing === writes) {
          this.committing = new Map();
          this.commitOpen = false;
        }
      },
    };
  }

  /** Forgets every uncommitted write (the commit failed; the task starts again from committed state). */
  discardUncommitted(): void {
    this.pending = new Map();
    this.committing = new Map();
    this.commitOpen = false;
    this.undo.clear();
    this.inRecord = false;
    this.rowCache.clear(); // the task starts again as after a restart, with nothing cached
  }

  /**
   * Deletes or rewrites a store's committed rows as `prune` says (null: delete, bytes: rewrite,
   * undefined: keep): how window and session stores drop what has expired. Not through the changelog:
   * as Kafka Streams drops expired segments, the changelog's own retention removes them there, and a
   * restore brings back only what the next pruning removes again. Returns how many rows changed.
   */
  async pruneRows(
    storeName: string,
    prune: (key: Buffer, value: Buffer) => Buffer | null | undefined,
  ): Promise<number> {
    const prefix = this.prefixOf(storeName);
    let changed: BatchEntry[] = [];
    let count = 0;
    const write = async () => {
      await this.backend.write(changed);
      for (const { key, value } of changed) this.rowCache.set(key.toString('latin1'), value);
      count += changed.length;
      changed = [];
    };
    for await (const [key, value] of this.backend.entries(prefix)) {
      const pruned = prune(key.subarray(prefix.length), value);
      if (pruned === undefined) continue;
      changed.push({ key, value: pruned });
      if (changed.length >= PRUNE_BATCH) await write();
    }
    if (changed.length > 0) await write();
    return count;
  }

  /** Offsets the backend is restored up to, per changelog topic (absent: restore from the beginning). */
  async checkpoints(): Promise<Map<string, bigint>> {
    const result = new Map<string, bigint>();
    for await (const [key, value] of this.backend.entries(CHECKPOINT_PREFIX)) {
      result.set(key.subarray(CHECKPOINT_PREFIX.length).toString(), BigInt(value.toString()));
    }
    this.knownCheckpoints.clear();
    for (const [topic, offset] of result) this.knownCheckpoints.set(topic, offset);
    return result;
  }

  /** The sum of the stores' checkpoints: how far this copy of the task's state is (for the assignor). */
  get checkpointSum(): bigint {
    let sum = 0n;
    for (const offset of this.knownCheckpoints.values()) sum += offset;
    return sum;
  }

  /**
   * What must be read from each changelog (of this task's partition) to bring the stores up to
   * date: from its checkpoint to `endOf(topic)`. A store without a checkpoint, or whose checkpoint
   * is beyond the changelog's end (a recreated topic), is wiped and read from the start.
   */
  async restoreRanges(
    endOf: (changelogTopic: string) => Promise<bigint>,
    onWipe: (storeName: string, reason: string) => void,
  ): Promise<Array<{ topic: string; partition: number; from: bigint; to: bigint }>> {
    const checkpoints = await this.checkpoints();
    const ranges = [];
    for (const store of this.stores.values()) {
      const end = await endOf(store.changelogTopic);
      let from = checkpoints.get(store.changelogTopic);
      if (from === undefined || from > end) {
        if (from !== undefined) onWipe(store.name, 'its checkpoint is beyond the changelog end');
        await this.wipe(store.name);
        from = 0n;
      }
      ranges.push({ topic: store.changelogTopic, partition: this.partition, from, to: end });
    }
    return ranges;
  }

  /** Applies changelog records read during a restore, and the offset restored up to. */
  async applyRestored(storeName: string, records: readonly BatchEntry[], nextOffset: bigint): Promise<void> {
    await this.prepareRestored(
      storeName,
      records.map((r) => r.key),
      records.map((r) => r.value),
      nextOffset,
    )();
  }

  /**
   * Builds the write of changelog records (keys and values, in offset order) and of the offset
   * restored up to, and returns what applies it: a restore builds the next write of a store while
   * the one before is written. A store's writes must apply in the order they were built.
   */
  prepareRestored(
    storeName: string,
    keys: readonly Buffer[],
    values: ReadonlyArray<Buffer | null>,
    nextOffset: bigint,
  ): () => Promise<void> {
    const prefix = this.prefixOf(storeName);
    let length = 0;
    for (const key of keys) length += prefix.length + key.length;
    // The prefixed keys share one buffer: one allocation per write rather than one per key.
    const prefixed = Buffer.allocUnsafeSlow(length);
    const batch: BatchEntry[] = new Array<BatchEntry>(keys.length + 1);
    for (let i = 0, at = 0; i < keys.length; i++) {
      const key = keys[i]!;
      prefixed.set(prefix, at);
      prefixed.set(key, at + prefix.length);
      const end = at + prefix.length + key.length;
      batch[i] = { key: prefixed.subarray(at, end), value: values[i] ?? null };
      at = end;
    }
    const topic = this.spec(storeName).changelogTopic;
    batch[keys.length] = { key: checkpointKey(topic), value: Buffer.from(nextOffset.toString()) };
    const write = this.backend.prepare(batch);
    return async () => {
      await write();
      this.knownCheckpoints.set(topic, nextOffset);
      if (this.rowCache.size > 0) this.rowCache.clear();
    };
  }

  /**
   * Deletes a store's rows and checkpoint, for a restore from scratch. The checkpoint goes first:
   * after a crash in between, the rows left over have no checkpoint, so the next start wipes
   * them again instead of trusting them.
   */
  async wipe(storeName: string): Promise<void> {
    const topic = this.spec(storeName).changelogTopic;
    await this.backend.write([{ key: checkpointKey(topic), value: null }]);
    this.knownCheckpoints.delete(topic);
    await this.backend.clear(this.prefixOf(storeName));
    this.rowCache.clear();
  }

  /** A window store's retention in ms (0 for other stores). */
  retentionOf(storeName: string): number {
    return this.spec(storeName).retentionMs ?? 0;
  }

  private spec(name: string): CompiledStore {
    const spec = this.stores.get(name);
    if (!spec) throw new Error(`no store "${name}" in this task (it has: ${this.storeNames.join(', ') || 'none'})`);
    return spec;
  }

  private prefixOf(name: string): Buffer {
    this.spec(name);
    return this.prefixes.get(name)!;
  }

  /** `k` is `fullKey` as latin1, the key of the pending writes. */
  private readLatest(fullKey: Buffer, k: string): Buffer | undefined {
    const write = this.pending.get(k) ?? this.committing.get(k);
    if (write) return write.value ?? undefined;
    const cached = this.rowCache.get(k);
    if (cached !== undefined) return cached ?? undefined;
    const row = this.backend.getSync(fullKey);
    this.rowCache.set(k, row ?? null);
    return row;
  }

  /** `k`: the full key (prefix and key) as latin1. */
  private write(store: CompiledStore, k: string, key: Buffer, value: Buffer | null): void {
    if (this.inRecord) this.undo.record(k, this.pending.get(k));
    this.pending.set(k, { store, key, value });
  }
}
