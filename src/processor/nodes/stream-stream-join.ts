import type { AnyFn, JoinMode } from '../../dsl/graph.js';
import type { JoinWindows } from '../../dsl/windows.js';
import type { Serde } from '../../serdes/serde.js';
import type { WindowRow } from '../../serdes/windowed.js';
import type { KeyValueStore, Processor, ProcessorContext } from '../types.js';
import { ForwardingProcessor } from './node.js';
import type { StreamTime } from './stream-time.js';
import { pruneWindowRows, type WindowExpiry } from './window-aggregate.js';

/** A record kept for joining: a window of no length at its time, the record's value as its aggregate. */
type Kept = WindowRow<unknown>;

type Side = 'left' | 'right';

/** What the join keeps per side: its records by key, and the largest time written to them. */
export interface JoinSideState {
  readonly store: KeyValueStore<unknown, Kept[]>;
  readonly rowsSerde: Serde<Kept[]>;
  /** Kafka Streams' window-store time: records are visible while their time is after it less the retention. */
  readonly storeTime: StreamTime;
  readonly valueSerde: Serde<unknown>;
}

/** Times the join shares between its sides, kept beside its stores. */
export interface JoinTimes {
  /** The largest timestamp either side has seen (Kafka Streams' shared TimeTracker). */
  readonly streamTime: StreamTime;
  /** Kafka Streams' minTime: -1 stands for its "none" (Long.MAX_VALUE). */
  readonly minTime: StreamTime;
}

const NO_MIN_TIME = -1;

/**
 * Two streams joined within a time window, as Kafka Streams' KStreamKStreamJoin with the spurious-
 * result fix (JoinWindows.ofTimeDifference...): a record joins the other side's records of its key
 * whose time is within `before` ms before and `after` ms after its own (as seen from the left), each
 * result at the later of the two times. In a left or outer join, a record that found nothing waits
 * in a time-ordered buffer; it leaves joined with null once stream time passes its time plus the
 * window plus the grace, unless a match arrives first. Kafka Streams emits those only every second
 * of wall-clock time (an internal setting); here they leave with the first in-order record after
 * their window closes, which is what Kafka Streams does with that interval at 0.
 */
export class StreamStreamJoin extends ForwardingProcessor {
  constructor(
    private readonly context: ProcessorContext,
    private readonly joiner: AnyFn,
    private readonly mode: JoinMode,
    private readonly windows: JoinWindows,
    private readonly sides: Record<Side, JoinSideState>,
    private readonly times: JoinTimes,
    /** Left and outer joins: records that found nothing yet. */
    private readonly buffer: OuterJoinBuffer | undefined,
    private readonly keySerde: Serde<unknown>,
  ) {
    super();
  }

  process(): void {
    throw new Error('unreachable: a stream-stream join is fed through its sides');
  }

  /** Starts a new input record: what it does to the buffer can be taken back. */
  beginRecord(): void {
    this.buffer?.beginRecord();
  }

  /** Takes back the current record's changes to the buffer and the times (its writes are taken back apart). */
  rollbackRecord(): void {
    this.buffer?.rollbackRecord();
    for (const time of [
      this.times.streamTime,
      this.times.minTime,
      this.sides.left.storeTime,
      this.sides.right.storeTime,
    ])
      time.reload();
  }

  /** Fills the buffer from its store (restored), before the first record. */
  load(rows: Iterable<[Buffer, Buffer]>): void {
    this.buffer?.load(rows);
  }

  /** The processor its parent on one side forwards to. */
  side(side: 'left' | 'right'): Processor {
    return { process: (key, value, timestamp) => this.processSide(side, key, value, timestamp) };
  }

  private get retentionMs(): number {
    const { beforeMs, afterMs, graceMs } = this.windows;
    return beforeMs + afterMs + graceMs;
  }

  /** The stores of both sides and what of them has expired. */
  get expiries(): WindowExpiry[] {
    const expiries: WindowExpiry[] = [];
    for (const side of ['left', 'right'] as const) {
      const { store, rowsSerde, storeTime } = this.sides[side];
      if (storeTime.value < 0) continue;
      const before = storeTime.value - this.retentionMs + 1;
      expiries.push({
        storeName: store.name,
        before,
        prune: pruneWindowRows(rowsSerde, (record) => record.timestamp >= before),
      });
    }
    return expiries;
  }

  /** Whether a record of `side` that found no match waits for one (left and outer joins). */
  private outer(side: Side): boolean {
    return this.mode === 'outer' || (this.mode === 'left' && side === 'left');
  }

  /** The window as seen from `side`: how far before and after its record the other side's may be. */
  private reach(side: Side): { before: number; after: number } {
    const { beforeMs, afterMs } = this.windows;
    return side === 'left' ? { before: beforeMs, after: afterMs } : { before: afterMs, after: beforeMs };
  }

  /** The join's result for a left and a right value (null: none), whichever side brought it. */
  private joined(key: unknown, left: unknown, right: unknown): unknown {
    return this.joiner(left, right, key);
  }

  private processSide(side: Side, key: unknown, value: unknown, timestamp: number): void {
    const other: Side = side === 'left' ? 'right' : 'left';
    const { streamTime } = this.times;
    streamTime.observe(timestamp);
    const nothing = (v: unknown) => v === null || v === undefined;
    if (this.outer(side) && nothing(key) && !nothing(value)) {
      // KIP-962: a record without a key cannot match, so an outer side passes it on joined with null.
      this.forward(key, side === 'left' ? this.joined(key, value, null) : this.joined(key, null, value), timestamp);
      return;
    }
    if (nothing(key) || nothing(value)) {
      this.context.recordDropped('null-key-or-value');
      return;
    }
    if (this.buffer && timestamp === streamTime.value) this.emitClosed(side);

    const { before, after } = this.reach(side);
    const from = Math.max(0, timestamp - before);
    const to = Math.max(0, timestamp + after);
    const matches = this.visible(other, key).filter((r) => r.timestamp >= from && r.timestamp <= to);
    const keyBytes = this.buffer ? this.keySerde.serialize(key) : undefined;
    for (const match of matches) {
      if (keyBytes) this.buffer!.remove(match.timestamp, other, keyBytes);
      const result =
        side === 'left' ? this.joined(key, value, match.aggregate) : this.joined(key, match.aggregate, value);
      this.forward(key, result, Math.max(timestamp, match.timestamp));
    }
    if (this.outer(side) && matches.length === 0) {
      if (!this.buffer || to < streamTime.value) {
        this.forward(key, side === 'left' ? this.joined(key, value, null) : this.joined(key, null, value), timestamp);
      } else {
        const { minTime } = this.times;
        if (minTime.value === NO_MIN_TIME || timestamp < minTime.value) minTime.set(timestamp);
        this.buffer.add(timestamp, side, keyBytes!, this.sides[side].valueSerde.serialize(value));
      }
    }
    this.keep(side, key, value, timestamp);
  }

  /** The other side's records of `key` still within its retention, in time order (then arrival). */
  private visible(side: Side, key: unknown): Kept[] {
    const { store, storeTime } = this.sides[side];
    const from = storeTime.value - this.retentionMs + 1;
    return (store.get(key) ?? []).filter((r) => r.timestamp >= from);
  }

  /** Keeps this side's record for the other side's later records (after joining it: never with itself). */
  private keep(side: Side, key: unknown, value: unknown, timestamp: number): void {
    const { store, storeTime } = this.sides[side];
    storeTime.observe(timestamp);
    const from = storeTime.value - this.retentionMs + 1;
    if (timestamp < from) return; // Kafka Streams' store drops a write older than its retention
    const rows = (store.get(key) ?? []).filter((r) => r.timestamp >= from);
    let at = rows.length;
    while (at > 0 && rows[at - 1]!.timestamp > timestamp) at--;
    rows.splice(at, 0, { start: timestamp, end: timestamp, timestamp, aggregate: value });
    store.put(key, rows);
  }

  /**
   * Emits the buffered records whose window has closed, joined with null, earliest first (Kafka
   * Streams' emitNonJoinedOuterRecords, including its shortcut on `minTime` and its stop once both
   * sides' next records are still open).
   */
  private emitClosed(trigger: Side): void {
    const buffer = this.buffer!;
    const { streamTime, minTime } = this.times;
    const { graceMs, afterMs, beforeMs } = this.windows;
    const triggerAfter = this.reach(trigger).after;
    const now = streamTime.value;
    // Long.MAX_VALUE plus a positive reach overflows in Java, which then never takes the shortcut.
    const earliest = minTime.value;
    if (earliest === NO_MIN_TIME ? triggerAfter + graceMs <= 0 : earliest + triggerAfter + graceMs >= now) return;
    let last = NO_MIN_TIME;
    let leftOpen = false;
    let rightOpen = false;
    const emitted: BufferEntry[] = [];
    for (const entry of buffer.inOrder()) {
      last = entry.timestamp;
      if (leftOpen && rightOpen) break;
      const lookBack = entry.side === 'left' ? afterMs : beforeMs;
      if (entry.timestamp + lookBack + graceMs >= now) {
        if (entry.side === 'left') leftOpen = true;
        else rightOpen = true;
        continue;
      }
      const key = this.keySerde.deserialize(entry.keyBytes);
      const serde = this.sides[entry.side].valueSerde;
      for (const bytes of entry.values) {
        const value = serde.deserialize(bytes);
        const result = entry.side === 'left' ? this.joined(key, value, null) : this.joined(key, null, value);
        this.forward(key, result, entry.timestamp);
      }
      emitted.push(entry);
    }
    // Removed once the walk is over (removing shifts the order walked); nothing else changes the buffer meanwhile.
    for (const entry of emitted) buffer.remove(entry.timestamp, entry.side, entry.keyBytes);
    minTime.set(last);
  }
}

/** Records of one time, side and key waiting in an outer join's buffer. */
interface BufferEntry {
  readonly timestamp: number;
  readonly side: Side;
  readonly keyBytes: Buffer;
  readonly values: readonly Buffer[];
}

/**
 * The records of a left or outer join that found no match yet (Kafka Streams' shared outer join
 * store), in its order: time, then right before left, then key bytes; records of one time, side and
 * key in arrival order. Mirrored in a store (raw keys: time, side, key bytes), so its changelog
 * restores it; held in memory, loaded when a task starts, and every change of a record can be taken back.
 */
export class OuterJoinBuffer {
  /** Entries by their store key in latin1, whose string order is the bytes' order. */
  private readonly entries = new Map<string, BufferEntry>();
  private readonly order: string[] = [];
  private undo: Array<() => void> = [];

  constructor(
    private readonly store: KeyValueStore<Buffer, Buffer>,
    private readonly valuesSerde: Serde<WindowRow<Buffer>[]>,
  ) {}

  load(rows: Iterable<[Buffer, Buffer]>): void {
    for (const [storeKey, bytes] of rows) {
      const timestamp = Number(storeKey.readBigInt64BE(0));
      const side: Side = storeKey.readUInt8(8) === 1 ? 'left' : 'right';
      const values = this.valuesSerde.deserialize(bytes).map((r) => r.aggregate);
      this.set(storeKey.toString('latin1'), { timestamp, side, keyBytes: storeKey.subarray(9), values });
    }
    this.undo = [];
  }

  /** Entries in the buffer's order (the buffer must not change while they are walked). */
  *inOrder(): Iterable<BufferEntry> {
    for (const id of this.order) yield this.entries.get(id)!;
  }

  add(timestamp: number, side: Side, keyBytes: Buffer, value: Buffer): void {
    const storeKey = entryKey(timestamp, side, keyBytes);
    const id = storeKey.toString('latin1');
    const existing = this.entries.get(id);
    const entry = { timestamp, side, keyBytes, values: [...(existing?.values ?? []), value] };
    this.set(id, entry);
    this.store.put(
      storeKey,
      this.valuesSerde.serialize(
        entry.values.map((v) => ({ start: timestamp, end: timestamp, timestamp, aggregate: v })),
      ),
    );
  }

  /** Removes every record of this time, side and key (they matched, or were emitted). */
  remove(timestamp: number, side: Side, keyBytes: Buffer): void {
    const storeKey = entryKey(timestamp, side, keyBytes);
    const id = storeKey.toString('latin1');
    if (!this.entries.has(id)) return;
    this.set(id, undefined);
    this.store.put(storeKey, null);
  }

  private set(id: string, entry: BufferEntry | undefined): void {
    const previous = this.entries.get(id);
    const at = lowerBound(this.order, id);
    if (entry && !previous) this.order.splice(at, 0, id);
    if (!entry && previous) this.order.splice(at, 1);
    if (entry) this.entries.set(id, entry);
    else this.entries.delete(id);
    this.undo.push(() => this.set(id, previous));
  }

  beginRecord(): void {
    if (this.undo.length > 0) this.undo = [];
  }

  rollbackRecord(): void {
    const undo = this.undo;
    this.undo = [];
    for (const step of undo.reverse()) step();
    this.undo = [];
  }
}

/** The buffer's store key: time (8 bytes), side (1: left, 0: right, as Kafka Streams), key bytes. */
function entryKey(timestamp: number, side: Side, keyBytes: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(9 + keyBytes.length);
  bytes.writeBigInt64BE(BigInt(timestamp), 0);
  bytes.writeUInt8(side === 'left' ? 1 : 0, 8);
  keyBytes.copy(bytes, 9);
  return bytes;
}

/** The first index in the sorted `items` whose value is not below `id`. */
function lowerBound(items: readonly string[], id: string): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (items[middle]! < id) low = middle + 1;
    else high = middle;
  }
  return low;
}
