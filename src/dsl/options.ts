import type { LineageFacts } from '../processor/lineage.js';
import type { Serde } from '../serdes/serde.js';

export interface Consumed<K, V> {
  /** The source's name in the topology. */
  name?: string;
  keySerde: Serde<K>;
  valueSerde: Serde<V>;
  /**
   * The timestamp records carry through the topology (default: the Kafka
   * record's timestamp), e.g. the source database's commit time of a change.
   */
  timestampExtractor?: (value: V | null, recordTimestamp: number) => number;
  /**
   * Facts about each record for its lineage (see src/processor/lineage.ts), in a short form of the
   * source's own, e.g. a CDC event's table, operation and source position, and an order among records
   * of one timestamp (the LSN); the record's topic, partition, offset, key and timestamp are always in. Set, every record derived from this source
   * carries its lineage through the topology.
   */
  lineage?: (value: V | null) => LineageFacts;
}

export interface Produced<K, V> {
  /** The sink's name in the topology. */
  name?: string;
  keySerde: Serde<K>;
  valueSerde: Serde<V>;
}

/** A store's name and how its keys and values are written to LevelDB and its changelog. */
export interface Materialized<K, V> {
  storeName?: string;
  keySerde: Serde<K>;
  valueSerde: Serde<V>;
  /**
   * Keep, per key and per input topic of the store's task, the lineage of the record that last
   * changed the row: in a companion store `<storeName>-lineage` with its own changelog.
   */
  lineage?: boolean;
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

/** A record's key and value, as map, flatMap and a table's groupBy give them. */
export interface KeyValue<K, V> {
  key: K;
  value: V;
}

/** How `KStream.repartition` writes its internal topic. */
export interface Repartitioned<K, V> {
  /** Names the topic (`<applicationId>-<name>-repartition`); default from the operator's position. */
  name?: string;
  keySerde: Serde<K>;
  valueSerde: Serde<V>;
}

/** A store added by hand for the Processor API: its name is required, processors ask for it by name. */
export type StateStoreSpec<K, V> = Materialized<K, V> & { storeName: string };

/**
 * How a foreign-key join serializes what it sends between the tables' tasks. Each serde defaults to
 * the table's store's (a table read from a topic, or materialized); the result is always kept in a
 * store (`storeName`, default `<join name>-store`) with `valueSerde`.
 */
export interface ForeignKeyJoined<K, V, KO, VO, R> {
  /** Names the join, its internal topics and its stores (default from its position). */
  name?: string;
  keySerde?: Serde<K>;
  /** This table's rows: their bytes' hash tells a current answer from a stale one. */
  valueSerde?: Serde<V>;
  otherKeySerde?: Serde<KO>;
  otherValueSerde?: Serde<VO>;
  materialized: { storeName?: string; valueSerde: Serde<R> };
}

/**
 * The serdes a windowed stream-stream join keeps both sides' records with (Kafka Streams'
 * StreamJoined), and optionally the join's name and its stores' base name.
 */
export interface StreamJoined<K, V, VO> {
  readonly keySerde: Serde<K>;
  /** This stream's values. */
  readonly valueSerde: Serde<V>;
  /** The other stream's values. */
  readonly otherValueSerde: Serde<VO>;
  readonly name?: string;
  /** The stores are named after it: `<storeName>-this-join-store`, `-other-join-store`, `-outer-join-store`. */
  readonly storeName?: string;
}
