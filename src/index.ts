/**
 * The engine's public API: what an application imports. Everything else under src/ is internal and
 * may change without notice (the service in src/service, src/serving and src/cli is an application
 * of this API, not part of it).
 */

// Building a topology: the DSL, and the Processor API by hand.
export { StreamsBuilder } from './dsl/builder.js';
export { Topology } from './dsl/topology.js';
export type { KStream } from './dsl/kstream.js';
export type { KTable } from './dsl/ktable.js';
export type { GlobalKTable } from './dsl/global-ktable.js';
export type { KGroupedStream, KGroupedTable, AggregateStore, CountStore, ReduceStore } from './dsl/kgrouped.js';
export type { BranchedKStream, Branched } from './dsl/branched.js';
export { JoinWindows, SessionWindows, SlidingWindows, TimeWindows, type Window, type Windowed } from './dsl/windows.js';
export type {
  SessionWindowedKStream,
  SlidingWindowedKStream,
  TimeWindowedKStream,
  WindowStore,
} from './dsl/windowed-stream.js';
export { BufferConfig, Suppressed, type WhenFull } from './dsl/suppressed.js';
export type { TopologyGraph, WindowedStoreLayout } from './dsl/graph.js';
export type {
  Consumed,
  ForeignKeyJoined,
  Grouped,
  KeyValue,
  Materialized,
  Produced,
  Repartitioned,
  StateStoreSpec,
  StreamJoined,
  TableOptions,
} from './dsl/options.js';
export type {
  Cancellable,
  Processor,
  ProcessorContext,
  ProcessorSupplier,
  PunctuationType,
  RecordMetadata,
  StreamRecord,
} from './processor/api.js';
export type {
  DropReason,
  GlobalStoreReader,
  Header,
  KeyValueStore,
  OutgoingRecord,
  RecordOrigin,
} from './processor/types.js';
export type { LineageFacts } from './processor/lineage.js';
export {
  InvalidRecordError,
  SerializationError,
  RecordTooLargeError,
  type RecordErrorKind,
  type RecordErrorPolicy,
} from './processor/errors.js';
export { compileTopology, type CompiledTopology } from './processor/compile.js';
export { describeMermaid, describeText } from './processor/describe.js';

// Running it.
export {
  KafkaStreams,
  TopologyMismatchError,
  type KafkaStreamsOptions,
  type KeyMetadata,
  type StreamsState,
  type TaskPosition,
} from './runtime/kafka-streams.js';
export type { StreamsConfig, StreamsSettings } from './runtime/config.js';
export type { StreamsMetrics } from './runtime/metrics.js';
export type { HotPathHistogram, HistogramChild } from './runtime/hot-path-histogram.js';
export type { DeadLetter } from './runtime/task-core.js';
export type { KafkaClientKind } from './kafka/client.js';
export type { KafkaSecurity, SaslCredentials, SaslMechanism } from './kafka/security.js';
export { createLogger, type Logger, type LogLevel } from './util/logger.js';
export type { RangeQuery } from './state/range-query.js';
export { replayDeadLetters, type ReplayOptions, type ReplayResult } from './runtime/dead-letter-replay.js';

// Serving stores over HTTP (fastify).
export { storeRoutes, type StoreRoutesOptions } from './query/store-routes.js';
export { GlobalStoreProcessingError } from './runtime/global-store-updater.js';
export {
  queryableStores,
  type QueryableStore,
  type QueryableStores,
  type StorePartition,
  type StoreRow,
} from './query/queryable-stores.js';

// Serdes.
export {
  AvroSerde,
  DeserializationError,
  Serdes,
  sessionWindowedSerde,
  timeWindowedSerde,
  type AvroSerdeOptions,
  type JsonValue,
  type Serde,
  type ValueAndTimestamp,
} from './serdes/index.js';

// Testing without a broker.
export { TopologyTestDriver, type DriverRecord } from './testing/test-driver.js';
