import type { TopologyGraph } from './graph.js';
import type { Grouped, Materialized, Produced } from './options.js';
import { KTable, storeSpec } from './ktable.js';
import { KGroupedStream } from './kgrouped.js';
import { checkName } from './names.js';

/** An unbounded stream of independent records. */
export class KStream<K, V> {
  constructor(
    protected readonly graph: TopologyGraph,
    /** The node whose output this stream is. */
    readonly nodeId: string,
  ) {}

  mapValues<V2>(fn: (value: V, key: K) => V2, name?: string): KStream<K, V2> {
    const id = checkName('processor', name ?? this.graph.nextName('map-values'));
    this.graph.add({ kind: 'map-values', id, parents: [this.nodeId], emitsChanges: false, fn });
    return new KStream(this.graph, id);
  }

  filter(predicate: (key: K, value: V) => boolean, name?: string): KStream<K, V> {
    const id = checkName('processor', name ?? this.graph.nextName('filter'));
    this.graph.add({ kind: 'filter', id, parents: [this.nodeId], emitsChanges: false, predicate });
    return new KStream(this.graph, id);
  }

  /** Gives each record a new key. A grouping after it repartitions by the new key. */
  selectKey<K2>(fn: (key: K, value: V) => K2, name?: string): KStream<K2, V> {
    const id = checkName('processor', name ?? this.graph.nextName('select-key'));
    this.graph.add({ kind: 'select-key', id, parents: [this.nodeId], emitsChanges: false, fn });
    return new KStream(this.graph, id);
  }

  /** Regroups records by a new key, through a repartition topic. */
  groupBy<K2>(selector: (key: K, value: V) => K2, grouped: Grouped<K2, V>): KGroupedStream<K2, V> {
    const id = this.graph.nextName('group-by');
    const repartition = checkName('repartition topic', grouped.name ?? id);
    this.graph.add({
      kind: 'group-by',
      id,
      parents: [this.nodeId],
      emitsChanges: false,
      selector: (key: K, value: V) => ({ key: selector(key, value), value }),
      repartition,
      keySerde: grouped.keySerde,
      valueSerde: grouped.valueSerde,
    });
    return new KGroupedStream(this.graph, id, grouped.keySerde);
  }

  /**
   * Reads this stream as a table: each record upserts its key's row, a null
   * value deletes it. The stream must still be keyed as its source topic is.
   */
  toTable(materialized: Materialized<K, NonNullable<V>>): KTable<K, NonNullable<V>> {
    const id = this.graph.nextName('to-table');
    const store = storeSpec(this.graph, 'table', materialized);
    if (!store) throw new Error('unreachable: toTable is always materialized');
    this.graph.add({ kind: 'to-table', id, parents: [this.nodeId], emitsChanges: true, store });
    return new KTable(this.graph, id, store.name);
  }

  /** Writes every record to a topic; a null value is written as a tombstone. */
  to(topic: string, produced: Produced<K, V>): void {
    this.graph.add({
      kind: 'sink',
      id: this.graph.nextName('sink'),
      parents: [this.nodeId],
      emitsChanges: false,
      topic: checkName('topic', topic),
      keySerde: produced.keySerde,
      valueSerde: produced.valueSerde,
    });
  }
}
