import type { Serde } from '../serdes/serde.js';
import { longNumberSerde } from '../serdes/long-number.js';
import { timeWindowedSerde, valueAndTimestampSerde } from '../serdes/windowed.js';
import type { AnyFn, TopologyGraph } from './graph.js';
import { reduceFunctions, type AggregateStore, type CountStore, type ReduceStore } from './kgrouped.js';
import { KTable, storeSpec } from './ktable.js';
import type { TimeWindows, Windowed } from './windows.js';

/**
 * Where a windowed aggregate is kept: as AggregateStore, and how long its windows are kept after they
 * start, for queries (default and least: the windows' size plus grace, as in Kafka Streams).
 */
export type WindowStore<A> = AggregateStore<A> & { retentionMs?: number };

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
  count(store: CountStore & Pick<WindowStore<number>, 'retentionMs'> = {}): KTable<Windowed<K>, number> {
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
    store: WindowStore<A>,
  ): KTable<Windowed<K>, A> {
    return this.add(initializer, adder, store);
  }

  /**
   * Folds each key's records of a window with `reducer`; the window's first record is its first result.
   * A null value reaches the reducer too (as in Kafka Streams); a window whose result is null has no row.
   */
  reduce(
    reducer: (aggregate: V, value: V | null) => V | null,
    store: ReduceStore<V> & Pick<WindowStore<V>, 'retentionMs'> = {},
  ): KTable<Windowed<K>, V> {
    const fns = reduceFunctions<K, V>(reducer as (aggregate: V, value: V) => V);
    return this.add(fns.initializer, fns.adder, {
      ...store,
      valueSerde: store.valueSerde ?? this.valueSerde,
    }) as KTable<Windowed<K>, V>;
  }

  private add<A>(initializer: AnyFn, adder: AnyFn, store: WindowStore<A>): KTable<Windowed<K>, A> {
    const { name, lineage, retentionMs, ...materialized } = store;
    if (lineage) throw new Error('topology: windowed aggregates do not keep lineage (lineage: true)');
    const { sizeMs, graceMs } = this.windows;
    const retention = retentionMs ?? sizeMs + graceMs;
    if (!Number.isSafeInteger(retention) || retention < sizeMs + graceMs) {
      throw new RangeError(
        `topology: a window store's retention (${retentionMs} ms) must be a whole number of ms of at least the windows' size plus grace (${sizeMs + graceMs} ms)`,
      );
    }
    const id = this.graph.operatorName('window-aggregate', name);
    const spec = storeSpec(this.graph, 'window-aggregate', {
      ...materialized,
      keySerde: timeWindowedSerde(this.keySerde, this.windows.sizeMs),
      valueSerde: valueAndTimestampSerde(materialized.valueSerde),
    });
    if (!spec) throw new Error('unreachable: a windowed aggregate is always materialized');
    const windowStore = { ...spec, retentionMs: retention };
    this.graph.add({
      kind: 'window-aggregate',
      id,
      parents: [this.groupById],
      emitsChanges: true,
      windows: this.windows,
      initializer,
      adder,
      store: windowStore,
      aggregateSerde: materialized.valueSerde as Serde<unknown>,
    });
    return new KTable(this.graph, id, windowStore.name);
  }
}
