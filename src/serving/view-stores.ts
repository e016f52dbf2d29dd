/**
 * The stores of the view's tasks (the view, the counts it joins, ...) as the generic store routes
 * (src/query/store-routes.ts) ask for them, read through the serving thread's StoreView, wherever
 * the engine runs. Every one of them lives in the view's tasks, so they share its partitions.
 */
import type { QueryableStore, QueryableStores, StorePartition } from '../query/queryable-stores.js';
import type { StoreView } from './streams-view-source.js';

export function viewStores(
  /** The view, once the engine has started. */
  view: () => StoreView | undefined,
  /** This instance's host:port while no engine is attached. */
  startingEndpoint: () => string,
  stores: ReadonlyMap<string, QueryableStore>,
): QueryableStores {
  const started = (): StoreView => {
    const current = view();
    if (!current) throw new Error('the engine has not started');
    return current;
  };
  const noGlobal = (store: string): never => {
    throw new Error(`${store} is not a global store`);
  };
  return {
    get endpoint() {
      return view()?.endpoint ?? startingEndpoint();
    },
    stores,
    keyMetadata: (_store, key) => view()?.keyMetadata(key),
    storePartitions() {
      const current = view();
      const partitions: StorePartition[] = [];
      for (let p = 0; p < (current?.partitionCount ?? 0); p++) {
        const meta = current!.partitionMetadata(p);
        if (!meta) return [];
        partitions.push(meta);
      }
      return partitions;
    },
    getLocal: (store, partition, key) => started().readActiveIn(store, key, partition),
    rangeLocal: (store, partition, query) => started().rangeActiveIn(store, partition, query),
    getGlobal: noGlobal,
    rangeGlobal: noGlobal,
  };
}
