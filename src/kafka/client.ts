/**
 * The seam between the engine and its Kafka client library. The runtime, the
 * state and the service ask Kafka for what they need through these interfaces
 * only; `kafkajs/` implements them on kafkajs. What no client library does the
 * way the engine needs (exactly-once v2, bulk restore fetches, transaction
 * repair) the engine sends itself (`wire.ts` and the files built on it).
 */
import type { OutgoingRecord } from '../processor/types.js';
import type { Logger } from '../util/logger.js';
import { createKafkajsClient } from './kafkajs/client.js';
import { createPlatformaticClient } from './platformatic/client.js';
import type { RecordHeader } from './record-batches.js';
import type { KafkaSecurity } from './security.js';
import type { BrokerAddress } from './wire-codec.js';

export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor: number;
  configs: Record<string, string>;
}

/** A broker as the cluster lists it, with the security of the listener the client reached it on. */
export interface Broker extends BrokerAddress {
  nodeId: number;
}

export interface TopicMetadata {
  name: string;
  partitions: Array<{ partition: number; leader: number }>;
}

export interface GroupDescription {
  /** Kafka's group state: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead. */
  state: string;
  /** Each member's subscription and assignment, as the consumer protocol encodes them (consumer-protocol.ts). */
  members: Array<{ memberId: string; subscription: Buffer; assignment: Buffer }>;
}

/** The cluster operations the engine needs. Calls may fail with retriable errors (`retriable: true`). */
export interface ClusterAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  listTopics(): Promise<string[]>;
  /** Partitions and their leaders, of topics that exist. */
  topicMetadata(topics: readonly string[]): Promise<TopicMetadata[]>;
  /** The brokers the cluster counts as alive. */
  brokers(): Promise<Broker[]>;
  /** Creates the topics and waits for their leaders. */
  createTopics(specs: readonly TopicSpec[]): Promise<void>;
  /** The high watermark (next offset to be written) of each partition. */
  highWatermarks(topic: string): Promise<Map<number, bigint>>;
  /** Per partition, the first offset whose record's timestamp is at least `timestamp` (the end where none is). */
  offsetsForTime(topic: string, timestamp: number): Promise<Map<number, bigint>>;
  /** The group's committed offset (next offset to read) per partition; absent where none. */
  groupOffsets(groupId: string, topic: string): Promise<Map<number, bigint>>;
  describeGroup(groupId: string): Promise<GroupDescription | undefined>;
  deleteGroups(groupIds: string[]): Promise<void>;
  /** Deletes the topics (all their partitions and records). */
  deleteTopics(topics: string[]): Promise<void>;
  /** Deletes the records of each partition before the given offset (Kafka's DeleteRecords). */
  deleteRecords(topic: string, before: ReadonlyMap<number, bigint>): Promise<void>;
}

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  /** Absent when the record has none. */
  headers?: readonly RecordHeader[] | undefined;
  /** Set while the engine processes the record (RecordOrigin.lineage); undefined until then. */
  lineage?: Buffer | undefined;
}

/** Records of one partition from one fetch, read committed (no aborted records, no markers). */
export interface ConsumedBatch {
  topic: string;
  partition: number;
  records: ConsumedRecord[];
  /** The offset the fetch that brought this batch started at. */
  fetchedOffset: bigint;
  /** The offset after the last record or transaction marker in the batch: where the next fetch starts. */
  nextOffset: bigint;
  /** False once a rebalance or a seek has made this batch out of date. */
  stillValid(): boolean;
  /** Marks records up to `offset` as processed, so a rebalance waits for no more than that. */
  resolve(offset: string): void;
  heartbeat(): Promise<void>;
}

/** What a consumer tells after handling a batch. */
export interface BatchDone {
  topic: string;
  partition: number;
  records: number;
  /** First offset of the batch (records or markers); undefined for an empty fetch. */
  firstOffset: bigint | undefined;
  nextOffset: bigint;
  highWatermark: bigint;
  /** Records left to read in the partition after this batch. */
  lag: bigint;
}

export interface GroupJoin {
  memberId: string;
  generationId: number;
  /** This member's partitions per topic. */
  assignment: Record<string, number[]>;
}

/**
 * A group's partition assignor, run by the group leader. The user data travel in the consumer
 * protocol's subscription and assignment (consumer-protocol.ts), which the client encodes.
 */
export interface GroupAssignor {
  name: string;
  /** What this member tells the leader when it joins; asked anew for every join. */
  userData(): Buffer;
  assign(request: {
    members: Array<{ memberId: string; userData: Buffer | null }>;
    partitionCount(topic: string): number;
  }): Promise<Array<{ memberId: string; partitions: Record<string, number[]>; userData: Buffer }>>;
}

export interface GroupConsumerOptions {
  groupId: string;
  /** Subscribed topics; a partition with no committed offset is read from its beginning. */
  topics: string[];
  fetchMaxWaitMs: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  /** Partitions handed to the batch handler at once (default 1). */
  concurrency?: number;
  /** Resolve each batch's records when the handler returns (default true); false: the handler resolves. */
  autoResolve?: boolean;
  assignor?: GroupAssignor;
  /**
   * Static membership (group.instance.id, KIP-345): stopping does not leave the group, and joining again
   * under the same id within the session timeout gets the same partitions without a rebalance.
   * platformatic has it; kafkajs refuses it.
   */
  groupInstanceId?: string;
  /** How failing requests are retried before the consumer crashes (the client's defaults otherwise). */
  retry?: { retries: number; initialRetryTime: number; maxRetryTime: number };
  eachBatch(batch: ConsumedBatch): Promise<void>;
  onJoin?(join: GroupJoin): void;
  onBatchDone?(done: BatchDone): void;
  /** After every fetch, whatever it brought. */
  onFetch?(): void;
  /** The consumer failed; `restarting`: it rejoins by itself, else it stays stopped until `restart`. */
  onCrash?(error: unknown, restarting: boolean): void;
}

/** A member of a consumer group that hands batches to `eachBatch`. Offsets are never committed by it. */
export interface GroupConsumer {
  /** Joins the group and starts fetching. */
  start(): Promise<void>;
  /** Leaves the group and joins it again (a new assignment). */
  rejoin(): Promise<void>;
  /** Joins again after a crash it did not recover from. */
  restart(): Promise<void>;
  /** Stops fetching and leaves the group (a static member does not leave: it is expected back). */
  stop(): Promise<void>;
  /** Pausing a partition the consumer does not hold (yet) is ignored. */
  pause(topic: string, partition: number): void;
  resume(topic: string, partition: number): void;
  seek(topic: string, partition: number, offset: bigint): void;
}

/** The offset after the last record written, per "topic:partition" a commit wrote to. */
export type WrittenOffsets = Map<string, bigint>;

export interface ConsumedOffsets {
  groupId: string;
  /** Next offset to read, per input topic-partition. */
  offsets: ReadonlyMap<string, ReadonlyMap<number, bigint>>;
}

/** What a task commits through: its own transactional producer, or its share of the instance's. */
export interface CommitWriter {
  /** Fences older producers of the task (its own producer), or nothing (the instance's producer). */
  connect(): Promise<void>;
  commit(
    records: readonly (OutgoingRecord & { partition: number })[],
    consumed: ConsumedOffsets,
  ): Promise<WrittenOffsets>;
  disconnect(): Promise<void>;
}

export interface KafkaClient {
  admin(): ClusterAdmin;
  groupConsumer(options: GroupConsumerOptions): GroupConsumer;
  /** A transactional producer of its own for one task (exactly_once, Kafka's EOS v1). */
  taskWriter(transactionalId: string): CommitWriter;
}

/** kafkajs: the design's client. platformatic: @platformatic/kafka's group membership with our own fetch loop. */
export type KafkaClientKind = 'kafkajs' | 'platformatic';
export const KAFKA_CLIENTS: readonly KafkaClientKind[] = ['kafkajs', 'platformatic'];
/** The faster of the two, and it passes every test kafkajs passes (decision 0012). */
export const DEFAULT_KAFKA_CLIENT: KafkaClientKind = 'platformatic';

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** Which implementation (default kafkajs). */
  kind?: KafkaClientKind;
  /** TLS and SASL for every connection (absent: PLAINTEXT). */
  security?: KafkaSecurity;
}

export function createKafkaClient(options: KafkaClientOptions): KafkaClient {
  return options.kind === 'platformatic' ? createPlatformaticClient(options) : createKafkajsClient(options);
}
