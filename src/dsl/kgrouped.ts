import type { Serde } from '../serdes/serde.js';
import { longNumberSerde } from '../serdes/long-number.js';
import type { TopologyGraph } from './graph.js';
import type { Materialized } from './options.js';
import { KTable, storeSpec } from './ktable.js';
import { SessionWindowedKStream, SlidingWindowedKStream, TimeWindowedKStream } from './windowed-stream.js';
import { SessionWindows, SlidingWindows, type TimeWindows } from './windows.js';

/** Where an aggregate is kept (its key serde is the grouping's), and the operator's name. */
export type AggregateStore<A> = Omit<Materialized<unknown, A>, 'keySerde'> & { name?: string };

abstract class Grouping<K> {
  constructor(
    protected readonly graph: TopologyGraph,
    /** The group-by node feeding this grouping. */
    protected readonly groupById: string,
    protected readonly keySerde: Serde<K>,
    /** The grouped values' serde: a reduce keeps its result with it unless told otherwise. */
    protected readonly valueSerde: Serde<unknown>,
  ) {}

  protected addAggregate<A>(
    initializer: () => A,
    adder: (key: K, value: never, aggregate: A) => A,
    subtractor: ((key: K, value: never, aggregate: A) => A) | undefined,
    store: AggregateStore<A>,
  ): KTable<K, A> {
    const { name, ...materialized } = store;
    const id = this.graph.operatorName('aggregate', name);
    const spec = storeSpec(this.graph, 'aggregate', { ...materialized, keySerde: this.keySerde });
    if (!spec) throw new Error('unreachable: an aggregate is always materialized');
    this.graph.add({
      kind: 'aggregate',
      id,
      parents: [this.groupById],
      emitsChanges: true,
      initializer,
      adder,
      subtractor,
      store: spec,
    });
    return new KTable(this.graph, id, spec.name);
  }

  protected reduceStore<V>(store: ReduceStore<V>): AggregateStore<V> {
    return { ...store, valueSerde: store.valueSerde ?? (this.valueSerde as Serde<V>) };
  }
}

/** A reduce's store: its value serde defaults to the grouped values'. */
export type ReduceStore<V> = Partial<AggregateStore<V>>;
/** A count's store: its name, the operator's name, and whether it keeps lineage (see Materialized). */
export type CountStore = Pick<AggregateStore<number>, 'storeName' | 'name' | 'lineage'>;

/**
 * Reduce as an aggregate: a group's first value is its result, later ones fold into it; a group
 * whose values are all taken back out has no row. Kafka Streams' KStreamReduce and KTableReduce.
 */
export function reduceFunctions<K, V>(
  reducer: (aggregate: V, value: V) => V,
  subtractor?: (aggregate: V, value: V) => V,
): {
  initializer: () => null;
  adder: (k: K, v: V, a: V | null) => V;
  subtractor?: (k: K, v: V, a: V | null) => V | null;
} {
  return {
    initializer: () => null,
    adder: (_key, value, aggregate) => (aggregate === null ? value : reducer(aggregate, value)),
    ...(subtractor
      ? {
          subtractor: (_key: K, value: V, aggregate: V | null) =>
            aggregate === null ? null : subtractor(aggregate, value),
        }
      : {}),
  };
}

/** A table regrouped by a new key, ready to aggregate with table semantics. */
export class KGroupedTable<K, V> extends Grouping<K> {
  /** Rows per group: an update moving a row between groups decrements one and increments the other. */
  count(store: CountStore = {}): KTable<K, number> {
    return this.addAggregate(
      () => 0,
      (_k, _v, n: number) => n + 1,
      (_k, _v, n: number) => n - 1,
      { ...store, valueSerde: longNumberSerde },
    );
  }

  /** `adder` folds a row into its group; `subtractor` takes an old row back out. */
  aggregate<A>(
    initializer: () => A,
    adder: (key: K, value: V, aggregate: A) => A,
    subtractor: (key: K, value: V, aggregate: A) => A,
    store: AggregateStore<A>,
  ): KTable<K, A> {
    return this.addAggregate(initializer, adder, subtractor, store);
  }

  /** Folds each group's rows with `adder`; `subtractor` takes an old row back out of the result. */
  reduce(
    adder: (aggregate: V, value: V) => V,
    subtractor: (aggregate: V, value: V) => V,
    store: ReduceStore<V> = {},
  ): KTable<K, V> {
    const fns = reduceFunctions<K, V>(adder, subtractor);
    return this.addAggregate(fns.initializer, fns.adder, fns.subtractor, this.reduceStore(store)) as KTable<K, V>;
  }
}

/** A stream regrouped by a new key: every record adds to its group. */
export class KGroupedStream<K, V> extends Grouping<K> {
  count(store: CountStore = {}): KTable<K, number> {
    return this.addAggregate(
      () => 0,
      (_k, _v, n: number) => n + 1,
      undefined,
      { ...store, valueSerde: longNumberSerde },
    );
  }

  aggregate<A>(
    initializer: () => A,
    adder: (key: K, value: V, aggregate: A) => A,
    store: AggregateStore<A>,
  ): KTable<K, A> {
    return this.addAggregate(initializer, adder, undefined, store);
  }

  /** Folds each group's records with `reducer`; a group's first record is its first result. */
  reduce(reducer: (aggregate: V, value: V) => V, store: ReduceStore<V> = {}): KTable<K, V> {
    const fns = reduceFunctions<K, V>(reducer);
    return this.addAggregate(fns.initializer, fns.adder, undefined, this.reduceStore(store)) as KTable<K, V>;
  }

  /** Aggregates per time window from here: tumbling or hopping windows, with their grace period. */
  windowedBy(windows: TimeWindows): TimeWindowedKStream<K, V>;
  /** Aggregates per session from here: records within the inactivity gap of each other. */
  windowedBy(windows: SessionWindows): SessionWindowedKStream<K, V>;
  /** Aggregates per sliding window from here: windows of a fixed time difference where records are. */
  windowedBy(windows: SlidingWindows): SlidingWindowedKStream<K, V>;
  windowedBy(
    windows: TimeWindows | SessionWindows | SlidingWindows,
  ): TimeWindowedKStream<K, V> | SessionWindowedKStream<K, V> | SlidingWindowedKStream<K, V> {
    const values = this.valueSerde as Serde<V>;
    if (windows instanceof SessionWindows)
      return new SessionWindowedKStream(this.graph, this.groupById, this.keySerde, values, windows);
    if (windows instanceof SlidingWindows)
      return new SlidingWindowedKStream(this.graph, this.groupById, this.keySerde, values, windows);
    return new TimeWindowedKStream(this.graph, this.groupById, this.keySerde, values, windows);
  }
}
