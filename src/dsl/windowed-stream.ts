import type { Serde } from '../serdes/serde.js';
import { longNumberSerde } from '../serdes/long-number.js';
import { timeWindowedSerde, valueAndTimestampSerde, windowRowsSerde } from '../serdes/windowed.js';
import type { AnyFn, StoreSpec, TopologyGraph, WindowedStoreLayout } from './graph.js';
import { reduceFunctions, type AggregateStore, type CountStore, type ReduceStore } from './kgrouped.js';
import { KTable, storeSpec } from './ktable.js';
import type { SessionWindows, SlidingWindows, TimeWindows, Windowed } from './windows.js';

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

  /**
   * Names a windowed aggregate and its store: retention as given, at least `least` (what the windows
   * need), which is the default; the store's serdes from the aggregate's; its layout for queries.
   * @internal
   */
  protected windowedStore<A>(
    kind: 'window-aggregate' | 'session-aggregate' | 'sliding-aggregate',
    store: WindowStore<A>,
    least: number,
    serdes: (aggregateSerde: Serde<A>) => Pick<StoreSpec, 'keySerde' | 'valueSerde'>,
    layout: (aggregateSerde: Serde<unknown>) => WindowedStoreLayout,
  ): { id: string; spec: StoreSpec; aggregateSerde: Serde<unknown> } {
    const { name, lineage, retentionMs, ...materialized } = store;
    const names = {
      'window-aggregate': ['windowed', 'window', "the windows' size plus grace"],
      'session-aggregate': ['session', 'session', 'the gap plus grace'],
      'sliding-aggregate': ['sliding-window', 'sliding-window', 'twice the time difference plus grace'],
    } as const;
    const [aggregates, what, rule] = names[kind];
    if (lineage) throw new Error(`topology: ${aggregates} aggregates do not keep lineage (lineage: true)`);
    const retention = retentionMs ?? least;
    if (!Number.isSafeInteger(retention) || retention < least) {
      throw new RangeError(
        `topology: a ${what} store's retention (${retentionMs} ms) must be a whole number of ms of at least ${least} ms (${rule})`,
      );
    }
    const id = this.graph.operatorName(kind, name);
    const spec = storeSpec(this.graph, kind, { ...materialized, ...serdes(materialized.valueSerde) });
    if (!spec) throw new Error(`unreachable: a ${what} aggregate is always materialized`);
    const aggregateSerde = materialized.valueSerde as Serde<unknown>;
    return { id, spec: { ...spec, retentionMs: retention, windows: layout(aggregateSerde) }, aggregateSerde };
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
    const { sizeMs, graceMs } = this.windows;
    const { id, spec, aggregateSerde } = this.windowedStore(
      'window-aggregate',
      store,
      sizeMs + graceMs,
      (values) => ({
        keySerde: timeWindowedSerde(this.keySerde, sizeMs) as Serde<unknown>,
        valueSerde: valueAndTimestampSerde(values) as Serde<unknown>,
      }),
      (values) => ({ kind: 'time', sizeMs, keySerde: this.keySerde as Serde<unknown>, aggregateSerde: values }),
    );
    const windows = this.windows;
    this.graph.add({
      kind: 'window-aggregate',
      id,
      parents: [this.groupById],
      emitsChanges: true,
      windows,
      initializer,
      adder,
      store: spec,
      aggregateSerde,
    });
    return new KTable(this.graph, id, spec.name);
  }
}

/**
 * A grouped stream aggregated per sliding window (KGroupedStream.windowedBy with SlidingWindows): each
 * aggregate's key is the group's key with its window, [start, start + time difference] (the windowed
 * key's end is start plus the difference, as in Kafka Streams). Records with a null value are dropped.
 */
export class SlidingWindowedKStream<K, V> extends WindowedGrouping<K, V, SlidingWindows> {
  /** Records per key and window. */
  count(store: CountStore & Pick<WindowStore<number>, 'retentionMs'> = {}): KTable<Windowed<K>, number> {
    return this.add(
      () => 0,
      (_k: K, _v: V, n: number) => n + 1,
      { ...store, valueSerde: longNumberSerde },
    );
  }

  /** Folds the records of each window of a key into an aggregate that starts as `initializer()`. */
  aggregate<A>(
    initializer: () => A,
    adder: (key: K, value: V, aggregate: A) => A,
    store: WindowStore<A>,
  ): KTable<Windowed<K>, A> {
    return this.add(initializer, adder, store);
  }

  /** Folds the records of each window of a key with `reducer`; a window's first record is its first result. */
  reduce(
    reducer: (aggregate: V, value: V) => V,
    store: ReduceStore<V> & Pick<WindowStore<V>, 'retentionMs'> = {},
  ): KTable<Windowed<K>, V> {
    const fns = reduceFunctions<K, V>(reducer);
    return this.add(fns.initializer, fns.adder, {
      ...store,
      valueSerde: store.valueSerde ?? this.valueSerde,
    }) as KTable<Windowed<K>, V>;
  }

  private add<A>(initializer: AnyFn, adder: AnyFn, store: WindowStore<A>): KTable<Windowed<K>, A> {
    const { timeDifferenceMs, graceMs } = this.windows;
    const keySerde = this.keySerde as Serde<unknown>;
    const { id, spec, aggregateSerde } = this.windowedStore(
      'sliding-aggregate',
      store,
      2 * timeDifferenceMs + graceMs,
      (values) => ({ keySerde, valueSerde: windowRowsSerde(values) as Serde<unknown> }),
      (values) => ({ kind: 'sliding', sizeMs: timeDifferenceMs, keySerde, aggregateSerde: values }),
    );
    const windows = this.windows;
    this.graph.add({
      kind: 'sliding-aggregate',
      id,
      parents: [this.groupById],
      emitsChanges: true,
      windows,
      initializer,
      adder,
      store: spec,
      keySerde,
      aggregateSerde,
    });
    return new KTable(this.graph, id, spec.name);
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
    const keySerde = this.keySerde as Serde<unknown>;
    const { id, spec, aggregateSerde } = this.windowedStore(
      'session-aggregate',
      store,
      this.windows.gapMs + this.windows.graceMs,
      (values) => ({ keySerde, valueSerde: windowRowsSerde(values) as Serde<unknown> }),
      (values) => ({ kind: 'session', keySerde, aggregateSerde: values }),
    );
    const windows = this.windows;
    this.graph.add({
      kind: 'session-aggregate',
      id,
      parents: [this.groupById],
      emitsChanges: true,
      windows,
      initializer,
      adder,
      merger,
      store: spec,
      keySerde,
      aggregateSerde,
    });
    return new KTable(this.graph, id, spec.name);
  }
}
