import type { AnyFn } from '../../dsl/graph.js';
import type { SlidingWindows, Window } from '../../dsl/windows.js';
import type { Serde } from '../../serdes/serde.js';
import type { WindowRow } from '../../serdes/windowed.js';
import type { Change, KeyValueStore, ProcessorContext } from '../types.js';
import type { AggregateCaching } from './table.js';
import type { StreamTime } from './stream-time.js';
import { pruneWindowRows, WindowedAggregate, type WindowExpiry } from './window-aggregate.js';

/** A window's aggregate and timestamp as the algorithm passes them around (Kafka Streams' ValueAndTimestamp). */
interface Aggregated {
  readonly aggregate: unknown;
  readonly timestamp: number;
}

/**
 * Folds a grouped stream's records into sliding windows, as Kafka Streams' KStreamSlidingWindowAggregate
 * (its reverse-iteration path, the one its persistent stores take): a record updates every window
 * that holds it, creates the window ending at it (from the newest window before it) and, when a
 * later record exists, the window starting just after it; the previous record's right window is
 * created when this record falls in it. Windows closed in this node's stream time (end plus grace)
 * are skipped and counted `late`; null values are dropped. A key's windows are kept in one row.
 */
export class SlidingWindowAggregate extends WindowedAggregate {
  /** The key's windows while a record is processed, by start. */
  private rows = new Map<number, WindowRow<unknown>>();

  constructor(
    context: ProcessorContext,
    streamTime: StreamTime,
    /**
     * The largest window start written (Kafka Streams' window-store time): windows are visible while
     * their start is after it less the retention, as in its store, which the algorithm relies on.
     */
    private readonly storeTime: StreamTime,
    private readonly store: KeyValueStore<unknown, WindowRow<unknown>[]>,
    private readonly rowsSerde: Serde<WindowRow<unknown>[]>,
    private readonly windows: SlidingWindows,
    private readonly initializer: AnyFn,
    private readonly adder: AnyFn,
    /** How long windows are kept after they start (at least twice the time difference plus grace). */
    private readonly retention: number,
    caching?: AggregateCaching,
  ) {
    super(context, streamTime, retention, caching);
  }

  override rollbackRecord(): void {
    super.rollbackRecord();
    this.storeTime.reload();
  }

  /** Windows that start before this have expired from the store. */
  private get visibleFrom(): number {
    return this.storeTime.value - this.retention + 1;
  }

  get expiry(): WindowExpiry | undefined {
    if (this.storeTime.value < 0) return undefined;
    const before = this.visibleFrom;
    return {
      storeName: this.store.name,
      before,
      prune: pruneWindowRows(this.rowsSerde, (window) => window.start >= before),
    };
  }

  process(key: unknown, change: Change<unknown>, timestamp: number): void {
    const value = change.newValue;
    if (key === null || value === null) {
      this.context.recordDropped('null-key-or-value');
      return;
    }
    const D = this.windows.timeDifferenceMs;
    this.streamTime.observe(timestamp);
    const closeTime = this.streamTime.value - this.windows.graceMs;
    if (timestamp + D < closeTime) {
      this.context.recordDropped('late');
      return;
    }
    const visibleFrom = this.visibleFrom;
    this.rows = new Map();
    for (const row of this.store.get(key) ?? []) if (row.start >= visibleFrom) this.rows.set(row.start, row);
    const step = new SlidingStep(this, key, value, timestamp, closeTime);
    if (timestamp < D) step.early();
    else step.reverse();
    this.store.put(
      key,
      [...this.rows.values()].sort((a, b) => a.start - b.start),
    );
  }

  /** The key's visible windows that start from `from` to `to`, earliest first. */
  windowsBetween(from: number, to: number): WindowRow<unknown>[] {
    return [...this.rows.values()].filter((r) => r.start >= from && r.start <= to).sort((a, b) => a.start - b.start);
  }

  /**
   * Folds the record into `window`, whose aggregate so far is `before` (null: none), if the window is
   * still open (its end at or after the close time); otherwise the record is late for it.
   */
  update(
    key: unknown,
    window: Window,
    before: Aggregated | null,
    value: unknown,
    timestamp: number,
    closeTime: number,
    existed: boolean,
  ): void {
    if (window.end < closeTime) {
      this.context.recordDropped('late');
      return;
    }
    const old = before === null ? null : before.aggregate;
    const aggregate = this.adder(key, value, old);
    const aggregateTime = old === null ? timestamp : Math.max(timestamp, before!.timestamp);
    this.put(window.start, aggregate, aggregateTime);
    this.emit({ key, window }, existed ? old : null, aggregate, aggregateTime);
  }

  /** Writes the window starting at `start` with an aggregate that did not change (a record's right window). */
  copy(key: unknown, start: number, from: Aggregated): void {
    this.put(start, from.aggregate, from.timestamp);
    this.emit(
      { key, window: { start, end: start + this.windows.timeDifferenceMs } },
      null,
      from.aggregate,
      from.timestamp,
    );
  }

  private put(start: number, aggregate: unknown, timestamp: number): void {
    const end = start + this.windows.timeDifferenceMs;
    this.storeTime.observe(start);
    this.rows.set(start, { start, end, timestamp, aggregate });
  }

  /** A new window's aggregate before its first record. */
  initial(timestamp: number): Aggregated | null {
    const aggregate = this.initializer();
    return aggregate === null ? null : { aggregate, timestamp };
  }

  get timeDifferenceMs(): number {
    return this.windows.timeDifferenceMs;
  }
}

/** One record's pass over its key's windows (Kafka Streams' processReverse and processEarly). */
class SlidingStep {
  private readonly D: number;

  constructor(
    private readonly node: SlidingWindowAggregate,
    private readonly key: unknown,
    private readonly value: unknown,
    private readonly t: number,
    private readonly closeTime: number,
  ) {
    this.D = node.timeDifferenceMs;
  }

  private window(start: number): Window {
    return { start, end: start + this.D };
  }

  private update(start: number, before: Aggregated | null, existed: boolean): void {
    this.node.update(this.key, this.window(start), before, this.value, this.t, this.closeTime, existed);
  }

  /** A record at or after the time difference: windows from the newest start down. */
  reverse(): void {
    const { t, D } = this;
    const seen = new Set<number>();
    let leftAggregate: Aggregated | null = null;
    let rightAggregate: Aggregated | null = null;
    let leftExists = false;
    let rightExists = false;
    let previous: number | undefined;
    const candidates = this.node.windowsBetween(Math.max(0, t - 2 * D), t + 1).reverse();
    for (const row of candidates) {
      seen.add(row.start);
      const end = row.start + D;
      if (row.start === t + 1) {
        rightExists = true;
      } else if (end > t) {
        rightAggregate ??= row;
        this.update(row.start, row, true);
      } else if (end === t) {
        leftExists = true;
        this.update(row.start, row, true);
        if (row.timestamp < t) previous = row.timestamp;
        else return; // a record at this time was here before: its windows exist
      } else {
        leftAggregate = row;
        previous = row.timestamp;
        break;
      }
    }
    if (previous !== undefined) {
      const previousRight = previous + 1;
      if (!seen.has(previousRight) && previousRight + D >= t) this.update(previousRight, this.node.initial(t), false);
    }
    if (!leftExists) {
      const from =
        previous !== undefined && t - D <= previous && leftAggregate !== null
          ? { aggregate: leftAggregate.aggregate, timestamp: t }
          : this.node.initial(t);
      this.update(t - D, from, false);
    }
    if (!rightExists && rightAggregate !== null && rightAggregate.timestamp > t)
      this.node.copy(this.key, t + 1, rightAggregate);
  }

  /** A record before the time difference: its left window is the shared [0, difference]. */
  early(): void {
    const { t } = this;
    const seen = new Set<number>();
    let combined: WindowRow<unknown> | undefined;
    let rightAggregate: Aggregated | null = null;
    let rightExists = false;
    let previous: number | undefined;
    for (const row of this.node.windowsBetween(0, t + 1)) {
      seen.add(row.start);
      if (row.start === 0) {
        combined = row;
        if (row.timestamp < t) previous = row.timestamp;
      } else if (row.start <= t) {
        rightAggregate = row;
        this.update(row.start, row, true);
      } else {
        rightExists = true;
      }
    }
    if (rightAggregate === null && combined !== undefined && combined.timestamp > t) rightAggregate = combined;
    if (!rightExists && rightAggregate !== null && rightAggregate.timestamp > t)
      this.node.copy(this.key, t + 1, rightAggregate);
    if (previous !== undefined && !seen.has(previous + 1)) this.update(previous + 1, this.node.initial(t), false);
    if (combined === undefined) this.update(0, this.node.initial(t), false);
    else this.update(0, combined, true);
  }
}
