import type { Serde } from '../serdes/serde.js';
import { longNumberSerde } from '../serdes/long-number.js';
import type { TopologyGraph } from './graph.js';
import type { Materialized } from './options.js';
import { KTable, storeSpec } from './ktable.js';

/** Where an aggregate is kept; its key serde is the grouping's. */
export type AggregateStore<A> = Omit<Materialized<unknown, A>, 'keySerde'>;

abstract class Grouping<K> {
  constructor(
    protected readonly graph: TopologyGraph,
    /** The group-by node feeding this grouping. */
    protected readonly groupById: string,
    protected readonly keySerde: Serde<K>,
  ) {}

  protected addAggregate<A>(
    initializer: () => A,
    adder: (key: K, value: never, aggregate: A) => A,
    subtractor: ((key: K, value: never, aggregate: A) => A) | undefined,
    store: AggregateStore<A>,
  ): KTable<K, A> {
    const id = this.graph.nextName('aggregate');
    const spec = storeSpec(this.graph, 'aggregate', { ...store, keySerde: this.keySerde });
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
}

/** A table regrouped by a new key, ready to aggregate with table semantics. */
export class KGroupedTable<K, V> extends Grouping<K> {
  /** Rows per group: an update moving a row between groups decrements one and increments the other. */
  count(store: { storeName?: string } = {}): KTable<K, number> {
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
}

/** A stream regrouped by a new key: every record adds to its group. */
export class KGroupedStream<K, V> extends Grouping<K> {
  count(store: { storeName?: string } = {}): KTable<K, number> {
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
}
