/**
 * What the record being processed changed, to take it back if the record fails: each entry a key and
 * what it held before (undefined: nothing). Kept in two arrays reused from record to record, as this
 * runs for every write of every record and a failure is rare.
 */
export class UndoLog<K, V> {
  private readonly keys: K[] = [];
  private readonly before: Array<V | undefined> = [];

  record(key: K, before: V | undefined): void {
    this.keys.push(key);
    this.before.push(before);
  }

  /** Forgets every entry (the record succeeded, or a new one starts). */
  clear(): void {
    if (this.keys.length === 0) return;
    this.keys.length = 0;
    this.before.length = 0;
  }

  /** Hands back each entry, latest first, then forgets them. */
  rollback(restore: (key: K, before: V | undefined) => void): void {
    for (let i = this.keys.length - 1; i >= 0; i--) restore(this.keys[i]!, this.before[i]);
    this.clear();
  }
}
