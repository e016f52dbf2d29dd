import { ClassicLevel } from 'classic-level';
import type { BackendRange, BatchEntry, StateBackend } from './backend.js';

/** LevelDB's memory per store: its block cache, and its memtable (LevelDB may hold two at once); and its compression. */
export interface StoreMemory {
  cacheBytes?: number;
  /** Snappy-compressed table blocks (LevelDB's default). */
  compression?: boolean;
  writeBufferBytes?: number;
  /** The memtable while bulk loading (see startBulkLoad). */
  bulkWriteBufferBytes?: number;
  /** Compression of the tables a bulk load writes (absent: as `compression`). */
  bulkCompression?: boolean;
}

/**
 * How the thread that opens stores shares them with another thread. classic-level frees a shared
 * database's block cache with the handle that opened it, so the opener must close last: before it
 * closes, the other thread lets go (`beforeClose`), and it opens a store only while `opened`.
 */
export interface StoreSharing {
  opened(directory: string): void;
  beforeClose(directory: string): Promise<void>;
}

let sharing: StoreSharing | undefined;

/** Sets how this thread's stores are shared (the engine's thread, when another thread serves them). */
export function shareStores(how: StoreSharing): void {
  sharing = how;
}

/** A task's state in its own LevelDB directory. */
export class LevelDbBackend implements StateBackend {
  private bulkLoading = false;
  /** Bytes of keys and values written since the memtable was last written out (modulo its size). */
  private unwrittenBytes = 0;
  private writingOut: Promise<void> | undefined;

  private constructor(
    private db: ClassicLevel<Buffer, Buffer>,
    private readonly directory: string,
    private readonly shared: StoreSharing | undefined,
    private readonly memory: StoreMemory,
  ) {}

  /**
   * Opens (or creates) the store. Every open is multithreaded: the serving thread may open the
   * engine thread's stores too, and then both share one LevelDB (classic-level counts the opens).
   */
  static async open(directory: string, memory: StoreMemory = {}): Promise<LevelDbBackend> {
    const backend = await LevelDbBackend.openWith(directory, memory, true, sharing);
    sharing?.opened(directory);
    return backend;
  }

  /** Opens a store that another thread has open (see StoreSharing), to read it: never creates one. */
  static async openShared(directory: string): Promise<LevelDbBackend> {
    return LevelDbBackend.openWith(directory, {}, false, undefined);
  }

  private static async openWith(
    directory: string,
    memory: StoreMemory,
    createIfMissing: boolean,
    shared: StoreSharing | undefined,
  ): Promise<LevelDbBackend> {
    const db = new ClassicLevel<Buffer, Buffer>(directory, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      multithreading: true,
      createIfMissing,
      ...(memory.cacheBytes !== undefined ? { cacheSize: memory.cacheBytes } : {}),
      ...(memory.compression !== undefined ? { compression: memory.compression } : {}),
      ...(memory.writeBufferBytes !== undefined ? { writeBufferSize: memory.writeBufferBytes } : {}),
    });
    await db.open();
    return new LevelDbBackend(db, directory, shared, memory);
  }

  /**
   * Reopens the store with a memtable of `bulkWriteBufferBytes`. LevelDB compacts every store of the
   * process on one background thread; a restore written through small memtables makes many small
   * level-0 tables that must be merged again and again, and writes stall behind that one thread. A
   * memtable the size of much of the store writes it out in a few large tables (the first of a new
   * store straight to a lower level), with little left to compact.
   */
  async startBulkLoad(): Promise<void> {
    const bulk = this.memory.bulkWriteBufferBytes;
    if (this.bulkLoading || !bulk || bulk < (this.memory.writeBufferBytes ?? 0)) return;
    this.bulkLoading = true;
    await this.reopen({
      ...this.memory,
      writeBufferBytes: bulk,
      compression: this.memory.bulkCompression ?? this.memory.compression,
    });
  }

  /**
   * Writes the large memtable out to one table, then reopens the store with its own settings. (Reopened
   * without that, LevelDB would replay the memtable's log into small memtables: many small tables.)
   */
  async endBulkLoad(): Promise<void> {
    if (!this.bulkLoading) return;
    this.bulkLoading = false;
    await this.writeOutMemtable();
    await this.reopen(this.memory);
  }

  /**
   * About how much of the memtable is in use: the bytes written since it was last written out, less
   * the memtables LevelDB has written out by itself since (each at its configured size).
   */
  get memtableBytes(): number {
    return this.unwrittenBytes;
  }

  /**
   * Writes the memtable out to a level-0 table now, unless that is already under way. A large memtable
   * makes a backlog cheaper to compact, but once caught up it is only cost: memory held, and a skip
   * list that every read searches before the tables.
   */
  writeOutMemtable(): Promise<void> {
    this.writingOut ??= this.compactNothing().finally(() => (this.writingOut = undefined));
    return this.writingOut;
  }

  private async compactNothing(): Promise<void> {
    this.unwrittenBytes = 0;
    // Compacting a key range first writes the memtable out; a range beyond every key (ours start with
    // a letter) then compacts nothing.
    await this.db.compactRange(BEYOND_EVERY_KEY, Buffer.concat([BEYOND_EVERY_KEY, BEYOND_EVERY_KEY]));
  }

  private async reopen(memory: StoreMemory): Promise<void> {
    await this.close();
    this.unwrittenBytes = 0;
    this.db = (await LevelDbBackend.openWith(this.directory, memory, false, this.shared)).db;
    this.shared?.opened(this.directory);
  }

  /**
   * Table files in level 0. LevelDB's one compaction thread per process merges them into the lower
   * levels; when it falls behind they pile up, and from 8 on every write is slowed (stopped at 12).
   */
  levelZeroFiles(): number {
    if (this.db.status !== 'open') return 0;
    return Number(this.db.getProperty('leveldb.num-files-at-level0')) || 0;
  }

  /** LevelDB's memory for this store: its memtables and the blocks in its block cache (LevelDB's estimate). */
  memoryBytes(): number {
    if (this.db.status !== 'open') return 0;
    return Number(this.db.getProperty('leveldb.approximate-memory-usage')) || 0;
  }

  /** LevelDB's compaction work on this store since it was opened (memtable flushes included). */
  compactionStats(): CompactionStats {
    if (this.db.status !== 'open') return { seconds: 0, readBytes: 0, writtenBytes: 0 };
    return parseCompactionStats(String(this.db.getProperty('leveldb.stats')));
  }

  getSync(key: Buffer): Buffer | undefined {
    return this.db.getSync(key) ?? undefined;
  }

  /** One chained batch: about a third of the JavaScript work of an array of operations. */
  async write(batch: readonly BatchEntry[]): Promise<void> {
    await this.prepare(batch)();
  }

  prepare(batch: readonly BatchEntry[]): () => Promise<void> {
    if (batch.length === 0) return () => Promise.resolve();
    const chained = this.db.batch();
    let bytes = 0;
    for (const e of batch) {
      if (e.value === null) chained.del(e.key);
      else chained.put(e.key, e.value);
      bytes += e.key.length + (e.value?.length ?? 0);
    }
    return async () => {
      await chained.write();
      this.unwrittenBytes += bytes;
      const limit =
        (this.bulkLoading ? this.memory.bulkWriteBufferBytes : this.memory.writeBufferBytes) ??
        LEVELDB_WRITE_BUFFER_BYTES;
      if (this.unwrittenBytes >= limit) this.unwrittenBytes -= limit;
    };
  }

  async *entries(prefix: Buffer): AsyncIterable<[Buffer, Buffer]> {
    for await (const [key, value] of this.db.iterator({ gte: prefix, lt: prefixEnd(prefix) })) yield [key, value];
  }

  async range(range: BackendRange): Promise<Array<[Buffer, Buffer]>> {
    // An iterator reads from an implicit snapshot: the entries are one consistent state.
    return this.db.iterator(range).all();
  }

  async clear(prefix: Buffer): Promise<void> {
    await this.db.clear({ gte: prefix, lt: prefixEnd(prefix) });
  }

  async close(): Promise<void> {
    await this.writingOut?.catch(() => undefined);
    if (this.db.status === 'open') await this.shared?.beforeClose(this.directory);
    await this.db.close();
  }
}

export interface CompactionStats {
  seconds: number;
  readBytes: number;
  writtenBytes: number;
}

const MIB = 1024 * 1024;

/**
 * Sums the per-level rows of LevelDB's `leveldb.stats` property (columns: level, files, size MB,
 * time s, read MB, write MB; LevelDB prints whole numbers).
 */
export function parseCompactionStats(stats: string): CompactionStats {
  const total: CompactionStats = { seconds: 0, readBytes: 0, writtenBytes: 0 };
  for (const line of stats.split('\n')) {
    const columns = line.trim().split(/\s+/).map(Number);
    if (columns.length !== 6 || columns.some((n) => !Number.isFinite(n))) continue;
    total.seconds += columns[3]!;
    total.readBytes += columns[4]! * MIB;
    total.writtenBytes += columns[5]! * MIB;
  }
  return total;
}

const BEYOND_EVERY_KEY = Buffer.alloc(8, 0xff);
/** LevelDB's memtable size when none is configured. */
const LEVELDB_WRITE_BUFFER_BYTES = 4 * MIB;

/** The smallest key greater than every key starting with `prefix` (prefixes here never end in 0xff). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1]! += 1;
  return end;
}
