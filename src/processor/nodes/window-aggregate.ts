import type { AnyFn } from '../../dsl/graph.js';
import type { SessionWindows, TimeWindows, Windowed } from '../../dsl/windows.js';
import type { Serde } from '../../serdes/serde.js';
import type { ValueAndTimestamp, WindowRow } from '../../serdes/windowed.js';
import type { Change, KeyValueStore, ProcessorContext } from '../types.js';
import { HoldingProcessor, type AggregateCaching } from './table.js';
import type { StreamTime } from './stream-time.js';

/** What of a window or session store has expired: rows `prune` deletes (null) or rewrites; see TaskState.pruneRows. */
export interface WindowExpiry {
  readonly storeName: string;
  /** Windows (sessions: by their end) before this time have expired; it moves on with stream time. */
  readonly before: number;
  prune(key: Buffer, value: Buffer): Buffer | null | undefined;
}

/**
 * The prune of a store that keeps a key's windows in one row (sessions, sliding windows, a join's
 * records): keeps the windows `live` accepts, deletes the row when none is left.
 */
export function pruneWindowRows<A>(
  rowsSerde: Serde<WindowRow<A>[]>,
  live: (row: WindowRow<A>) => boolean,
): WindowExpiry['prune'] {
  return (_key, value) => {
    const rows = rowsSerde.deserialize(value);
    const kept = rows.filter(live);
    if (kept.length === rows.length) return undefined;
    return kept.length === 0 ? null : rowsSerde.serialize(kept);
  };
}

/**
 * What the windowed aggregates share: their stream time, kept beside their store (and read again when
 * a failed record's writes are taken back), their retention, and changes held in time order.
 */
export abstract class WindowedAggregate extends HoldingProcessor {
  constructor(
    protected readonly context: ProcessorContext,
    protected readonly streamTime: StreamTime,
    /** How long windows are kept (time windows: after they start; sessions: after they end). */
    private readonly retentionMs: number,
    caching: AggregateCaching | undefined,
  ) {
    super(caching, true);
  }

  override rollbackRecord(): void {
    super.rollbackRecord();
    this.streamTime.reload();
  }

  /** What of the node's store has expired and how to drop it; undefined before the first record. */
  abstract get expiry(): WindowExpiry | undefined;

  get expiries(): WindowExpiry[] {
    const expiry = this.expiry;
    return expiry ? [expiry] : [];
  }

  /** Windows (sessions: by their end) before this time have expired; undefined before the first record. */
  protected get expiredBefore(): number | undefined {
    return this.streamTime.value < 0 ? undefined : this.streamTime.value - this.retentionMs + 1;
  }
}

/**
 * Folds a grouped stream's records into one aggregate per key and time window, as Kafka Streams'
 * KStreamWindowAggregate: each record goes into every window it falls in that is still open, that is
 * whose end is after this node's stream time (the largest timestamp it has seen) less the grace
 * period; for a closed window the record is dropped (`late`). An aggregate's timestamp is the
 * largest of the records folded into it, and so is that of the change forwarded.
 */
export class WindowAggregate extends WindowedAggregate {
  constructor(
    context: ProcessorContext,
    streamTime: StreamTime,
    private readonly store: KeyValueStore<Windowed<unknown>, ValueAndTimestamp<unknown>>,
    private readonly windows: TimeWindows,
    private readonly initializer: AnyFn,
    private readonly adder: AnyFn,
    /** How long windows are kept after they start (at least size plus grace). */
    retentionMs: number,
    caching?: AggregateCaching,
  ) {
    super(context, streamTime, retentionMs, caching);
  }

  /**
   * The windows that start before `before` have expired: their retention has passed in this node's
   * stream time, so they are closed and no record changes them again. Undefined before the first record.
   */
  get expiry(): WindowExpiry | undefined {
    const before = this.expiredBefore;
    if (before === undefined) return undefined;
    const startAt = BigInt(before);
    return {
      storeName: this.store.name,
      before,
      // The store's keys end with the window's start (timeWindowedSerde).
      prune: (key) => (key.length >= 8 && key.readBigInt64BE(key.length - 8) < startAt ? null : undefined),
    };
  }

  /**
   * `change.newValue` is the record's value (a grouped stream sends no old values); a null value is
   * aggregated too, as Kafka Streams' windowed aggregations do (a count counts it).
   */
  process(key: unknown, change: Change<unknown>, timestamp: number): void {
    const value = change.newValue;
    this.streamTime.observe(timestamp);
    const closeTime = this.streamTime.value - this.windows.graceMs;
    for (const window of this.windows.windowsFor(timestamp)) {
      if (window.end <= closeTime) {
        this.context.recordDropped('late');
        continue;
      }
      const windowed: Windowed<unknown> = { key, window };
      const previous = this.store.get(windowed);
      const aggregate = this.adder(key, value, previous === null ? this.initializer() : previous.value);
      const aggregateTime = previous === null ? timestamp : Math.max(timestamp, previous.timestamp);
      // A reduce whose first value is null has no aggregate: no row (Kafka Streams' ValueAndTimestamp.make).
      this.store.put(windowed, aggregate === null ? null : { value: aggregate, timestamp: aggregateTime });
      this.emit(windowed, previous === null ? null : previous.value, aggregate, aggregateTime);
    }
  }
}

/**
 * Folds a grouped stream's records into sessions per key, as Kafka Streams' KStreamSessionWindowAggregate:
 * a record joins (and merges) the key's sessions within the inactivity gap of it; the merged session
 * replaces them (each replaced one is forwarded as a tombstone first), unless its end is before this
 * node's stream time less the gap and the grace period (then the record is dropped, `late`). Every
 * change carries its session's end as its timestamp. A key's sessions are kept in one row.
 */
export class SessionAggregate extends WindowedAggregate {
  constructor(
    context: ProcessorContext,
    streamTime: StreamTime,
    private readonly store: KeyValueStore<unknown, WindowRow<unknown>[]>,
    private readonly rowsSerde: Serde<WindowRow<unknown>[]>,
    private readonly windows: SessionWindows,
    private readonly initializer: AnyFn,
    private readonly adder: AnyFn,
    private readonly merger: AnyFn,
    /** How long sessions are kept after they end (at least gap plus grace). */
    retentionMs: number,
    caching?: AggregateCaching,
  ) {
    super(context, streamTime, retentionMs, caching);
  }

  process(key: unknown, change: Change<unknown>, timestamp: number): void {
    const { gapMs, graceMs } = this.windows;
    this.streamTime.observe(timestamp);
    const closeTime = this.streamTime.value - graceMs - gapMs;
    const expiredBefore = this.expiredBefore!;
    const live = (this.store.get(key) ?? []).filter((s) => s.end >= expiredBefore);
    const found = live
      .filter((s) => s.end >= timestamp - gapMs && s.start <= timestamp + gapMs)
      .sort((a, b) => a.end - b.end || a.start - b.start);
    let aggregate = this.initializer();
    let start = timestamp;
    let end = timestamp;
    for (const session of found) {
      aggregate = this.merger(key, aggregate, session.aggregate);
      start = Math.min(start, session.start);
      end = Math.max(end, session.end);
    }
    if (end < closeTime) {
      this.context.recordDropped('late');
      return;
    }
    if (start !== timestamp || end !== timestamp) {
      for (const session of found) {
        this.emit({ key, window: { start: session.start, end: session.end } }, session.aggregate, null, session.end);
      }
    }
    aggregate = this.adder(key, change.newValue, aggregate);
    const merged: WindowRow<unknown> = { start, end, timestamp: end, aggregate };
    const kept = live.filter((s) => !found.includes(s));
    this.store.put(
      key,
      [...kept, merged].sort((a, b) => a.end - b.end || a.start - b.start),
    );
    this.emit({ key, window: { start, end } }, null, aggregate, end);
  }

  /** Sessions that end before `before` have expired: their retention has passed in stream time. */
  get expiry(): WindowExpiry | undefined {
    const before = this.expiredBefore;
    if (before === undefined) return undefined;
    return {
      storeName: this.store.name,
      before,
      prune: pruneWindowRows(this.rowsSerde, (session) => session.end >= before),
    };
  }
}
