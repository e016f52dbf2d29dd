/**
 * The requests of exactly-once v2 (KIP-447) that kafkajs lacks, in the
 * flexible encoding, each on a connection of its own (`wire.ts`):
 *
 * - TxnOffsetCommit v3 carries the consumer group's generation and member id,
 *   so the group coordinator refuses offsets from a member the group has
 *   replaced (a zombie): one producer per instance can then commit for every
 *   task, where without it each task needs a producer of its own to be fenced.
 * - OffsetFetch v7 with require_stable: a task's new owner waits while a
 *   transaction with offsets for its partitions is still open.
 * - InitProducerId, AddPartitionsToTxn, Produce (record batches encoded
 *   here), AddOffsetsToTxn and EndTxn, to drive a transaction around them.
 */
import { encodeRecordBatch, type BatchRecord } from './record-batch-encoder.js';
import { BrokerConnection, call, Writer, type BrokerAddress, type Reader } from './wire.js';

const API = {
  produce: 0,
  addPartitionsToTxn: 24,
  findCoordinator: 10,
  offsetFetch: 9,
  initProducerId: 22,
  addOffsetsToTxn: 25,
  endTxn: 26,
  txnOffsetCommit: 28,
} as const;

/** Where a request goes: a broker (a connection of its own) or an open connection to it. */
export type RequestTarget = BrokerAddress | BrokerConnection;

/** Sends a flexible-version request to the target. */
function send(target: RequestTarget, apiKey: number, version: number, body: Buffer): Promise<Reader> {
  return target instanceof BrokerConnection
    ? target.request(apiKey, version, body, 30_000, true)
    : call(target, apiKey, version, body);
}

/**
 * Sends a request again while the coordinator answers that it is busy: the previous transaction is
 * still ending (CONCURRENT_TRANSACTIONS) or it is loading its state after a start.
 */
async function whileBusy<T>(request: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      const busy =
        error instanceof KafkaProtocolError &&
        (error.code === KafkaErrors.CONCURRENT_TRANSACTIONS || error.code === KafkaErrors.COORDINATOR_LOAD_IN_PROGRESS);
      if (!busy || attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
    }
  }
}

/** Throws the first partition's error, if any. */
function throwFirstError(
  request: string,
  results: ReadonlyArray<{ topic: string; partition: number; errorCode: number }>,
) {
  const failed = results.find((p) => p.errorCode !== 0);
  if (failed) throw new KafkaProtocolError(request, failed.errorCode, `${failed.topic}-${failed.partition}`);
}

/** Kafka's error codes that callers here act on. */
export const KafkaErrors = {
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  ILLEGAL_GENERATION: 22,
  UNKNOWN_MEMBER_ID: 25,
  REBALANCE_IN_PROGRESS: 27,
  CONCURRENT_TRANSACTIONS: 51,
  PRODUCER_FENCED: 90,
  FENCED_INSTANCE_ID: 82,
  UNSTABLE_OFFSET_COMMIT: 88,
} as const;

/** A request the broker answered with an error code. */
export class KafkaProtocolError extends Error {
  override name = 'KafkaProtocolError';
  constructor(
    readonly request: string,
    readonly code: number,
    detail = '',
  ) {
    super(`${request} failed with error ${code}${detail ? ` (${detail})` : ''}`);
  }
}

export interface ProducerIdentity {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
}

export interface GroupMembership {
  groupId: string;
  generationId: number;
  memberId: string;
  /** Static membership's group.instance.id, when used. */
  groupInstanceId?: string;
}

/** The broker that coordinates a consumer group (key type 0) or a transactional id (key type 1). */
export async function findCoordinator(
  broker: BrokerAddress,
  key: string,
  keyType: 'group' | 'transaction',
  timeoutMs = 30_000,
): Promise<BrokerAddress> {
  // On a new cluster the first lookup creates the coordinators' topic: "not available" until it is
  // loaded, as just after a broker restart.
  for (const deadline = Date.now() + timeoutMs; ;) {
    try {
      return await findCoordinatorOnce(broker, key, keyType);
    } catch (error) {
      const waiting =
        error instanceof KafkaProtocolError &&
        (error.code === KafkaErrors.COORDINATOR_NOT_AVAILABLE ||
          error.code === KafkaErrors.COORDINATOR_LOAD_IN_PROGRESS);
      if (!waiting || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function findCoordinatorOnce(
  broker: BrokerAddress,
  key: string,
  keyType: 'group' | 'transaction',
): Promise<BrokerAddress> {
  const body = new Writer()
    .compactString(key)
    .int8(keyType === 'group' ? 0 : 1)
    .noTags().buffer;
  const r = await call(broker, API.findCoordinator, 3, body);
  r.int32(); // throttle
  const errorCode = r.int16();
  const message = r.compactNullableString();
  const nodeId = r.int32();
  const host = r.compactString();
  const port = r.int32();
  if (errorCode !== 0 || nodeId < 0) throw new KafkaProtocolError('FindCoordinator', errorCode, message ?? '');
  // On the same listener as the broker asked, so reached the same way.
  return { host, port, ...(broker.security ? { security: broker.security } : {}) };
}

/** A producer id and epoch for a transactional id; bumps the epoch, fencing older producers with that id. */
export function initProducerId(
  coordinator: RequestTarget,
  transactionalId: string,
  transactionTimeoutMs: number,
): Promise<ProducerIdentity> {
  return whileBusy(() => initProducerIdOnce(coordinator, transactionalId, transactionTimeoutMs));
}

async function initProducerIdOnce(
  coordinator: RequestTarget,
  transactionalId: string,
  transactionTimeoutMs: number,
): Promise<ProducerIdentity> {
  const body = new Writer()
    .compactString(transactionalId)
    .int32(transactionTimeoutMs)
    .int64(-1n)
    .int16(-1)
    .noTags().buffer;
  const r = await send(coordinator, API.initProducerId, 4, body);
  r.int32();
  const errorCode = r.int16();
  const producerId = r.int64();
  const producerEpoch = r.int16();
  if (errorCode !== 0) throw new KafkaProtocolError('InitProducerId', errorCode);
  return { transactionalId, producerId, producerEpoch };
}

/** Adds the group's offsets partition to the producer's transaction (before TxnOffsetCommit). */
export function addOffsetsToTxn(
  coordinator: RequestTarget,
  producer: ProducerIdentity,
  groupId: string,
): Promise<void> {
  return whileBusy(() => addOffsetsToTxnOnce(coordinator, producer, groupId));
}

async function addOffsetsToTxnOnce(
  coordinator: RequestTarget,
  producer: ProducerIdentity,
  groupId: string,
): Promise<void> {
  const body = new Writer()
    .compactString(producer.transactionalId)
    .int64(producer.producerId)
    .int16(producer.producerEpoch)
    .compactString(groupId)
    .noTags().buffer;
  const r = await send(coordinator, API.addOffsetsToTxn, 3, body);
  r.int32();
  const errorCode = r.int16();
  if (errorCode !== 0) throw new KafkaProtocolError('AddOffsetsToTxn', errorCode);
}

/**
 * Commits consumed offsets inside the producer's transaction, as the given member of the given
 * generation: the group coordinator refuses them (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
 * FENCED_INSTANCE_ID) from a member the group no longer has.
 */
export async function txnOffsetCommit(
  groupCoordinator: RequestTarget,
  producer: ProducerIdentity,
  member: GroupMembership,
  offsets: ReadonlyMap<string, ReadonlyMap<number, bigint>>,
): Promise<void> {
  const w = new Writer()
    .compactString(producer.transactionalId)
    .compactString(member.groupId)
    .int64(producer.producerId)
    .int16(producer.producerEpoch)
    .int32(member.generationId)
    .compactString(member.memberId);
  if (member.groupInstanceId === undefined) w.uvarint(0);
  else w.compactString(member.groupInstanceId);
  w.compactArray([...offsets], ([topic, partitions]) => {
    w.compactString(topic);
    w.compactArray([...partitions], ([partition, offset]) => {
      w.int32(partition).int64(offset).int32(-1).uvarint(0).noTags(); // leader epoch unknown, no metadata
    });
    w.noTags();
  });
  w.noTags();
  const r = await send(groupCoordinator, API.txnOffsetCommit, 3, w.buffer);
  r.int32();
  throwFirstError('TxnOffsetCommit', r.compactPartitionErrors());
}

/** Ends the producer's transaction: commit or abort. */
export async function endTxn(coordinator: RequestTarget, producer: ProducerIdentity, commit: boolean): Promise<void> {
  const body = new Writer()
    .compactString(producer.transactionalId)
    .int64(producer.producerId)
    .int16(producer.producerEpoch)
    .int8(commit ? 1 : 0)
    .noTags().buffer;
  const r = await send(coordinator, API.endTxn, 3, body);
  r.int32();
  const errorCode = r.int16();
  if (errorCode !== 0) throw new KafkaProtocolError('EndTxn', errorCode);
}

/**
 * The group's committed offsets of the given partitions, once stable: while a transaction with
 * offsets for one of them is open, the coordinator answers UNSTABLE_OFFSET_COMMIT, thrown here as a
 * KafkaProtocolError for the caller to retry. Partitions without a committed offset are absent.
 */
export async function fetchStableOffsets(
  groupCoordinator: RequestTarget,
  groupId: string,
  partitions: ReadonlyMap<string, readonly number[]>,
): Promise<Map<string, Map<number, bigint>>> {
  const w = new Writer().compactString(groupId).compactTopicPartitions(partitions);
  w.int8(1).noTags(); // require_stable
  const r = await send(groupCoordinator, API.offsetFetch, 7, w.buffer);
  r.int32();
  const result = new Map<string, Map<number, bigint>>();
  let failure: KafkaProtocolError | undefined;
  r.compactArray(() => {
    const topic = r.compactString();
    const byPartition = new Map<number, bigint>();
    r.compactArray(() => {
      const partition = r.int32();
      const offset = r.int64();
      r.int32(); // leader epoch
      r.compactNullableString(); // metadata
      const errorCode = r.int16();
      r.skipTags();
      if (errorCode !== 0) failure ??= new KafkaProtocolError('OffsetFetch', errorCode, `${topic}-${partition}`);
      else if (offset >= 0n) byPartition.set(partition, offset);
    });
    r.skipTags();
    result.set(topic, byPartition);
  });
  const errorCode = r.int16();
  if (errorCode !== 0) throw new KafkaProtocolError('OffsetFetch', errorCode);
  if (failure) throw failure;
  return result;
}

/** Adds partitions to the producer's transaction (before producing to them). */
export function addPartitionsToTxn(
  coordinator: RequestTarget,
  producer: ProducerIdentity,
  partitions: ReadonlyMap<string, readonly number[]>,
): Promise<void> {
  return whileBusy(() => addPartitionsToTxnOnce(coordinator, producer, partitions));
}

async function addPartitionsToTxnOnce(
  coordinator: RequestTarget,
  producer: ProducerIdentity,
  partitions: ReadonlyMap<string, readonly number[]>,
): Promise<void> {
  const w = new Writer()
    .compactString(producer.transactionalId)
    .int64(producer.producerId)
    .int16(producer.producerEpoch);
  w.compactTopicPartitions(partitions).noTags();
  const r = await send(coordinator, API.addPartitionsToTxn, 3, w.buffer);
  r.int32();
  throwFirstError('AddPartitionsToTxn', r.compactPartitionErrors());
}

export interface PartitionBatch {
  topic: string;
  partition: number;
  records: readonly BatchRecord[];
  /** Sequence of the first record on this partition for this producer epoch. */
  baseSequence: number;
}

/**
 * Produces one batch per partition, all led by the connection's broker, in the producer's
 * transaction (acks=all). Returns the offset after each batch, by "topic:partition".
 */
export async function produceTransactional(
  leader: BrokerConnection,
  producer: ProducerIdentity,
  batches: readonly PartitionBatch[],
  timeoutMs = 30_000,
): Promise<Map<string, bigint>> {
  const byTopic = new Map<string, PartitionBatch[]>();
  for (const b of batches) byTopic.set(b.topic, [...(byTopic.get(b.topic) ?? []), b]);
  const w = new Writer().string(producer.transactionalId).int16(-1).int32(timeoutMs).int32(byTopic.size);
  for (const [topic, partitionBatches] of byTopic) {
    w.string(topic).int32(partitionBatches.length);
    for (const b of partitionBatches) {
      const bytes = encodeRecordBatch(b.records, { ...producer, baseSequence: b.baseSequence, transactional: true });
      w.int32(b.partition).int32(bytes.length).push(bytes);
    }
  }
  const r = await leader.request(API.produce, 8, w.buffer, timeoutMs + 5000);
  const written = new Map<string, bigint>();
  let failure: KafkaProtocolError | undefined;
  r.array(() => {
    const topic = r.nullableString() ?? '';
    r.array(() => {
      const partition = r.int32();
      const errorCode = r.int16();
      const baseOffset = r.int64();
      r.int64(); // log append time
      r.int64(); // log start offset
      r.array(() => [r.int32(), r.nullableString()]); // record errors
      const message = r.nullableString();
      if (errorCode !== 0)
        failure ??= new KafkaProtocolError('Produce', errorCode, `${topic}-${partition} ${message ?? ''}`);
      const sent = batches.find((b) => b.topic === topic && b.partition === partition);
      if (sent) written.set(`${topic}:${partition}`, baseOffset + BigInt(sent.records.length));
    });
  });
  if (failure) throw failure;
  return written;
}
