import type { Serde } from '../serdes/serde.js';

export interface Consumed<K, V> {
  keySerde: Serde<K>;
  valueSerde: Serde<V>;
  /**
   * The timestamp records carry through the topology (default: the Kafka
   * record's timestamp), e.g. the source database's commit time of a change.
   */
  timestampExtractor?: (value: V | null, recordTimestamp: number) => number;
}

export interface Produced<K, V> {
  keySerde: Serde<K>;
  valueSerde: Serde<V>;
}

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
