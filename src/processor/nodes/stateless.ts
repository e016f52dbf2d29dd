// Record-at-a-time operators, in a stream and a table variant.
import type { AnyFn } from '../../dsl/graph.js';
import type { KeyValue } from '../../dsl/options.js';
import type { Change, KeyValueStore, Processor } from '../types.js';
import { ForwardingProcessor } from './node.js';

/** Forwards every record as it is: a source's first node, a merge, a split's branch. */
export class PassThrough extends ForwardingProcessor {
  process(key: unknown, value: unknown, timestamp: number): void {
    this.forward(key, value, timestamp);
  }
}

export class StreamMapValues extends ForwardingProcessor {
  constructor(private readonly fn: AnyFn) {
    super();
  }
  process(key: unknown, value: unknown, timestamp: number): void {
    this.forward(key, this.fn(value, key), timestamp);
  }
}

export class StreamFilter extends ForwardingProcessor {
  constructor(private readonly predicate: AnyFn) {
    super();
  }
  process(key: unknown, value: unknown, timestamp: number): void {
    if (this.predicate(key, value)) this.forward(key, value, timestamp);
  }
}

export class StreamSelectKey extends ForwardingProcessor {
  constructor(private readonly fn: AnyFn) {
    super();
  }
  process(key: unknown, value: unknown, timestamp: number): void {
    this.forward(this.fn(key, value), value, timestamp);
  }
}

export class StreamMap extends ForwardingProcessor {
  constructor(private readonly fn: AnyFn) {
    super();
  }
  process(key: unknown, value: unknown, timestamp: number): void {
    const out = this.fn(key, value) as KeyValue<unknown, unknown>;
    this.forward(out.key, out.value, timestamp);
  }
}

export class StreamFlatMap extends ForwardingProcessor {
  constructor(private readonly fn: AnyFn) {
    super();
  }
  process(key: unknown, value: unknown, timestamp: number): void {
    for (const out of this.fn(key, value) as Iterable<KeyValue<unknown, unknown>>) {
      this.forward(out.key, out.value, timestamp);
    }
  }
}

export class StreamFlatMapValues extends ForwardingProcessor {
  constructor(private readonly fn: AnyFn) {
    super();
  }
  process(key: unknown, value: unknown, timestamp: number): void {
    for (const out of this.fn(value, key) as Iterable<unknown>) this.forward(key, out, timestamp);
  }
}

/** peek and foreach: the function sees each record, which goes on unchanged (foreach has no children). */
export class StreamPeek extends ForwardingProcessor {
  constructor(private readonly fn: AnyFn) {
    super();
  }
  process(key: unknown, value: unknown, timestamp: number): void {
    this.fn(key, value);
    this.forward(key, value, timestamp);
  }
}

/** Forwards each record to the branch of the first predicate it satisfies; none: it is dropped. */
export class StreamSplit extends ForwardingProcessor {
  /** Each branch's processor, by the branch's number. */
  readonly branches: Processor[] = [];

  constructor(private readonly predicates: readonly AnyFn[]) {
    super();
  }

  process(key: unknown, value: unknown, timestamp: number): void {
    const index = this.predicates.findIndex((predicate) => predicate(key, value));
    if (index >= 0) this.branches[index]?.process(key, value, timestamp);
  }
}

/** A table's changes as a stream of new values (null for a deleted row). */
export class TableToStream extends ForwardingProcessor {
  process(key: unknown, change: Change<unknown>, timestamp: number): void {
    this.forward(key, change.newValue, timestamp);
  }
}

/** mapValues and filter on a table: both sides of a change go through the function. */
export class TableTransform extends ForwardingProcessor {
  constructor(
    /** Maps one row; null means "no row". */
    private readonly apply: (key: unknown, value: unknown, timestamp: number | undefined) => unknown,
    private readonly store: KeyValueStore<unknown, unknown> | undefined,
    /** Whether downstream uses old rows; without, one is worked out only to tell a delete of nothing. */
    private readonly sendOldValues = true,
  ) {
    super();
  }

  process(key: unknown, change: Change<unknown>, timestamp: number): void {
    const newValue = change.newValue === null ? null : this.apply(key, change.newValue, timestamp);
    const oldValue =
      !this.sendOldValues && newValue !== null
        ? null
        : this.store
          ? this.store.get(key)
          : change.oldValue === null
            ? null
            : this.apply(key, change.oldValue, timestamp);
    if (newValue === null && oldValue === null) return;
    this.store?.put(key, newValue);
    this.forward(key, { newValue, oldValue }, timestamp);
  }

  static mapValues(fn: AnyFn): (key: unknown, value: unknown, timestamp: number | undefined) => unknown {
    return (key, value, timestamp) => fn(value, key, timestamp);
  }

  static filter(predicate: AnyFn): (key: unknown, value: unknown) => unknown {
    return (key, value) => (predicate(key, value) ? value : null);
  }
}
