import type { ProcessorSupplier } from '../processor/api.js';
import { addGlobalStoreNode, addStreamSource } from './builder.js';
import { TopologyGraph } from './graph.js';
import { storeSpec } from './ktable.js';
import { checkName } from './names.js';
import type { Consumed, Produced, StateStoreSpec } from './options.js';

/**
 * A topology built by hand from sources, processors (the Processor API), stores and sinks, as Kafka
 * Streams' Topology: every node is named, and each names its parents. Compiles and runs like one
 * built with the DSL (StreamsBuilder), whose `process()` mixes the two.
 */
export class Topology {
  private readonly graph = new TopologyGraph();

  addSource<K, V>(name: string, topic: string, consumed: Consumed<K, V>): this {
    addStreamSource(this.graph, checkName('processor', name), topic, consumed);
    return this;
  }

  /** A processor that gets the records of every parent (sources or processors). */
  addProcessor<KIn, VIn, KOut, VOut>(
    name: string,
    supplier: ProcessorSupplier<KIn, VIn, KOut, VOut>,
    ...parentNames: string[]
  ): this {
    this.requireParents(name, parentNames);
    this.graph.add({
      kind: 'process',
      id: checkName('processor', name),
      parents: parentNames,
      emitsChanges: false,
      supplier,
      stores: [],
    });
    return this;
  }

  /** Adds a store, connected to the named processors (they must be added already). */
  /**
   * A global store kept by a processor of your own, named `name`: every record of every partition
   * of `topic` goes through it on every instance (see StreamsBuilder.addGlobalStore).
   */
  addGlobalStore<K, V, KIn, VIn>(
    store: StateStoreSpec<K, V>,
    name: string,
    consumed: Consumed<KIn, VIn>,
    topic: string,
    processor: ProcessorSupplier<KIn, VIn, never, never>,
  ): this {
    addGlobalStoreNode(this.graph, checkName('processor', name), store, topic, consumed, processor);
    return this;
  }

  addStateStore<K, V>(store: StateStoreSpec<K, V>, ...processorNames: string[]): this {
    this.graph.addStore(storeSpec(this.graph, 'store', store)!);
    for (const name of processorNames) this.connectProcessorAndStateStores(name, store.storeName);
    return this;
  }

  connectProcessorAndStateStores(processorName: string, ...storeNames: string[]): this {
    const node = this.graph.get(processorName);
    if (node.kind !== 'process') throw new Error(`topology: "${processorName}" is not a processor`);
    for (const store of storeNames) {
      if (!this.graph.stores.has(store)) throw new Error(`topology: no store named "${store}"`);
      if (!node.stores.includes(store)) node.stores.push(store);
    }
    return this;
  }

  /** Writes the records of every parent to a topic; a null value is written as a tombstone. */
  addSink<K, V>(name: string, topic: string, produced: Produced<K, V>, ...parentNames: string[]): this {
    this.requireParents(name, parentNames);
    this.graph.add({
      kind: 'sink',
      id: checkName('processor', name),
      parents: parentNames,
      emitsChanges: false,
      topic: checkName('topic', topic),
      keySerde: produced.keySerde,
      valueSerde: produced.valueSerde,
    });
    return this;
  }

  build(): TopologyGraph {
    return this.graph;
  }

  private requireParents(name: string, parentNames: string[]): void {
    if (parentNames.length === 0) throw new Error(`topology: "${name}" needs at least one parent`);
  }
}
