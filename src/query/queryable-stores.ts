/**
 * What serving a store over HTTP needs of an instance: the stores it can be asked about, where each
 * key and partition lives, and reads of the copies kept here. KafkaStreams provides it in the
 * process that runs the engine (`queryableStores(streams)`); the service provides it on its serving
 * thread, reading the stores its engine thread keeps (src/service/engine-thread.ts).
 */
import type { KafkaStreams } from '../runtime/kafka-streams.js';
import type { RangeQuery } from '../state/range-query.js';
import type { Serde } from '../serdes/serde.js';
import type { WindowedStoreLayout } from '../dsl/graph.js';

export interface QueryableStore {
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  /** A global store (GlobalKTable): whole on every instance, with no partitions. */
  readonly global: boolean;
  /** A window or session store: its layout, for fetching a key's windows in a time range. */
  readonly windows?: WindowedStoreLayout;
}

/** Where one partition of a store lives. */
export interface StorePartition {
  readonly partition: number;
  readonly taskId: string;
  /** host:port of the owning instance, when known. */
  readonly owner: string | undefined;
  /** The partition's task is assigned here. */
  readonly local: boolean;
  /** Its status when it is local: only a running one is read. */
  readonly status: 'running' | 'restoring' | undefined;
  /** The local task has processed the input that existed when it started (until then a row may be missing). */
  readonly caughtUp: boolean;
  /** host:port of the members keeping a standby copy. */
  readonly standbyHosts: readonly string[];
}

/** A serialized key and value. */
export type StoreRow = [key: Buffer, value: Buffer];

export interface QueryableStores {
  /** host:port this instance is reached at. */
  readonly endpoint: string;
  /** The stores that can be asked about, by name. */
  readonly stores: ReadonlyMap<string, QueryableStore>;
  /** Where the partition of a (non-global) store's key lives; undefined while the instance starts. */
  keyMetadata(store: string, key: Buffer): StorePartition | undefined;
  /** Where each partition of a (non-global) store lives, by partition number; none while the instance starts. */
  storePartitions(store: string): readonly StorePartition[];
  /** A committed row of a partition running here (the key's, see keyMetadata); undefined when the row does not exist. */
  getLocal(store: string, partition: number, key: Buffer): Buffer | undefined;
  /** Committed rows of one partition running here, from one snapshot. */
  rangeLocal(store: string, partition: number, query: RangeQuery): Promise<StoreRow[]>;
  getGlobal(store: string, key: Buffer): Buffer | undefined;
  rangeGlobal(store: string, query: RangeQuery): Promise<StoreRow[]>;
}

/** The queryable stores of a KafkaStreams instance: every key-value store of its topology and its global stores. */
export function queryableStores(streams: KafkaStreams): QueryableStores {
  const stores = new Map<string, QueryableStore>();
  for (const sub of streams.topology.subtopologies)
    for (const { name, keySerde, valueSerde, windows } of sub.stores)
      stores.set(name, { keySerde, valueSerde, global: false, ...(windows ? { windows } : {}) });
  for (const { name, keySerde, valueSerde } of streams.topology.globalStores)
    stores.set(name, { keySerde, valueSerde, global: true });
  const started = () => streams.state !== 'created' && streams.state !== 'starting';
  return {
    get endpoint() {
      return streams.config.endpoint;
    },
    stores,
    keyMetadata: (store, key) => (started() ? streams.keyMetadata(store, key) : undefined),
    storePartitions: (store) => (started() ? streams.storePartitions(store) : []),
    getLocal: (store, partition, key) => streams.getLocal(store, key, partition),
    rangeLocal: (store, partition, query) => streams.rangeLocal(store, partition, query),
    getGlobal: (store, key) => streams.getGlobal(store, key),
    rangeGlobal: (store, query) => streams.rangeGlobal(store, query),
  };
}
