// Table-table joins on the key. A change on either side recomputes the
// joined row from the change and the other side's current value.
import type { AnyFn } from '../../dsl/graph.js';
import type { Change, KeyValueStore, Processor, ValueGetter } from '../types.js';
import { ForwardingProcessor } from './node.js';

export class TableJoin extends ForwardingProcessor {
  constructor(
    private readonly joiner: AnyFn,
    private readonly leftJoin: boolean,
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
    if (left === null || left === undefined) return null;
    if (right === null && !this.leftJoin) return null;
    return this.joiner(left, right);
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
