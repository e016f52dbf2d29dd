/**
 * The Kafka admin requests for transactions that kafkajs does not have
 * (Kafka's own `kafka-transactions.sh` uses the same ones): FindCoordinator
 * for a transactional id, DescribeTransactions, DescribeProducers and
 * WriteTxnMarkers. Each is one request on a short-lived connection to the
 * broker that serves it, in the flexible (compact) encoding.
 */
import { findCoordinator } from './group-transactions.js';
import { BrokerConnection, BrokerUnreachableError, call, Writer, type BrokerAddress } from './wire.js';

export { BrokerUnreachableError, type BrokerAddress };

export interface TransactionState {
  errorCode: number;
  /** Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, Empty, Dead, PrepareEpochFence. */
  state: string;
  producerId: bigint;
  producerEpoch: number;
  /** The partitions of the transaction under way (as `topic:partition`). */
  partitions: Set<string>;
}

export interface ActiveProducer {
  producerId: bigint;
  producerEpoch: number;
  coordinatorEpoch: number;
  /** First offset of the producer's open transaction on the partition; -1 when none is open. */
  currentTxnStartOffset: bigint;
  /** Timestamp of the producer's last record on the partition. */
  lastTimestamp: number;
  /** Sequence number of the producer's last record on the partition (-1: none). */
  lastSequence: number;
}

export interface PartitionRef {
  topic: string;
  partition: number;
}

const API = { writeTxnMarkers: 27, describeProducers: 61, describeTransactions: 65, listTransactions: 66 } as const;

/** The broker that coordinates a transactional id's transactions. */
export function findTransactionCoordinator(broker: BrokerAddress, transactionalId: string): Promise<BrokerAddress> {
  return findCoordinator(broker, transactionalId, 'transaction');
}

export async function describeTransaction(
  coordinator: BrokerAddress,
  transactionalId: string,
): Promise<TransactionState> {
  const request = new Writer();
  request.compactArray([transactionalId], (id) => request.compactString(id)).noTags();
  const r = await call(coordinator, API.describeTransactions, 0, request.buffer);
  r.int32(); // throttle
  const [state] = r.compactArray(() => {
    const errorCode = r.int16();
    r.compactString(); // transactional id
    const txnState = r.compactString();
    r.int32(); // timeout
    r.int64(); // start time
    const producerId = r.int64();
    const producerEpoch = r.int16();
    const partitions = new Set<string>();
    r.compactArray(() => {
      const topic = r.compactString();
      for (const partition of r.compactArray(() => r.int32())) partitions.add(`${topic}:${partition}`);
      r.skipTags();
    });
    r.skipTags();
    return { errorCode, state: txnState, producerId, producerEpoch, partitions };
  });
  if (!state) throw new Error('DescribeTransactions answered nothing');
  return state;
}

/** The transactional ids of the given producer ids that `broker` coordinates (ask every broker for all of them). */
export async function listTransactions(
  broker: BrokerAddress,
  producerIds: readonly bigint[],
): Promise<Array<{ transactionalId: string; producerId: bigint; state: string }>> {
  const request = new Writer();
  request.compactArray([], () => undefined); // no state filter
  request.compactArray(producerIds, (id) => request.int64(id)).noTags();
  const r = await call(broker, API.listTransactions, 0, request.buffer);
  r.int32(); // throttle
  const errorCode = r.int16();
  if (errorCode !== 0) throw new Error(`ListTransactions failed (${errorCode})`);
  r.compactArray(() => r.compactString()); // unknown state filters
  const states = r.compactArray(() => {
    const state = { transactionalId: r.compactString(), producerId: r.int64(), state: r.compactString() };
    r.skipTags();
    return state;
  });
  r.skipTags();
  return states;
}

/** The producers the partition leader knows on each partition (all on `leader`). */
export async function describeProducers(
  leader: BrokerAddress | BrokerConnection,
  partitions: readonly PartitionRef[],
): Promise<Map<string, ActiveProducer[]>> {
  const request = new Writer().compactTopicPartitions(groupByTopic(partitions)).noTags();
  const r =
    leader instanceof BrokerConnection
      ? await leader.request(API.describeProducers, 0, request.buffer, 30_000, true)
      : await call(leader, API.describeProducers, 0, request.buffer);
  r.int32(); // throttle
  const result = new Map<string, ActiveProducer[]>();
  r.compactArray(() => {
    const topic = r.compactString();
    r.compactArray(() => {
      const partition = r.int32();
      const errorCode = r.int16();
      const message = r.compactNullableString();
      const producers = r.compactArray(() => {
        const producer = {
          producerId: r.int64(),
          producerEpoch: r.int32(),
          lastSequence: r.int32(),
          lastTimestamp: r.int64(),
          coordinatorEpoch: r.int32(),
          currentTxnStartOffset: r.int64(),
        };
        r.skipTags();
        return producer;
      });
      r.skipTags();
      if (errorCode !== 0)
        throw new Error(
          `DescribeProducers ${topic}-${partition} failed (${errorCode}${message ? `: ${message}` : ''})`,
        );
      result.set(
        `${topic}:${partition}`,
        producers.map((p) => ({
          producerId: p.producerId,
          producerEpoch: p.producerEpoch,
          coordinatorEpoch: p.coordinatorEpoch,
          currentTxnStartOffset: p.currentTxnStartOffset,
          lastTimestamp: Number(p.lastTimestamp),
          lastSequence: p.lastSequence,
        })),
      );
    });
    r.skipTags();
  });
  return result;
}

/**
 * Writes a transaction marker (what the coordinator writes when a transaction ends) for one
 * producer on the given partitions, all led by `leader`.
 */
export async function writeTxnMarkers(
  leader: BrokerAddress,
  marker: { producerId: bigint; producerEpoch: number; commit: boolean; coordinatorEpoch: number },
  partitions: readonly PartitionRef[],
): Promise<void> {
  const request = new Writer();
  request
    .compactArray([marker], (m) => {
      request
        .int64(m.producerId)
        .int16(m.producerEpoch)
        .int8(m.commit ? 1 : 0);
      request.compactTopicPartitions(groupByTopic(partitions));
      request.int32(m.coordinatorEpoch).noTags();
    })
    .noTags();
  const r = await call(leader, API.writeTxnMarkers, 1, request.buffer);
  const failures: string[] = [];
  r.compactArray(() => {
    r.int64(); // producer id
    for (const p of r.compactPartitionErrors())
      if (p.errorCode !== 0) failures.push(`${p.topic}-${p.partition} (error ${p.errorCode})`);
    r.skipTags();
  });
  if (failures.length) throw new Error(`writing transaction markers failed on ${failures.join(', ')}`);
}

function groupByTopic(partitions: readonly PartitionRef[]): Map<string, number[]> {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of partitions) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
  return byTopic;
}
