import type { Serde } from '../serdes/serde.js';
import { longNumberSerde } from '../serdes/long-number.js';
import { timeWindowedSerde, valueAndTimestampSerde } from '../serdes/windowed.js';
import type { AnyFn, TopologyGraph } from './graph.js';
import { reduceFunctions, type AggregateStore, type CountStore, type ReduceStore } from './kgrouped.js';
import { KTable, storeSpec } from './ktable.js';
import type { TimeWindows, Windowed } from './windows.js';

/**
 * A grouped stream aggregated per time window (KGroupedStream.windowedBy): each aggregate's key is
 * the group's key with its window. The windows' grace period says how late a record may be.
 */
export class TimeWindowedKStream<K, V> {
  /** @internal */
  constructor(
    private readonly graph: TopologyGraph,
    /** The group-by node feeding this grouping. */
    private readonly groupById: string,
    private readonly keySerde: Serde<K>,
    private readonly valueSerde: Serde<V>,
    private readonly windows: TimeWindows,
  ) {}

  /** Records per key and window. */
  count(store: CountStore = {}): KTable<Windowed<K>, number> {
    return this.add(
      () => 0,
      (_k: K, _v: V, n: number) => n + 1,
      { ...store, valueSerde: longNumberSerde },
    );
  }

  /**
   * Folds each key's records of a window into an aggregate that starts as `initializer()`. As in Kafka
   * Streams, records with a null value are folded in too (filter them out first if they mean nothing).
   */
  aggregate<A>(
    initializer: () => A,
    adder: (key: K, value: V | null, aggregate: A) => A,
    store: AggregateStore<A>,
  ): KTable<Windowed<K>, A> {
    return this.add(initializer, adder, store);
  }

  /**
   * Folds each key's records of a window with `reducer`; the window's first record is its first result.
   * A null value reaches the reducer too (as in Kafka Streams); a window whose result is null has no row.
   */
  reduce(reducer: (aggregate: V, value: V | null) => V | null, store: ReduceStore<V> = {}): KTable<Windowed<K>, V> {
    const fns = reduceFunctions<K, V>(reducer as (aggregate: V, value: V) => V);
    return this.add(fns.initializer, fns.adder, {
      ...store,
      valueSerde: store.valueSerde ?? this.valueSerde,
    }) as KTable<Windowed<K>, V>;
  }

  private add<A>(initializer: AnyFn, adder: AnyFn, store: AggregateStore<A>): KTable<Windowed<K>, A> {
    const { name, lineage, ...materialized } = store;
    if (lineage) throw new Error('topology: windowed aggregates do not keep lineage (lineage: true)');
    const id = this.graph.operatorName('window-aggregate', name);
    const spec = storeSpec(this.graph, 'window-aggregate', {
      ...materialized,
      keySerde: timeWindowedSerde(this.keySerde, this.windows.sizeMs),
      valueSerde: valueAndTimestampSerde(materialized.valueSerde),
    });
    if (!spec) throw new Error('unreachable: a windowed aggregate is always materialized');
    this.graph.add({
      kind: 'window-aggregate',
      id,
      parents: [this.groupById],
      emitsChanges: true,
      windows: this.windows,
      initializer,
      adder,
      store: spec,
      aggregateSerde: materialized.valueSerde as Serde<unknown>,
    });
    return new KTable(this.graph, id, spec.name);
  }
}
