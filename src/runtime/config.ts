import {
  DEFAULT_MAX_RECORD_BYTES,
  RECORD_ERROR_POLICIES,
  type RecordErrorKind,
  type RecordErrorPolicy,
} from '../processor/errors.js';
import { DEFAULT_KAFKA_CLIENT, KAFKA_CLIENTS, type KafkaClientKind } from '../kafka/client.js';
import type { KafkaSecurity } from '../kafka/security.js';
import type { StoreMemory } from '../state/leveldb-backend.js';

/** The engine's settings, with defaults, checked once at start. */
export interface StreamsConfig {
  /** Names the consumer group, the internal topics and the state directory. */
  applicationId: string;
  brokers: string[];
  /** Where task stores live: <stateDir>/<applicationId>/<taskId>. */
  stateDir: string;
  /** host:port of this instance's HTTP endpoint, advertised to the group for routing. */
  endpoint: string;
  /** How often tasks commit their transaction (and so how soon their output is visible). */
  commitIntervalMs: number;
  /**
   * How often tasks commit while the instance is far behind its input (catchUpLagRecords or more left
   * to read): held changes of the same key collapse over the longer interval, so a backlog costs fewer
   * join evaluations, as with Kafka Streams' record cache over its 100 ms commits. 0: always commitIntervalMs.
   */
  catchUpCommitIntervalMs: number;
  /** Records left in the input partitions of an instance's tasks from which it counts as far behind. */
  catchUpLagRecords: number;
  /** Partitions of the repartition topics (and so of the tasks reading them). */
  internalPartitions: number;
  /**
   * How often the records of repartition topics that this instance's tasks have committed are deleted
   * (Kafka Streams' repartition.purge.interval.ms): nothing reads them again.
   */
  repartitionPurgeIntervalMs: number;
  /** Replication factor of internal topics. */
  replicationFactor: number;
  deadLetterTopic: string;
  /**
   * What becomes of a record that fails, per kind (Kafka Streams' deserialization, processing and
   * production exception handlers): `dead-letter` (to deadLetterTopic, then the next record), `skip`
   * (logged and counted, then the next record) or `fail` (the application stops before that record,
   * committing what came before it; it fails again on the same record when started again).
   */
  errorPolicies: Readonly<Record<RecordErrorKind, RecordErrorPolicy>>;
  /**
   * What becomes of a record a windowed node drops as late (a window it falls in had closed): `drop`
   * (counted in streams_dropped_records_total, as Kafka Streams does) or `dead-letter` (counted, and a
   * copy goes to deadLetterTopic with reason `late`, once per input record; processing goes on).
   */
  lateRecords: 'drop' | 'dead-letter';
  /** A task commits early once it has processed this many records since its last commit (bounds transaction size). */
  maxRecordsPerCommit: number;
  /**
   * The largest record (key, value and headers) a task sends to a sink or repartition topic; a larger
   * one is a production error (errorPolicies.production decides) rather than a commit the broker
   * refuses. Keep it under the topics' max.message.bytes.
   */
  maxRecordBytes: number;
  /**
   * Changes a task's aggregates may hold back, newest per key, until its next
   * commit (Kafka Streams' record cache); 0 forwards every change at once.
   */
  cacheMaxEntries: number;
  /** Longest the engine processes records before it lets the event loop serve requests (ms). */
  turnMs: number;
  /** Longest the consumer waits for data in a fetch. */
  fetchMaxWaitMs: number;
  sessionTimeoutMs: number;
  /** Delete local state of tasks not owned for this long. */
  stateCleanupDelayMs: number;
  /** Standby replicas of each stateful task, kept current on other instances (Kafka Streams' num.standby.replicas). */
  numStandbyReplicas: number;
  /** An instance whose copy of a task is at most this many changelog records behind may take it over at once. */
  acceptableRecoveryLag: number;
  /** Warm-up replicas the group may have at once, preparing tasks for the instances they should move to. */
  maxWarmupReplicas: number;
  /**
   * While this instance warms tasks up, how often it asks for a rebalance even if they are not
   * caught up yet (it asks at once when they are). Kafka Streams' probing.rebalance.interval.ms.
   */
  probingRebalanceIntervalMs: number;
  /** At start, how long to keep trying to reach the brokers before giving up. */
  startupTimeoutMs: number;
  /**
   * exactly_once_v2 (the default, decision 0008): one transactional producer per instance, offsets
   * committed with the group generation (KIP-447), as Kafka Streams does. exactly_once: a kafkajs
   * transactional producer per task, fenced by the task's next owner.
   */
  processingGuarantee: 'exactly_once' | 'exactly_once_v2';
  /** The Kafka client library behind src/kafka/client.ts (decision 0010). */
  kafkaClient: KafkaClientKind;
  /** TLS and SASL for every connection to Kafka, the client library's and the engine's own (absent: PLAINTEXT). */
  security?: KafkaSecurity;
  /**
   * Static membership (Kafka's group.instance.id, KIP-345): unique to the instance and kept across its
   * restarts. A static member does not leave the group when it stops; its tasks wait for it until the
   * session times out, so a restart moves nothing. Needs a client that has it (platformatic).
   */
  groupInstanceId?: string;
  /** LevelDB block cache of each task's store (anonymous memory, per open store). */
  storeCacheBytes: number;
  /** Snappy compression of LevelDB's table blocks (reads that miss the block cache then decompress). */
  storeCompression: boolean;
  /**
   * Snappy compression of the tables a bulk load (restore) writes: fewer bytes to write and compact
   * while restoring; the store's own setting (`storeCompression`) applies again after, as compactions
   * rewrite those tables.
   */
  restoreCompression: boolean;
  /**
   * Committed rows each active task keeps on the engine's heap after reading or writing them (RowCache),
   * so hot keys skip LevelDB; 0 turns it off.
   */
  storeRowCacheBytes: number;
  /**
   * LevelDB memtable per state store. A task's stores share one LevelDB, whose memtable is this times
   * the task's store count (up to two at once): as Kafka Streams gives each store its own, so a task
   * holding many stores does not write them out, and compact them, more often than one holding one.
   */
  storeWriteBufferBytes: number;
  /**
   * A task restoring at least `bulkRestoreMinRecords` records is bulk loaded: its store gets a memtable
   * of `bulkRestoreWriteBufferBytes` (0: never) while it restores, and `bulkRestoreTasks` such tasks
   * restore at once (runtime/restore-waves.ts).
   */
  bulkRestoreMinRecords: number;
  bulkRestoreWriteBufferBytes: number;
  bulkRestoreTasks: number;
  /**
   * Fetched changelog bytes a restore holds per broker before they are written: the restore's memory
   * (its records are views into them, each an object on the heap) against its speed.
   */
  restoreFetchBytes: number;
}

/** The LevelDB memory settings of the LevelDB holding a task's `storeCount` stores, from the configuration. */
export function storeMemory(config: StreamsConfig, storeCount: number): StoreMemory {
  const writeBufferBytes = config.storeWriteBufferBytes * Math.max(1, storeCount);
  return {
    cacheBytes: config.storeCacheBytes,
    compression: config.storeCompression,
    writeBufferBytes,
    // A bulk load (restore) never gets a smaller memtable than the task's own; it keeps bulkCompression.
    bulkWriteBufferBytes:
      config.bulkRestoreWriteBufferBytes > 0 ? Math.max(config.bulkRestoreWriteBufferBytes, writeBufferBytes) : 0,
    bulkCompression: config.restoreCompression,
  };
}

export type StreamsSettings = Pick<StreamsConfig, 'applicationId' | 'brokers' | 'stateDir' | 'endpoint'> &
  Partial<Omit<StreamsConfig, 'errorPolicies'>> & { errorPolicies?: Partial<StreamsConfig['errorPolicies']> };

export function streamsConfig(settings: StreamsSettings): StreamsConfig {
  const config: StreamsConfig = {
    commitIntervalMs: 100,
    catchUpCommitIntervalMs: 0,
    catchUpLagRecords: 20_000,
    internalPartitions: 4,
    repartitionPurgeIntervalMs: 30_000,
    replicationFactor: 1,
    deadLetterTopic: `${settings.applicationId}-dead-letters`,
    turnMs: 2,
    maxRecordsPerCommit: 5000,
    maxRecordBytes: DEFAULT_MAX_RECORD_BYTES,
    cacheMaxEntries: 10_000,
    fetchMaxWaitMs: 50,
    sessionTimeoutMs: 10_000,
    stateCleanupDelayMs: 10 * 60_000,
    numStandbyReplicas: 0,
    acceptableRecoveryLag: 10_000,
    maxWarmupReplicas: 2,
    probingRebalanceIntervalMs: 10 * 60_000,
    startupTimeoutMs: 120_000,
    processingGuarantee: 'exactly_once_v2',
    kafkaClient: DEFAULT_KAFKA_CLIENT,
    storeCacheBytes: 8 * 1024 * 1024,
    storeCompression: false,
    restoreCompression: true,
    storeRowCacheBytes: 0,
    storeWriteBufferBytes: 4 * 1024 * 1024,
    bulkRestoreMinRecords: 50_000,
    bulkRestoreWriteBufferBytes: 32 * 1024 * 1024,
    bulkRestoreTasks: 1,
    restoreFetchBytes: 32 * 1024 * 1024,
    lateRecords: 'drop',
    ...settings,
    errorPolicies: {
      deserialization: 'dead-letter',
      processing: 'dead-letter',
      production: 'dead-letter',
      ...settings.errorPolicies,
    },
  };
  const problems: string[] = [];
  if (!/^[a-zA-Z0-9._-]{1,100}$/.test(config.applicationId))
    problems.push('applicationId may only contain letters, digits, ".", "_" and "-"');
  if (config.brokers.length === 0) problems.push('brokers: give at least one host:port');
  if (!/^[^\s:/]+:\d{1,5}$/.test(config.endpoint)) problems.push(`endpoint "${config.endpoint}" must be host:port`);
  for (const key of [
    'internalPartitions',
    'repartitionPurgeIntervalMs',
    'replicationFactor',
    'turnMs',
    'maxRecordsPerCommit',
    'maxRecordBytes',
    'fetchMaxWaitMs',
    'sessionTimeoutMs',
    'maxWarmupReplicas',
    'probingRebalanceIntervalMs',
    'startupTimeoutMs',
    'storeCacheBytes',
    'storeWriteBufferBytes',
    'bulkRestoreTasks',
    'restoreFetchBytes',
  ] as const) {
    if (!Number.isInteger(config[key]) || config[key] <= 0) problems.push(`${key} must be a positive integer`);
  }
  for (const key of [
    'commitIntervalMs',
    'cacheMaxEntries',
    'storeRowCacheBytes',
    'numStandbyReplicas',
    'acceptableRecoveryLag',
    'bulkRestoreMinRecords',
    'bulkRestoreWriteBufferBytes',
  ] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 0) problems.push(`${key} must be an integer, 0 or more`);
  }
  if (!['exactly_once', 'exactly_once_v2'].includes(config.processingGuarantee))
    problems.push('processingGuarantee must be exactly_once or exactly_once_v2');
  for (const kind of ['deserialization', 'processing', 'production'] as const) {
    if (!RECORD_ERROR_POLICIES.includes(config.errorPolicies[kind]))
      problems.push(`errorPolicies.${kind} must be ${RECORD_ERROR_POLICIES.join(', ')}`);
  }
  if (!['drop', 'dead-letter'].includes(config.lateRecords)) problems.push('lateRecords must be drop or dead-letter');
  if (!KAFKA_CLIENTS.includes(config.kafkaClient)) problems.push(`kafkaClient must be ${KAFKA_CLIENTS.join(' or ')}`);
  if (config.groupInstanceId !== undefined) {
    if (!/^[a-zA-Z0-9._-]{1,200}$/.test(config.groupInstanceId))
      problems.push('groupInstanceId may only contain letters, digits, ".", "_" and "-"');
    if (config.kafkaClient !== 'platformatic')
      problems.push('groupInstanceId (static membership) needs kafkaClient platformatic: kafkajs has none');
  }
  if (problems.length) throw new Error(`invalid streams configuration: ${problems.join('; ')}`);
  return config;
}
