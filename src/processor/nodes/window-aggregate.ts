import type { AnyFn } from '../../dsl/graph.js';
import type { TimeWindows, Windowed } from '../../dsl/windows.js';
import type { ValueAndTimestamp } from '../../serdes/windowed.js';
import type { Change, KeyValueStore, ProcessorContext } from '../types.js';
import { HoldingProcessor, type AggregateCaching } from './table.js';

/**
 * Folds a grouped stream's records into one aggregate per key and time window, as Kafka Streams'
 * KStreamWindowAggregate: each record goes into every window it falls in that is still open, that is
 * whose end is after this node's stream time (the largest timestamp it has seen) less the grace
 * period; for a closed window the record is dropped (`late`). An aggregate's timestamp is the
 * largest of the records folded into it, and so is that of the change forwarded.
 */
export class WindowAggregate extends HoldingProcessor {
  private observedStreamTime = -1;

  constructor(
    private readonly context: ProcessorContext,
    private readonly store: KeyValueStore<Windowed<unknown>, ValueAndTimestamp<unknown>>,
    private readonly windows: TimeWindows,
    private readonly initializer: AnyFn,
    private readonly adder: AnyFn,
    /** How long windows are kept after they start (at least size plus grace). */
    private readonly retentionMs: number,
    caching?: AggregateCaching,
  ) {
    super(caching);
  }

  /**
   * Windows of the store that start before the returned time have expired: their retention has passed
   * in this node's stream time, so they are closed and no record changes them again. Undefined before
   * the first record.
   */
  get expiredBefore(): number | undefined {
    return this.observedStreamTime < 0 ? undefined : this.observedStreamTime - this.retentionMs + 1;
  }

  get storeName(): string {
    return this.store.name;
  }

  /**
   * `change.newValue` is the record's value (a grouped stream sends no old values); a null value is
   * aggregated too, as Kafka Streams' windowed aggregations do (a count counts it).
   */
  process(key: unknown, change: Change<unknown>, timestamp: number): void {
    const value = change.newValue;
    this.observedStreamTime = Math.max(this.observedStreamTime, timestamp);
    const closeTime = this.observedStreamTime - this.windows.graceMs;
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
