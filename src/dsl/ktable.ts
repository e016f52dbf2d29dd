import type { JoinMode, StoreSpec, TopologyGraph } from './graph.js';
import type { Grouped, KeyValue, Materialized } from './options.js';
import { KGroupedTable } from './kgrouped.js';
import { KStream } from './kstream.js';
import { checkName } from './names.js';

/**
 * A changelog stream read as a table: the latest value per key, where a null
 * value deletes the key. Updates flow downstream as changes (new and old value).
 */
export class KTable<K, V> {
  constructor(
    protected readonly graph: TopologyGraph,
    readonly nodeId: string,
    /** The store holding this table's rows, if it is materialized. */
    readonly storeName?: string,
  ) {}

  /**
   * Maps each row. `timestamp` is that of the change being processed (e.g. the
   * source commit time); it is undefined when the row is computed for a lookup
   * by a downstream join, which only happens when this table is not materialized.
   */
  mapValues<V2>(
    fn: (value: V, key: K, timestamp: number | undefined) => V2,
    materialized?: Materialized<K, V2>,
    name?: string,
  ): KTable<K, V2> {
    const id = this.graph.operatorName('table-map-values', name);
    const store = storeSpec(this.graph, 'map-values', materialized);
    this.graph.add({ kind: 'map-values', id, parents: [this.nodeId], emitsChanges: true, fn, store });
    return new KTable(this.graph, id, store?.name);
  }

  filter(predicate: (key: K, value: V) => boolean, materialized?: Materialized<K, V>, name?: string): KTable<K, V> {
    const id = this.graph.operatorName('table-filter', name);
    const store = storeSpec(this.graph, 'filter', materialized);
    this.graph.add({ kind: 'filter', id, parents: [this.nodeId], emitsChanges: true, predicate, store });
    return new KTable(this.graph, id, store?.name);
  }

  /**
   * Regroups rows under a new key. An update sends the old row's contribution
   * to its old group (to be subtracted) and the new row's to its new group.
   */
  groupBy<K2, V2>(selector: (key: K, value: V) => KeyValue<K2, V2>, grouped: Grouped<K2, V2>): KGroupedTable<K2, V2> {
    const id = this.graph.nextName('group-by');
    const repartition = checkName('repartition topic', grouped.name ?? id);
    this.graph.add({
      kind: 'group-by',
      id,
      parents: [this.nodeId],
      emitsChanges: true,
      selector,
      repartition,
      keySerde: grouped.keySerde,
      valueSerde: grouped.valueSerde,
    });
    return new KGroupedTable(this.graph, id, grouped.keySerde, grouped.valueSerde);
  }

  /** Inner join on the key with a co-partitioned table: a row exists when both sides have one. */
  join<V2, R>(
    other: KTable<K, V2>,
    joiner: (left: V, right: V2) => R,
    materialized?: Materialized<K, R>,
    name?: string,
  ): KTable<K, R> {
    return this.addJoin(other, joiner, 'inner', materialized, name);
  }

  /** Left join: a row exists when this side has one; the joiner gets null for a missing right row. */
  leftJoin<V2, R>(
    other: KTable<K, V2>,
    joiner: (left: V, right: V2 | null) => R,
    materialized?: Materialized<K, R>,
    name?: string,
  ): KTable<K, R> {
    return this.addJoin(other, joiner, 'left', materialized, name);
  }

  /** Outer join: a row exists when either side has one; the joiner gets null for the missing side. */
  outerJoin<V2, R>(
    other: KTable<K, V2>,
    joiner: (left: V | null, right: V2 | null) => R,
    materialized?: Materialized<K, R>,
    name?: string,
  ): KTable<K, R> {
    return this.addJoin(other, joiner, 'outer', materialized, name);
  }

  /** The stream of this table's updates; a deleted row becomes a record with a null value. */
  toStream(name?: string): KStream<K, V> {
    const id = this.graph.operatorName('to-stream', name);
    this.graph.add({ kind: 'to-stream', id, parents: [this.nodeId], emitsChanges: false });
    return new KStream(this.graph, id);
  }

  private addJoin<V2, R>(
    other: KTable<K, V2>,
    joiner: (left: V, right: V2) => R,
    mode: JoinMode,
    materialized: Materialized<K, R> | undefined,
    name: string | undefined,
  ): KTable<K, R> {
    const id = this.graph.operatorName(mode === 'inner' ? 'join' : `${mode}-join`, name);
    const store = storeSpec(this.graph, 'join', materialized);
    this.graph.add({
      kind: 'join',
      id,
      parents: [this.nodeId, other.nodeId],
      emitsChanges: true,
      joiner,
      mode,
      store,
    });
    return new KTable(this.graph, id, store?.name);
  }
}

export function storeSpec<K, V>(
  graph: TopologyGraph,
  prefix: string,
  materialized: Materialized<K, V> | undefined,
): StoreSpec | undefined {
  if (!materialized) return undefined;
  return {
    name: checkName('store', materialized.storeName ?? graph.nextName(`${prefix}-store`)),
    keySerde: materialized.keySerde as StoreSpec['keySerde'],
    valueSerde: materialized.valueSerde as StoreSpec['valueSerde'],
    ...(materialized.lineage ? { lineage: true } : {}),
  };
}
