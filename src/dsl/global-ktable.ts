import type { TopologyGraph } from './graph.js';

/**
 * A table kept whole on every instance: all partitions of its topic are read into a global store,
 * restored before any task processes and then followed as the topic grows. Streams join it by any
 * key they compute (KStream.join with a key selector), with no co-partitioning and no repartition.
 * Updates are applied as they are read, apart from the tasks' processing: like Kafka Streams' global
 * tables, a join sees the row as the store holds it when the stream record is processed.
 */
export class GlobalKTable<K, V> {
  /** Carries the key and value types (nothing at run time). */
  declare private readonly types?: [K, V];

  constructor(
    readonly graph: TopologyGraph,
    /** The global table's source node. */
    readonly nodeId: string,
    /** The global store the table is kept in; query it by this name. */
    readonly storeName: string,
  ) {}
}
