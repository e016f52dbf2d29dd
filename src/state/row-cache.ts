/**
 * Committed rows a task read from its backend lately, bounded by bytes, least recently used out first.
 * A join reads the other sides of a key on every change of it, and a hot key (a celebrity's follower
 * count) changes again and again: from here such a read costs a map lookup instead of a LevelDB read
 * (a native call, a block search, often a block decompressed). Absent rows are kept too (null), so a
 * side that has no row for a key is not looked up again.
 *
 * The cache only ever holds what the backend holds: TaskState fills it from backend reads and from
 * the writes it has just applied, and clears it whenever the backend changes another way.
 */
export class RowCache {
  private readonly rows = new Map<string, Buffer | null>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  /** `maxBytes` 0 keeps nothing. */
  constructor(private readonly maxBytes: number) {}

  /** The cached row (null: known absent), or undefined when not cached. */
  get(key: string): Buffer | null | undefined {
    const row = this.rows.get(key);
    if (row === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.rows.delete(key); // now the most recently used
    this.rows.set(key, row);
    return row;
  }

  set(key: string, row: Buffer | null): void {
    if (this.maxBytes === 0) return;
    const old = this.rows.get(key);
    if (old !== undefined) {
      this.bytes -= sizeOf(key, old);
      this.rows.delete(key);
    }
    const size = sizeOf(key, row);
    if (size > this.maxBytes) return;
    this.rows.set(key, row);
    this.bytes += size;
    while (this.bytes > this.maxBytes) {
      const [oldestKey, oldestRow] = this.rows.entries().next().value as [string, Buffer | null];
      this.rows.delete(oldestKey);
      this.bytes -= sizeOf(oldestKey, oldestRow);
    }
  }

  clear(): void {
    this.rows.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.rows.size;
  }

  get sizeBytes(): number {
    return this.bytes;
  }
}

/** A Buffer object and a map entry cost about this much beside the bytes themselves. */
const ENTRY_OVERHEAD_BYTES = 96;

function sizeOf(key: string, row: Buffer | null): number {
  return key.length + (row?.length ?? 0) + ENTRY_OVERHEAD_BYTES;
}
