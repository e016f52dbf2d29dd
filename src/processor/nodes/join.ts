// Table-table joins on the key. A change on either side recomputes the
// joined row from the change and the other side's current value.
import type { AnyFn, JoinMode } from '../../dsl/graph.js';
import type { Change, KeyValueStore, Processor, ValueGetter } from '../types.js';
import { ForwardingProcessor } from './node.js';

export class TableJoin extends ForwardingProcessor {
  constructor(
    private readonly joiner: AnyFn,
    private readonly mode: JoinMode,
    private readonly leftGetter: ValueGetter,
    private readonly rightGetter: ValueGetter,
    private readonly store: KeyValueStore<unknown, unknown> | undefined,
    /** Whether downstream uses old rows; without, one is worked out only to tell a delete of nothing. */
    private readonly sendOldValues = true,
  ) {
    super();
  }

  /** The joined row for a left and right row; null when the join has no row. */
  join(left: unknown, right: unknown): unknown {
    const l = left ?? null;
    const r = right ?? null;
    const exists =
      this.mode === 'inner' ? l !== null && r !== null : this.mode === 'left' ? l !== null : l !== null || r !== null;
    return exists ? this.joiner(l, r) : null;
  }

  /** The processor its parent on one side forwards to. */
  side(side: 'left' | 'right'): Processor {
    return {
      process: (key, change, timestamp) => {
        const { newValue, oldValue } = change as Change<unknown>;
        if (side === 'left') {
          const right = this.rightGetter(key);
          this.emit(key, this.join(newValue, right), () => this.join(oldValue, right), timestamp);
        } else {
          const left = this.leftGetter(key);
          this.emit(key, this.join(left, newValue), () => this.join(left, oldValue), timestamp);
        }
      },
    };
  }

  process(): void {
    throw new Error('unreachable: a join receives changes through its sides');
  }

  private emit(key: unknown, newValue: unknown, computeOld: () => unknown, timestamp: number): void {
    const oldValue = !this.sendOldValues && newValue !== null ? null : this.store ? this.store.get(key) : computeOld();
    if (newValue === null && oldValue === null) return;
    this.store?.put(key, newValue);
    this.forward(key, { newValue, oldValue }, timestamp);
  }
}

/**
 * A stream joined with a table on the key: each stream record looks up the table's current row. A
 * record with a null value is dropped; one with a null key too, except by a left join, which joins
 * it with null (as Kafka Streams does since KIP-962). Table updates only change what later records find.
 */
export class StreamTableJoin extends ForwardingProcessor {
  constructor(
    private readonly joiner: AnyFn,
    private readonly leftJoin: boolean,
    private readonly tableGetter: ValueGetter,
  ) {
    super();
  }

  /** The processor its parent on one side forwards to; the table side's updates need no work here. */
  side(side: 'stream' | 'table'): Processor {
    return side === 'stream' ? this : { process: () => undefined };
  }

  process(key: unknown, value: unknown, timestamp: number): void {
    if (value === null || value === undefined) return;
    const row = key === null || key === undefined ? null : (this.tableGetter(key) ?? null);
    if (row === null && !this.leftJoin) return;
    this.forward(key, this.joiner(value, row), timestamp);
  }
}

/**
 * A stream joined with a global table: each record looks up the row of the key its selector
 * computes. A null value gives nothing; so does a null computed key, except that a left join of a
 * record whose own key is null too joins it with null (Kafka Streams' KIP-962).
 */
export class StreamGlobalJoin extends ForwardingProcessor {
  constructor(
    private readonly keySelector: AnyFn,
    private readonly joiner: AnyFn,
    private readonly leftJoin: boolean,
    private readonly lookup: ValueGetter,
  ) {
    super();
  }

  process(key: unknown, value: unknown, timestamp: number): void {
    if (value === null || value === undefined) return;
    const globalKey: unknown = this.keySelector(key, value);
    if (globalKey === null || globalKey === undefined) {
      if (this.leftJoin && (key === null || key === undefined))
        this.forward(key, this.joiner(value, null, key), timestamp);
      return;
    }
    const row = this.lookup(globalKey) ?? null;
    if (row === null && !this.leftJoin) return;
    this.forward(key, this.joiner(value, row, key), timestamp);
  }
}
