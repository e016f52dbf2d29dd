/**
 * How Kafka's transaction coordinator decided a producer's transactions, read
 * from its own log (`__transaction_state`). A partition left with a producer's
 * transaction open, its markers skipped (a broker shutting down or just
 * restarted does not find the partition's leader and drops the marker), is
 * ended as the coordinator decided the transaction that included it. The
 * coordinator's current state cannot say that once the producer has moved on
 * (a newer epoch, or a later transaction at the same epoch); its log can: each
 * decision is written there with the transaction's partitions.
 */
import type { ClusterAdmin } from './client.js';
import { partitionCounts } from './admin.js';
import { readRangesBulk } from './bulk-reader.js';
import { Reader } from './wire-codec.js';

export const TRANSACTION_LOG_TOPIC = '__transaction_state';

/** Kafka's partition for a key of its internal topics: Utils.abs(key.hashCode()) % partitions. */
export function coordinatorPartitionOf(key: string, partitions: number): number {
  let hash = 0;
  for (let i = 0; i < key.length; i++) hash = (Math.imul(31, hash) + key.charCodeAt(i)) | 0;
  return (hash === -2147483648 ? 0 : Math.abs(hash)) % partitions;
}

/** One entry of the transaction log: the transactional id's state as the coordinator wrote it. */
export interface TransactionLogEntry {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
  status: TransactionStatus;
  /** The transaction's partitions, as `topic:partition`. */
  partitions: Set<string>;
}

/** Kafka's TransactionState ids as its log stores them. */
export enum TransactionStatus {
  Empty = 0,
  Ongoing = 1,
  PrepareCommit = 2,
  PrepareAbort = 3,
  CompleteCommit = 4,
  CompleteAbort = 5,
  Dead = 6,
  PrepareEpochFence = 7,
}

/** The transactional id of a transaction log key (undefined for a key of another kind). */
export function decodeTransactionLogKey(key: Buffer): string | undefined {
  const r = new Reader(key);
  if (r.int16() !== 0) return undefined;
  return r.nullableString() ?? undefined;
}

/** A transaction log value, versions 0 and 1 (1 is flexible: compact arrays and tagged fields). */
export function decodeTransactionLogValue(transactionalId: string, value: Buffer): TransactionLogEntry {
  const r = new Reader(value);
  const version = r.int16();
  if (version > 1) throw new Error(`transaction log value version ${version} is not known`);
  const flexible = version >= 1;
  const producerId = r.int64();
  const producerEpoch = r.int16();
  r.int32(); // transaction timeout
  const status = r.int8() as TransactionStatus;
  const partitions = new Set<string>();
  const topics = flexible ? r.uvarint() - 1 : r.int32();
  for (let t = 0; t < topics; t++) {
    const topic = flexible ? r.compactString() : (r.nullableString() ?? '');
    const count = flexible ? r.uvarint() - 1 : r.int32();
    for (let p = 0; p < count; p++) partitions.add(`${topic}:${r.int32()}`);
    if (flexible) r.skipTags();
  }
  return { transactionalId, producerId, producerEpoch, status, partitions };
}

export type TransactionOutcome = 'commit' | 'abort';

/**
 * How the coordinator ended the transaction of `producerId` that left `partition` open at
 * `epoch`: the last decision (prepare commit or abort) in the log that included the partition, at
 * that epoch or a later one (an epoch fence and a timeout abort with the next epoch; any later
 * marker on the partition would have ended the open transaction the same way). Undefined when the
 * entries hold no such decision.
 */
export function decidedOutcome(
  entries: readonly TransactionLogEntry[],
  producerId: bigint,
  epoch: number,
  partition: string,
): TransactionOutcome | undefined {
  let outcome: TransactionOutcome | undefined;
  for (const e of entries) {
    if (e.producerId !== producerId || e.producerEpoch < epoch || !e.partitions.has(partition)) continue;
    if (e.status === TransactionStatus.PrepareCommit) outcome = 'commit';
    else if (e.status === TransactionStatus.PrepareAbort) outcome = 'abort';
  }
  return outcome;
}

/**
 * The log's entries of the transactional ids, in log order, from those written at `sinceMs` on
 * (the log is compacted: only recent entries are certain to be there). Needs read access to the
 * internal topic.
 */
export async function readTransactionLog(
  admin: ClusterAdmin,
  transactionalIds: readonly string[],
  sinceMs: number,
  clientId: string,
): Promise<TransactionLogEntry[]> {
  const count = (await partitionCounts(admin, [TRANSACTION_LOG_TOPIC])).get(TRANSACTION_LOG_TOPIC);
  if (!count) return [];
  const wanted = new Set(transactionalIds);
  const partitions = [...new Set(transactionalIds.map((id) => coordinatorPartitionOf(id, count)))];
  const [from, to] = await Promise.all([
    admin.offsetsForTime(TRANSACTION_LOG_TOPIC, sinceMs),
    admin.highWatermarks(TRANSACTION_LOG_TOPIC),
  ]);
  const entries = new Map<number, TransactionLogEntry[]>();
  await readRangesBulk(
    admin,
    partitions.map((partition) => ({
      topic: TRANSACTION_LOG_TOPIC,
      partition,
      from: from.get(partition) ?? 0n,
      to: to.get(partition) ?? 0n,
    })),
    async (range, records) => {
      const list = entries.get(range.partition) ?? [];
      for (const record of records.whole ?? []) {
        if (!record.key || !record.value) continue;
        const transactionalId = decodeTransactionLogKey(record.key);
        if (transactionalId !== undefined && wanted.has(transactionalId))
          list.push(decodeTransactionLogValue(transactionalId, record.value));
      }
      entries.set(range.partition, list);
    },
    () => false,
    { clientId, wholeRecords: true, stallTimeoutMs: 30_000 },
  );
  return [...entries.values()].flat();
}
