import type { KeyValueStore } from '../types.js';

const ROW = Buffer.alloc(0);

/** The name of the store that keeps a windowed node's stream time beside its store `storeName`. */
export function streamTimeStoreName(storeName: string): string {
  return `${storeName}-stream-time`;
}

/**
 * A windowed node's stream time (the largest timestamp of the records that reached it), kept in a
 * store of its own, so that after a restart or a move the node decides as it would have: which
 * records are late, which windows are closed, what a suppression lets through. (Kafka Streams keeps it
 * in memory only and starts again from the next record.) Written with the node's other writes, so it
 * is committed and restored with them.
 */
export class StreamTime {
  private known: number | undefined;

  private readonly row: Buffer;

  /** `name` tells apart the times a node keeps in one store (the node's own stream time has none). */
  constructor(
    private readonly store: KeyValueStore<Buffer, Buffer>,
    name = '',
  ) {
    this.row = name === '' ? ROW : Buffer.from(name);
  }

  /** -1 before the first record. */
  get value(): number {
    if (this.known === undefined) {
      const row = this.store.get(this.row);
      this.known = row === null ? -1 : Number(row.readBigInt64BE(0));
    }
    return this.known;
  }

  /** Moves stream time on to `timestamp` if it is later. */
  observe(timestamp: number): void {
    if (timestamp > this.value) this.set(timestamp);
  }

  /** Sets the time, earlier or later (a join's earliest buffered time moves both ways). */
  set(timestamp: number): void {
    if (timestamp === this.value) return;
    this.known = timestamp;
    const row = Buffer.allocUnsafe(8);
    row.writeBigInt64BE(BigInt(timestamp));
    this.store.put(this.row, row);
  }

  /** Forgets the value read, so the next read comes from the store (its write was taken back). */
  reload(): void {
    this.known = undefined;
  }
}
