import type { Serde } from '../serdes/serde.js';
import { longNumberSerde } from '../serdes/long-number.js';
import { sessionsSerde, timeWindowedSerde, valueAndTimestampSerde } from '../serdes/windowed.js';
import type { AnyFn, StoreSpec, TopologyGraph } from './graph.js';
import { reduceFunctions, type AggregateStore, type CountStore, type ReduceStore } from './kgrouped.js';
import { KTable, storeSpec } from './ktable.js';
import type { SessionWindows, TimeWindows, Windowed } from './windows.js';

/**
 * Where a windowed aggregate is kept: as AggregateStore, and how long its windows are kept after they
 * start, for queries (default and least: the windows' size plus grace, as in Kafka Streams).
 */
export type WindowStore<A> = AggregateStore<A> & { retentionMs?: number };

/** What the windowed groupings share: where their records come from, and the retention rule. */
abstract class WindowedGrouping<K, V, W> {
  /** @internal */
  constructor(
    protected readonly graph: TopologyGraph,
    /** The group-by node feeding this grouping. */
    protected readonly groupById: string,
    protected readonly keySerde: Serde<K>,
    protected readonly valueSerde: Serde<V>,
    protected readonly windows: W,
  ) {}

  /** The store's retention: as given, at least `least` (what the windows need), which is the default. */
  protected retention(given: number | undefined, least: number, what: string): number {
    const retention = given ?? least;
    if (!Number.isSafeInteger(retention) || retention < least) {
      throw new RangeError(
        `topology: a ${what} store's retention (${given} ms) must be a whole number of ms of at least ${least} ms (${what === 'window' ? "the windows' size plus grace" : 'the gap plus grace'})`,
      );
    }
    return retention;
  }
}

/**
 * A grouped stream aggregated per time window (KGroupedStream.windowedBy): each aggregate's key is
 * the group's key with its window. The windows' grace period says how late a record may be.
 */
export class TimeWindowedKStream<K, V> extends WindowedGrouping<K, V, TimeWindows> {
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
    const retention = this.retention(retentionMs, this.windows.sizeMs + this.windows.graceMs, 'window');
    const id = this.graph.operatorName('window-aggregate', name);
    const spec = storeSpec(this.graph, 'window-aggregate', {
      ...materialized,
      keySerde: timeWindowedSerde(this.keySerde, this.windows.sizeMs),
      valueSerde: valueAndTimestampSerde(materialized.valueSerde),
    });
    if (!spec) throw new Error('unreachable: a windowed aggregate is always materialized');
    const windowStore: StoreSpec = {
      ...spec,
      retentionMs: retention,
      windows: {
        kind: 'time',
        sizeMs: this.windows.sizeMs,
        keySerde: this.keySerde as Serde<unknown>,
        aggregateSerde: materialized.valueSerde as Serde<unknown>,
      },
    };
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

/**
 * A grouped stream aggregated per session (KGroupedStream.windowedBy with SessionWindows): each
 * aggregate's key is the group's key with its session. When a record merges sessions, their
 * aggregates are combined with `merger`, and the replaced sessions get tombstones.
 */
export class SessionWindowedKStream<K, V> extends WindowedGrouping<K, V, SessionWindows> {
  /** Records per key and session. */
  count(store: CountStore & Pick<WindowStore<number>, 'retentionMs'> = {}): KTable<Windowed<K>, number> {
    return this.add(
      () => 0,
      (_k: K, _v: V, n: number) => n + 1,
      (_k: K, a: number, b: number) => a + b,
      { ...store, valueSerde: longNumberSerde },
    );
  }

  /**
   * Folds each key's records of a session into an aggregate that starts as `initializer()`; `merger`
   * combines two sessions' aggregates when a record bridges them. Null values are folded in too.
   */
  aggregate<A>(
    initializer: () => A,
    adder: (key: K, value: V | null, aggregate: A) => A,
    merger: (key: K, left: A, right: A) => A,
    store: WindowStore<A>,
  ): KTable<Windowed<K>, A> {
    return this.add(initializer, adder, merger, store);
  }

  /** Folds each key's records of a session with `reducer` (merging sessions with it too). */
  reduce(
    reducer: (aggregate: V, value: V | null) => V | null,
    store: ReduceStore<V> & Pick<WindowStore<V>, 'retentionMs'> = {},
  ): KTable<Windowed<K>, V> {
    const fns = reduceFunctions<K, V>(reducer as (aggregate: V, value: V) => V);
    // As Kafka Streams merges reduced sessions: the reduce's adder with the later session as the value.
    const merger = (_k: K, a: V | null, b: V | null) => (a === null ? b : reducer(a, b));
    return this.add(fns.initializer, fns.adder, merger, {
      ...store,
      valueSerde: store.valueSerde ?? this.valueSerde,
    }) as KTable<Windowed<K>, V>;
  }

  private add<A>(initializer: AnyFn, adder: AnyFn, merger: AnyFn, store: WindowStore<A>): KTable<Windowed<K>, A> {
    const { name, lineage, retentionMs, ...materialized } = store;
    if (lineage) throw new Error('topology: session aggregates do not keep lineage (lineage: true)');
    const retention = this.retention(retentionMs, this.windows.gapMs + this.windows.graceMs, 'session');
    const id = this.graph.operatorName('session-aggregate', name);
    const spec = storeSpec(this.graph, 'session-aggregate', {
      ...materialized,
      keySerde: this.keySerde,
      valueSerde: sessionsSerde(materialized.valueSerde),
    });
    if (!spec) throw new Error('unreachable: a session aggregate is always materialized');
    const sessionStore: StoreSpec = {
      ...spec,
      retentionMs: retention,
      windows: {
        kind: 'session',
        keySerde: this.keySerde as Serde<unknown>,
        aggregateSerde: materialized.valueSerde as Serde<unknown>,
      },
    };
    this.graph.add({
      kind: 'session-aggregate',
      id,
      parents: [this.groupById],
      emitsChanges: true,
      windows: this.windows,
      initializer,
      adder,
      merger,
      store: sessionStore,
      keySerde: this.keySerde as Serde<unknown>,
      aggregateSerde: materialized.valueSerde as Serde<unknown>,
    });
    return new KTable(this.graph, id, sessionStore.name);
  }
}
