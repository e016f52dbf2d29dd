import type { ProcessorSupplier } from '../processor/api.js';
import type { Serde } from '../serdes/serde.js';
import { TopologyGraph } from './graph.js';
import type { Consumed, StateStoreSpec, TableOptions } from './options.js';
import { GlobalKTable } from './global-ktable.js';
import { KStream } from './kstream.js';
import { storeSpec, type KTable } from './ktable.js';
import { checkName } from './names.js';

/** The entry point of the DSL: declare sources, chain operators, then `build()`. */
export class StreamsBuilder {
  private readonly graph = new TopologyGraph();

  stream<K, V>(topic: string, consumed: Consumed<K, V>): KStream<K, V> {
    const id = this.graph.operatorName('source', consumed.name);
    addStreamSource(this.graph, id, topic, consumed);
    return new KStream(this.graph, id);
  }

  /** Reads a topic as a table, kept in a store: a record updates its key's row, a null value deletes it. */
  table<K, V>(topic: string, options: TableOptions<K, V>): KTable<K, NonNullable<V>> {
    // A table's serde reads rows; a null value (tombstone) never reaches it.
    const rows = options as TableOptions<K, NonNullable<V>>;
    return this.stream(topic, options).toTable({
      storeName: options.storeName ?? `${topic}-table`,
      keySerde: rows.keySerde,
      valueSerde: rows.valueSerde,
    });
  }

  /**
   * Reads a topic whole into a global store on every instance (see GlobalKTable): for joins of
   * streams by a key they compute. The store holds the topic's latest row per key; a null value
   * deletes it. The store is named `storeName` (default `<topic>-global`); it has no changelog, the
   * topic is its own.
   */
  globalTable<K, V>(topic: string, options: TableOptions<K, V>): GlobalKTable<K, NonNullable<V>> {
    const id = this.graph.operatorName('global-table', options.name);
    if (options.lineage) throw new Error(`topology: global table of "${topic}": global tables keep no lineage`);
    const store = storeSpec(this.graph, 'global', {
      storeName: options.storeName ?? `${topic}-global`,
      keySerde: options.keySerde,
      valueSerde: options.valueSerde,
    })!;
    this.graph.add({
      kind: 'global-table-source',
      id,
      parents: [],
      emitsChanges: true,
      topic: checkName('topic', topic),
      store,
    });
    return new GlobalKTable(this.graph, id, store.name);
  }

  /**
   * Adds a global store kept by a processor of your own (Kafka Streams' addGlobalStore): every
   * instance reads every partition of `topic` and hands each record, read with `consumed`'s serdes,
   * to the processor, which writes the store (`context.getStateStore(store.storeName)`); it may not
   * forward. Restores run the records through the processor too, so what it writes is what the store
   * holds after a restart. Processors of the Processor API read the store by name; like a global
   * table's, it has no changelog.
   */
  addGlobalStore<K, V, KIn, VIn>(
    store: StateStoreSpec<K, V>,
    topic: string,
    consumed: Consumed<KIn, VIn>,
    processor: ProcessorSupplier<KIn, VIn, never, never>,
  ): this {
    addGlobalStoreNode(
      this.graph,
      this.graph.operatorName('global-store', consumed.name),
      store,
      topic,
      consumed,
      processor,
    );
    return this;
  }

  /**
   * Adds a store for processors of the Processor API (KStream.process with `stores`); it gets a
   * changelog and is restored like the DSL's stores.
   */
  addStateStore<K, V>(store: StateStoreSpec<K, V>): this {
    this.graph.addStore(storeSpec(this.graph, 'store', store)!);
    return this;
  }

  /** The declared graph; compile it with `compileTopology`. */
  build(): TopologyGraph {
    return this.graph;
  }
}

/** Adds a node that reads a topic (StreamsBuilder.stream, Topology.addSource). */
export function addStreamSource<K, V>(graph: TopologyGraph, id: string, topic: string, consumed: Consumed<K, V>): void {
  graph.add({
    kind: 'stream-source',
    id,
    parents: [],
    emitsChanges: false,
    topic: checkName('topic', topic),
    keySerde: consumed.keySerde,
    valueSerde: consumed.valueSerde,
    timestampExtractor: consumed.timestampExtractor,
    lineage: consumed.lineage,
  });
}

/** Adds a global store kept by a processor (StreamsBuilder.addGlobalStore, Topology.addGlobalStore). */
export function addGlobalStoreNode<K, V, KIn, VIn>(
  graph: TopologyGraph,
  id: string,
  store: StateStoreSpec<K, V>,
  topic: string,
  consumed: Consumed<KIn, VIn>,
  processor: ProcessorSupplier<KIn, VIn, never, never>,
): void {
  if (consumed.lineage) throw new Error(`topology: global store of "${topic}": global stores keep no lineage`);
  graph.add({
    kind: 'global-table-source',
    id,
    parents: [],
    emitsChanges: false,
    topic: checkName('topic', topic),
    store: storeSpec(graph, 'global', store)!,
    updater: {
      keySerde: consumed.keySerde as Serde<unknown>,
      valueSerde: consumed.valueSerde as Serde<unknown>,
      supplier: processor,
    },
  });
}
