// The stateful table operators: a stream read as a table, and aggregation.
import type { AnyFn } from '../../dsl/graph.js';
import type { Change, KeyValueStore } from '../types.js';
import { ForwardingProcessor } from './node.js';

/** Upserts each record into the table's store and forwards the change. */
export class ToTable extends ForwardingProcessor {
  constructor(private readonly store: KeyValueStore<unknown, unknown>) {
    super();
  }

  process(key: unknown, value: unknown, timestamp: number): void {
    const oldValue = this.store.get(key);
    const newValue = value ?? null;
    if (oldValue === null && newValue === null) return;
    this.store.put(key, newValue);
    this.forward(key, { newValue, oldValue }, timestamp);
  }
}

/**
 * Folds regrouped rows into one value per group: the old contribution is
 * subtracted, the new one added, so updates and deletes keep it exact.
 */
export class Aggregate extends ForwardingProcessor {
  constructor(
    private readonly store: KeyValueStore<unknown, unknown>,
    private readonly initializer: AnyFn,
    private readonly adder: AnyFn,
    private readonly subtractor: AnyFn | undefined,
  ) {
    super();
  }

  process(key: unknown, change: Change<unknown>, timestamp: number): void {
    const previous = this.store.get(key);
    let aggregate = previous ?? this.initializer();
    if (change.oldValue !== null && this.subtractor) aggregate = this.subtractor(key, change.oldValue, aggregate);
    if (change.newValue !== null) aggregate = this.adder(key, change.newValue, aggregate);
    this.store.put(key, aggregate);
    this.forward(key, { newValue: aggregate, oldValue: previous }, timestamp);
  }
}
