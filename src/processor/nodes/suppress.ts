import type { SuppressSpec } from '../../dsl/graph.js';
import type { Windowed } from '../../dsl/windows.js';
import type { Change, ChangeCache, Header, KeyValueStore, ProcessorContext, RecordOrigin } from '../types.js';
import { ForwardingProcessor } from './node.js';
import type { StreamTime } from './stream-time.js';

/** A buffered change: the latest of its key, kept until its buffer time plus the wait has passed. */
interface BufferEntry {
  /** When the entry's wait started: its window's end, or the time of the key's first buffered change. */
  readonly bufferTime: number;
  readonly keyBytes: Buffer;
  /** The key's value before its first buffered change (what lookups of the suppressed table see). */
  readonly prior: Buffer | null;
  /** The latest change's old and new values. */
  readonly old: Buffer | null;
  readonly value: Buffer | null;
  /** The latest change's record: its timestamp and headers go with the emitted change. */
  readonly origin: RecordOrigin;
}

/** An emitted change waiting for the task to flush it downstream. */
interface Emitted {
  readonly entry: BufferEntry;
  readonly change: Change<unknown>;
}

/**
 * Kafka Streams' KTableSuppressProcessor: each change replaces its key's entry in a buffer (the key
 * keeps its first buffer time), and every entry whose buffer time plus the wait is at or before this
 * node's stream time leaves it, oldest first (then by key bytes), as does the oldest when the buffer
 * holds too many records or bytes (or the application stops, under `shut-down`). Final results
 * (`window-close`) drop tombstones. The buffer is mirrored in a store, so its changelog restores it.
 * Emitted changes go downstream when the task flushes (with the record that made them last), so the
 * node is one of the task's change caches.
 */
export class Suppress extends ForwardingProcessor implements ChangeCache {
  private readonly entries = new Map<string, BufferEntry>();
  private readonly queue = new EntryQueue();
  private bytes = 0;
  private emitted: Emitted[] = [];
  /** How to take back what the current record did to the buffer, if it fails. */
  private undo: Array<() => void> = [];

  constructor(
    private readonly context: ProcessorContext,
    private readonly streamTime: StreamTime,
    private readonly store: KeyValueStore<Buffer, Buffer>,
    private readonly options: SuppressSpec,
  ) {
    super();
  }

  /** Fills the buffer from its store (after a restore), before the first record. */
  load(rows: Iterable<[Buffer, Buffer]>): void {
    for (const [keyBytes, bytes] of rows) this.add(decodeEntry(keyBytes, bytes));
  }

  process(key: unknown, change: Change<unknown>, timestamp: number): void {
    const { keySerde, valueSerde, until } = this.options;
    this.streamTime.observe(timestamp);
    this.undo.push(() => this.streamTime.reload());
    const keyBytes = keySerde.serialize(key);
    const id = keyBytes.toString('latin1');
    const existing = this.entries.get(id);
    const serialize = (value: unknown) => (value === null ? null : valueSerde.serialize(value));
    const origin = this.context.origin;
    const entry: BufferEntry = {
      bufferTime:
        existing?.bufferTime ?? (until === 'window-close' ? (key as Windowed<unknown>).window.end : timestamp),
      keyBytes,
      prior: existing ? existing.prior : serialize(change.oldValue),
      old: serialize(change.oldValue),
      value: serialize(change.newValue),
      origin: { ...origin, timestamp, key: null, value: null },
    };
    if (existing) this.remove(existing);
    this.add(entry);
    this.store.put(keyBytes, encodeEntry(entry));
    this.evict();
  }

  /** The suppressed table's row for a key: while the key waits in the buffer, its value before. */
  lookup(key: unknown, parent: (key: unknown) => unknown): unknown {
    const entry = this.entries.get(this.options.keySerde.serialize(key).toString('latin1'));
    if (!entry) return parent(key);
    return entry.prior === null ? null : this.options.valueSerde.deserialize(entry.prior);
  }

  private evict(): void {
    const { waitMs, maxRecords, maxBytes, whenFull } = this.options;
    const expiry = this.streamTime.value - waitMs;
    for (let oldest = this.queue.peek(); oldest && oldest.bufferTime <= expiry; oldest = this.queue.peek()) {
      this.emit(oldest);
    }
    while (this.entries.size > maxRecords || this.bytes > maxBytes) {
      if (whenFull === 'shut-down') {
        throw new SuppressionBufferFullError(
          `suppression buffer full: ${this.entries.size} records and ${this.bytes} bytes, more than its ${maxRecords} records or ${maxBytes} bytes (BufferConfig), and it may not emit early`,
        );
      }
      this.emit(this.queue.peek()!);
    }
  }

  private emit(entry: BufferEntry): void {
    this.remove(entry);
    this.store.put(entry.keyBytes, null);
    if (entry.value === null && this.options.until === 'window-close') return; // a final result is never a tombstone
    const { valueSerde } = this.options;
    const deserialize = (bytes: Buffer | null) => (bytes === null ? null : valueSerde.deserialize(bytes));
    this.emitted.push({
      entry,
      change: { newValue: deserialize(entry.value), oldValue: deserialize(entry.old) },
    });
    this.undo.push(() => this.emitted.pop());
  }

  private add(entry: BufferEntry): void {
    this.entries.set(entry.keyBytes.toString('latin1'), entry);
    this.queue.push(entry);
    this.bytes += sizeOf(entry);
    this.undo.push(() => this.remove(entry));
  }

  private remove(entry: BufferEntry): void {
    this.entries.delete(entry.keyBytes.toString('latin1'));
    this.queue.delete(entry);
    this.bytes -= sizeOf(entry);
    this.undo.push(() => {
      this.entries.set(entry.keyBytes.toString('latin1'), entry);
      this.queue.push(entry);
      this.bytes += sizeOf(entry);
    });
  }

  get heldCount(): number {
    return this.emitted.length;
  }

  flush(run: (origin: RecordOrigin, forward: () => void) => void): void {
    const emitted = this.emitted;
    this.emitted = [];
    this.undo = [];
    for (const { entry, change } of emitted) {
      const key = this.options.keySerde.deserialize(entry.keyBytes);
      run(entry.origin, () => this.forward(key, change, entry.origin.timestamp));
    }
  }

  beginRecord(): void {
    if (this.undo.length > 0) this.undo = [];
  }

  rollbackRecord(): void {
    const undo = this.undo;
    this.undo = []; // what the undoing itself records is not kept
    for (const step of undo.reverse()) step();
    this.undo = [];
  }
}

/** A suppression buffer with `shut-down` went over its limits: the application stops, as Kafka Streams' does. */
export class SuppressionBufferFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SuppressionBufferFullError';
  }
}

function sizeOf(entry: BufferEntry): number {
  return 8 + entry.keyBytes.length + (entry.prior?.length ?? 0) + (entry.old?.length ?? 0) + (entry.value?.length ?? 0);
}

/** Entries in eviction order: buffer time, then key bytes; removed ones are skipped when they come up. */
class EntryQueue {
  private readonly heap: BufferEntry[] = [];
  private readonly removed = new Set<BufferEntry>();

  push(entry: BufferEntry): void {
    if (this.removed.delete(entry)) return; // still in the heap: it was removed and is back
    const heap = this.heap;
    heap.push(entry);
    for (let i = heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (before(heap[parent]!, heap[i]!)) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  delete(entry: BufferEntry): void {
    this.removed.add(entry);
  }

  peek(): BufferEntry | undefined {
    while (this.heap.length > 0 && this.removed.has(this.heap[0]!)) {
      this.removed.delete(this.heap[0]!);
      this.pop();
    }
    return this.heap[0];
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    for (let i = 0; ;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) break;
      [heap[smallest], heap[i]] = [heap[i]!, heap[smallest]!];
      i = smallest;
    }
  }
}

function before(a: BufferEntry, b: BufferEntry): boolean {
  if (a.bufferTime !== b.bufferTime) return a.bufferTime < b.bufferTime;
  return Buffer.compare(a.keyBytes, b.keyBytes) < 0;
}

const ENTRY_VERSION = 1;

/** An entry as its store keeps it (the key is the store's key): version, times, origin, headers, values. */
function encodeEntry(entry: BufferEntry): Buffer {
  const parts: Buffer[] = [];
  const fixed = Buffer.allocUnsafe(1 + 8 + 8 + 4);
  fixed.writeUInt8(ENTRY_VERSION, 0);
  fixed.writeBigInt64BE(BigInt(entry.bufferTime), 1);
  fixed.writeBigInt64BE(BigInt(entry.origin.timestamp), 9);
  fixed.writeInt32BE(entry.origin.partition, 17);
  parts.push(fixed, sized(Buffer.from(entry.origin.topic)), sized(Buffer.from(entry.origin.offset)));
  const headers = entry.origin.headers ?? [];
  parts.push(int32(headers.length));
  for (const header of headers) parts.push(sized(Buffer.from(header.key)), sized(header.value));
  parts.push(sized(entry.prior), sized(entry.old), sized(entry.value));
  return Buffer.concat(parts);
}

function decodeEntry(keyBytes: Buffer, bytes: Buffer): BufferEntry {
  if (bytes.readUInt8(0) !== ENTRY_VERSION) {
    throw new Error(
      `suppression buffer: an entry of version ${bytes.readUInt8(0)}, this engine reads ${ENTRY_VERSION}`,
    );
  }
  const bufferTime = Number(bytes.readBigInt64BE(1));
  const timestamp = Number(bytes.readBigInt64BE(9));
  const partition = bytes.readInt32BE(17);
  let at = 21;
  const next = (): Buffer | null => {
    const length = bytes.readInt32BE(at);
    at += 4;
    if (length < 0) return null;
    at += length;
    return bytes.subarray(at - length, at);
  };
  const topic = next()!.toString();
  const offset = next()!.toString();
  const headerCount = bytes.readInt32BE(at);
  at += 4;
  const headers: Header[] = [];
  for (let i = 0; i < headerCount; i++) headers.push({ key: next()!.toString(), value: next()! });
  const prior = next();
  const old = next();
  const value = next();
  return {
    bufferTime,
    keyBytes,
    prior,
    old,
    value,
    origin: { topic, partition, offset, timestamp, key: null, value: null, ...(headers.length ? { headers } : {}) },
  };
}

function int32(n: number): Buffer {
  const bytes = Buffer.allocUnsafe(4);
  bytes.writeInt32BE(n);
  return bytes;
}

/** Length-prefixed bytes; -1 for null. */
function sized(bytes: Buffer | null): Buffer {
  return bytes === null ? int32(-1) : Buffer.concat([int32(bytes.length), bytes]);
}
