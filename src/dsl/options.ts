import type { Serde } from '../serdes/serde.js';

export interface Consumed<K, V> {
  keySerde: Serde<K>;
  valueSerde: Serde<V>;
}

export type Produced<K, V> = Consumed<K, V>;

/** A store's name and how its keys and values are written to LevelDB and its changelog. */
export interface Materialized<K, V> {
  storeName?: string;
  keySerde: Serde<K>;
  valueSerde: Serde<V>;
}

export interface TableOptions<K, V> extends Consumed<K, V> {
  storeName?: string;
}

export interface Grouped<K, V> {
  /** Names the repartition topic (`<applicationId>-<name>-repartition`). */
  name?: string;
  keySerde: Serde<K>;
  valueSerde: Serde<V>;
}
