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
 * - InitProducerId, AddOffsetsToTxn and EndTxn, to drive a transaction around
 *   them.
 */
import { call, Writer, type BrokerAddress } from './wire.js';

const API = {
  findCoordinator: 10,
  offsetFetch: 9,
  initProducerId: 22,
  addOffsetsToTxn: 25,
  endTxn: 26,
  txnOffsetCommit: 28,
} as const;

/** Kafka's error codes that callers here act on. */
export const KafkaErrors = {
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
  return { host, port };
}

/** A producer id and epoch for a transactional id; bumps the epoch, fencing older producers with that id. */
export async function initProducerId(
  coordinator: BrokerAddress,
  transactionalId: string,
  transactionTimeoutMs: number,
): Promise<ProducerIdentity> {
  const body = new Writer()
    .compactString(transactionalId)
    .int32(transactionTimeoutMs)
    .int64(-1n)
    .int16(-1)
    .noTags().buffer;
  const r = await call(coordinator, API.initProducerId, 4, body);
  r.int32();
  const errorCode = r.int16();
  const producerId = r.int64();
  const producerEpoch = r.int16();
  if (errorCode !== 0) throw new KafkaProtocolError('InitProducerId', errorCode);
  return { transactionalId, producerId, producerEpoch };
}

/** Adds the group's offsets partition to the producer's transaction (before TxnOffsetCommit). */
export async function addOffsetsToTxn(
  coordinator: BrokerAddress,
  producer: ProducerIdentity,
  groupId: string,
): Promise<void> {
  const body = new Writer()
    .compactString(producer.transactionalId)
    .int64(producer.producerId)
    .int16(producer.producerEpoch)
    .compactString(groupId)
    .noTags().buffer;
  const r = await call(coordinator, API.addOffsetsToTxn, 3, body);
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
  groupCoordinator: BrokerAddress,
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
  const r = await call(groupCoordinator, API.txnOffsetCommit, 3, w.buffer);
  r.int32();
  let failure: KafkaProtocolError | undefined;
  r.compactArray(() => {
    const topic = r.compactString();
    r.compactArray(() => {
      const partition = r.int32();
      const errorCode = r.int16();
      r.skipTags();
      if (errorCode !== 0) failure ??= new KafkaProtocolError('TxnOffsetCommit', errorCode, `${topic}-${partition}`);
    });
    r.skipTags();
  });
  if (failure) throw failure;
}

/** Ends the producer's transaction: commit or abort. */
export async function endTxn(coordinator: BrokerAddress, producer: ProducerIdentity, commit: boolean): Promise<void> {
  const body = new Writer()
    .compactString(producer.transactionalId)
    .int64(producer.producerId)
    .int16(producer.producerEpoch)
    .int8(commit ? 1 : 0)
    .noTags().buffer;
  const r = await call(coordinator, API.endTxn, 3, body);
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
  groupCoordinator: BrokerAddress,
  groupId: string,
  partitions: ReadonlyMap<string, readonly number[]>,
): Promise<Map<string, Map<number, bigint>>> {
  const w = new Writer().compactString(groupId);
  w.compactArray([...partitions], ([topic, ids]) => {
    w.compactString(topic);
    w.compactArray(ids, (id) => w.int32(id));
    w.noTags();
  });
  w.int8(1).noTags(); // require_stable
  const r = await call(groupCoordinator, API.offsetFetch, 7, w.buffer);
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
