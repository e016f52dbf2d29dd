/**
 * Ends transactions Kafka left hanging. A coordinator that commits or aborts
 * a transaction while its broker does not find a partition's leader (a single
 * broker shutting down or just restarted) drops the markers for that
 * partition. The records stay "open" there (holding back read_committed
 * readers), and once the same producer writes there again with a newer epoch,
 * Kafka treats them as committed: an aborted transaction's records, and its
 * consumer offsets, would then count. Each is ended with the outcome the
 * coordinator decided for the transaction that included the partition, as its
 * own log records it (transaction-log.ts), as Kafka's
 * `kafka-transactions.sh abort` would; one whose outcome is not known is left
 * alone and reported, never guessed.
 */
import type { ClusterAdmin } from './client.js';
import type { Logger } from '../util/logger.js';
import {
  describeProducers,
  describeTransaction,
  findTransactionCoordinator,
  listTransactions,
  writeTxnMarkers,
  type BrokerAddress,
  type PartitionRef,
  type TransactionState,
} from './transaction-admin.js';
import { coordinatorPartitionOf, decidedOutcome, readTransactionLog } from './transaction-log.js';

export interface HangingTransaction extends PartitionRef {
  producerEpoch: number;
  coordinatorEpoch: number;
  commit: boolean;
}

export class HangingTransactions {
  constructor(
    private readonly admin: ClusterAdmin,
    private readonly transactionalId: string,
    private readonly log: Logger,
  ) {}

  /** The coordinator's state for the transactional id (call before fencing: it says how the last transaction ended). */
  async state(): Promise<TransactionState> {
    const coordinator = await findTransactionCoordinator(await anyBroker(this.admin), this.transactionalId);
    return describeTransaction(coordinator, this.transactionalId);
  }

  /**
   * After fencing: ends every transaction of this transactional id's producer still open on
   * `partitions` (none can be legitimately open now) as the transaction log says it was decided.
   * `before`, the state read before fencing, decides only where the log cannot be read: a
   * transaction it shows committing or committed at the same epoch is committed, any other aborted.
   */
  async repair(
    before: TransactionState | undefined,
    partitions: readonly PartitionRef[],
  ): Promise<HangingTransaction[]> {
    const { producerId } = await this.state();
    const { open } = await openOn(this.admin, partitions);
    const mine = open
      .filter((o) => o.producerId === producerId)
      .map((o) => ({ ...o, transactionalId: this.transactionalId }));
    if (mine.length === 0) return [];
    const fromLog = await outcomesFromLog(this.admin, mine, this.log);
    const hanging: Array<HangingTransaction & { leader: BrokerAddress }> = [];
    const unknown: string[] = [];
    for (const o of mine) {
      const commit = fromLog
        ? fromLog.get(keyOf(o))
        : before !== undefined &&
          before.producerId === producerId &&
          before.producerEpoch === o.producerEpoch &&
          (before.state === 'PrepareCommit' || before.state === 'CompleteCommit');
      if (commit === undefined) unknown.push(`${o.topic}-${o.partition} epoch ${o.producerEpoch}`);
      else hanging.push({ ...o, commit });
    }
    if (unknown.length > 0)
      this.log.warn(
        'transactions of this producer open whose outcome the transaction log does not hold; left to Kafka',
        {
          transactionalId: this.transactionalId,
          partitions: unknown,
        },
      );
    if (hanging.length === 0) return [];
    this.log.warn('Kafka left transactions of this producer open without their markers; ending them', {
      transactionalId: this.transactionalId,
      producerId: producerId.toString(),
      partitions: hanging.map(
        (h) => `${h.topic}-${h.partition} epoch ${h.producerEpoch} ${h.commit ? 'commit' : 'abort'}`,
      ),
    });
    await writeMarkers(producerId, hanging);
    return hanging.map(({ topic, partition, producerEpoch, coordinatorEpoch, commit }) => ({
      topic,
      partition,
      producerEpoch,
      coordinatorEpoch,
      commit,
    }));
  }
}

/** What this producer committed, per partition (`topic:partition`): its last record's sequence and the offset after it. */
export interface CommittedTransaction {
  producerId: bigint;
  producerEpoch: number;
  partitions: Map<string, { lastSequence: number; end: bigint }>;
}

/**
 * Exactly-once v2, before this instance's failed transaction is aborted: what it committed and
 * Kafka left open (its markers skipped as a broker shut down) is ended as committed on every
 * partition the failed transaction has not written to (the producer's last sequence there is still
 * the committed one). The abort would otherwise end those records too: a marker ends all of a
 * producer's open records on its partition, whichever transaction they came from. Where the failed
 * transaction's records joined them no marker can be right; that is reported and left to `repair`.
 * (The group's offsets are not covered: their records carry no sequence and no offset comes back.)
 */
export async function secureCommitted(
  admin: ClusterAdmin,
  committed: CommittedTransaction,
  log: Logger,
): Promise<HangingTransaction[]> {
  const refs = [...committed.partitions.keys()].map((key) => {
    const [topic, partition] = splitKey(key);
    return { topic, partition };
  });
  const { open } = await openOn(admin, refs);
  const safe: Array<HangingTransaction & { leader: BrokerAddress }> = [];
  const mixed: string[] = [];
  for (const o of open) {
    if (o.producerId !== committed.producerId || o.producerEpoch !== committed.producerEpoch) continue;
    const mine = committed.partitions.get(`${o.topic}:${o.partition}`);
    if (!mine || o.currentTxnStartOffset >= mine.end) continue; // only the failed transaction's records
    if (o.lastSequence === mine.lastSequence) safe.push({ ...o, commit: true });
    else mixed.push(`${o.topic}-${o.partition}`);
  }
  if (mixed.length > 0)
    log.error(
      "a committed transaction's records are open together with a failed transaction's (Kafka skipped the markers as a broker shut down); they are ended as the coordinator last decided",
      { producerId: committed.producerId.toString(), partitions: mixed },
    );
  if (safe.length === 0) return [];
  log.warn("Kafka left this producer's last committed transaction open without its markers; committing it there", {
    producerId: committed.producerId.toString(),
    partitions: safe.map((h) => `${h.topic}-${h.partition} epoch ${h.producerEpoch}`),
  });
  await writeMarkers(committed.producerId, safe);
  return safe.map(({ topic, partition, producerEpoch, coordinatorEpoch, commit }) => ({
    topic,
    partition,
    producerEpoch,
    coordinatorEpoch,
    commit,
  }));
}

/** Writes the markers that end the transactions, grouped by leader and outcome. */
export async function writeMarkers(
  producerId: bigint,
  hanging: ReadonlyArray<HangingTransaction & { leader: BrokerAddress }>,
): Promise<void> {
  for (const group of groupBy(
    hanging,
    (h) => `${h.leader.host}:${h.leader.port}|${h.producerEpoch}|${h.coordinatorEpoch}|${h.commit}`,
  ).values()) {
    const { leader, producerEpoch, coordinatorEpoch, commit } = group[0]!;
    await writeTxnMarkers(leader, { producerId, producerEpoch, coordinatorEpoch, commit }, group);
  }
}

/** How far before a hanging transaction's last record its decision is looked for (clock skew). */
const LOG_LOOKBACK_MS = 10 * 60_000;

/**
 * The outcome the transaction log holds for each open transaction (by `topic:partition|producerId`),
 * absent where it holds none; undefined when the log cannot be read (reported).
 */
async function outcomesFromLog(
  admin: ClusterAdmin,
  open: ReadonlyArray<OpenTransaction & { transactionalId: string }>,
  log: Logger,
): Promise<Map<string, boolean> | undefined> {
  try {
    // A producer's last timestamp is -1 where the leader does not know it: read the whole log then.
    const since = Math.max(0, Math.min(...open.map((o) => o.lastTimestamp)) - LOG_LOOKBACK_MS);
    const entries = await readTransactionLog(
      admin,
      [...new Set(open.map((o) => o.transactionalId))],
      since,
      'uis-transaction-repair',
    );
    const outcomes = new Map<string, boolean>();
    for (const o of open) {
      const outcome = decidedOutcome(
        entries.filter((e) => e.transactionalId === o.transactionalId),
        o.producerId,
        o.producerEpoch,
        `${o.topic}:${o.partition}`,
      );
      if (outcome) outcomes.set(keyOf(o), outcome === 'commit');
    }
    return outcomes;
  } catch (error) {
    log.warn('the transaction log could not be read; hanging transactions are judged by their coordinator state', {
      error,
    });
    return undefined;
  }
}

function keyOf(o: PartitionRef & { producerId: bigint }): string {
  return `${o.topic}:${o.partition}|${o.producerId}`;
}

async function anyBroker(admin: ClusterAdmin): Promise<BrokerAddress> {
  const broker = (await admin.brokers())[0];
  if (!broker) throw new Error('the cluster lists no broker');
  return broker;
}

async function leaders(admin: ClusterAdmin, partitions: readonly PartitionRef[]) {
  const byId = new Map<number, BrokerAddress>((await admin.brokers()).map((b) => [b.nodeId, b]));
  const topics = [...new Set(partitions.map((p) => p.topic))];
  const leader = new Map<string, number>();
  for (const t of await admin.topicMetadata(topics))
    for (const p of t.partitions) leader.set(`${t.name}:${p.partition}`, p.leader);
  return { brokers: byId, leaderOf: (p: PartitionRef) => leader.get(`${p.topic}:${p.partition}`) ?? -1 };
}

/** A producer's transaction open on a partition. */
interface OpenTransaction extends PartitionRef {
  producerId: bigint;
  producerEpoch: number;
  coordinatorEpoch: number;
  currentTxnStartOffset: bigint;
  lastTimestamp: number;
  lastSequence: number;
  leader: BrokerAddress;
}

/**
 * Under exactly_once_v2 a task's previous owner wrote with its instance's producer, not the task's:
 * a transaction of that producer that Kafka left open without its markers (its instance gone, and
 * the coordinator ending the transaction right as a single broker stopped or restarted) holds back
 * everyone reading those partitions with read_committed, and a restore would stop short of what is
 * committed after it. So before a task reads its committed offsets and changelogs, every
 * transaction open on the partitions it writes is checked with its producer's coordinator (as
 * Kafka's `kafka-transactions.sh find-hanging` does): one the coordinator no longer has under way
 * there is ended with the outcome its transaction log recorded for it. One whose outcome is not
 * known (its transactional id is not found, or the log holds no decision on it) is left alone and
 * reported.
 */
export async function endHangingTransactions(
  admin: ClusterAdmin,
  partitions: readonly PartitionRef[],
  log: Logger,
): Promise<HangingTransaction[]> {
  const { open, states, transactionalIds } = await openTransactions(admin, partitions);
  if (open.length === 0) return [];
  // Suspects: open where their coordinator has nothing under way. A producer that commits often
  // shows many, whose markers were only late: a second look at the partitions keeps those still
  // open with the same first offset.
  const suspects = open.filter((o) => {
    const state = states.get(o.producerId);
    const underWay = ['Ongoing', 'PrepareCommit', 'PrepareAbort', 'PrepareEpochFence'].includes(state?.state ?? '');
    return !(
      state?.errorCode === 0 &&
      underWay &&
      state.producerEpoch === o.producerEpoch &&
      state.partitions.has(`${o.topic}:${o.partition}`)
    );
  });
  const stillOpen = new Set<string>();
  for (const group of groupBy(suspects, (h) => `${h.leader.host}:${h.leader.port}`).values())
    for (const [key, producers] of await describeProducers(group[0]!.leader, group))
      for (const p of producers) stillOpen.add(`${key}|${p.producerId}|${p.producerEpoch}|${p.currentTxnStartOffset}`);
  const lasting = suspects.filter((h) =>
    stillOpen.has(`${h.topic}:${h.partition}|${h.producerId}|${h.producerEpoch}|${h.currentTxnStartOffset}`),
  );
  if (lasting.length === 0) return [];
  const known = lasting.flatMap((h) => {
    const transactionalId = transactionalIds.get(h.producerId);
    return transactionalId === undefined ? [] : [{ ...h, transactionalId }];
  });
  const fromLog = known.length > 0 ? await outcomesFromLog(admin, known, log) : new Map<string, boolean>();
  const unknown: string[] = [];
  const confirmed: Array<HangingTransaction & { producerId: bigint; leader: BrokerAddress }> = [];
  for (const h of lasting) {
    const state = states.get(h.producerId);
    const where = `${h.topic}-${h.partition} producer ${h.producerId} epoch ${h.producerEpoch}`;
    if (!state || state.errorCode !== 0 || !transactionalIds.has(h.producerId)) {
      unknown.push(`${where}: no transactional id found`);
      continue;
    }
    const commit = fromLog ? fromLog.get(keyOf(h)) : outcomeFromState(state, h.producerEpoch);
    if (commit === undefined)
      unknown.push(
        fromLog
          ? `${where}: the transaction log holds no decision on it`
          : `${where}: its coordinator: ${state.state} at epoch ${state.producerEpoch}`,
      );
    else confirmed.push({ ...h, commit });
  }
  if (unknown.length > 0)
    log.warn('transactions open whose outcome cannot be known; left to Kafka', { transactions: unknown });
  if (confirmed.length === 0) return [];
  log.warn("Kafka left other producers' transactions open without their markers; ending them", {
    partitions: confirmed.map(
      (h) =>
        `${h.topic}-${h.partition} producer ${h.producerId} epoch ${h.producerEpoch} ${h.commit ? 'commit' : 'abort'}`,
    ),
  });
  for (const group of groupBy(confirmed, (h) => h.producerId).values()) await writeMarkers(group[0]!.producerId, group);
  return confirmed.map(({ topic, partition, producerEpoch, coordinatorEpoch, commit }) => ({
    topic,
    partition,
    producerEpoch,
    coordinatorEpoch,
    commit,
  }));
}

/**
 * Where the transaction log cannot be read: the coordinator's state decides a transaction of its
 * current epoch once ended (it cannot tell which of that epoch's transactions, so this is the
 * weaker rule); of an earlier epoch, nothing is known.
 */
function outcomeFromState(state: TransactionState, epoch: number): boolean | undefined {
  if (state.producerEpoch !== epoch) return undefined;
  if (state.state === 'PrepareCommit' || state.state === 'CompleteCommit') return true;
  if (state.state === 'PrepareAbort' || state.state === 'CompleteAbort') return false;
  return undefined;
}

/**
 * Exactly-once v2: waits until every transaction open on `partitions` that its coordinator has
 * decided (committing or aborting) has its markers there. A transaction's markers reach each
 * partition on their own: the group's offsets can be stable while a changelog's marker is still on
 * its way, and a restore would then stop short of the last committed transaction, whose input the
 * committed offsets already count. A transaction still under way (a zombie's, to be aborted) is not
 * waited for: its records are past the last stable offset, and its offsets cannot count (the group's
 * generation refuses them).
 */
export async function awaitDecidedMarkers(
  admin: ClusterAdmin,
  partitions: readonly PartitionRef[],
  timeoutMs = 30_000,
  pollMs = 50,
): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const { open, states } = await openTransactions(admin, partitions);
    const inFlight = open.filter((o) => {
      const state = states.get(o.producerId);
      return (
        state?.errorCode === 0 &&
        state.producerEpoch === o.producerEpoch &&
        (state.state === 'PrepareCommit' || state.state === 'PrepareAbort')
      );
    });
    if (inFlight.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `markers of decided transactions still missing after ${timeoutMs} ms on ${inFlight
          .map((o) => `${o.topic}-${o.partition} (producer ${o.producerId})`)
          .join(', ')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Every transaction open on `partitions` (DescribeProducers on their leaders), and the leaders. */
async function openOn(admin: ClusterAdmin, partitions: readonly PartitionRef[]) {
  const { brokers, leaderOf } = await leaders(admin, partitions);
  const open: OpenTransaction[] = [];
  for (const [nodeId, refs] of groupBy(partitions, (p) => leaderOf(p))) {
    const leader = brokers.get(nodeId);
    if (!leader) throw new Error(`no live leader for ${refs.map((r) => `${r.topic}-${r.partition}`).join(', ')}`);
    for (const [key, producers] of await describeProducers(leader, refs)) {
      const [topic, partition] = splitKey(key);
      for (const p of producers) if (p.currentTxnStartOffset >= 0n) open.push({ topic, partition, leader, ...p });
    }
  }
  return { open, brokers };
}

/** Every transaction open on `partitions`, and the coordinator's state of each producer found (by producer id). */
async function openTransactions(
  admin: ClusterAdmin,
  partitions: readonly PartitionRef[],
): Promise<{
  open: OpenTransaction[];
  states: Map<bigint, TransactionState>;
  transactionalIds: Map<bigint, string>;
}> {
  const { open, brokers } = await openOn(admin, partitions);
  const states = new Map<bigint, TransactionState>();
  const transactionalIds = new Map<bigint, string>();
  if (open.length === 0) return { open, states, transactionalIds };
  const producerIds = [...new Set(open.map((o) => o.producerId))];
  for (const broker of brokers.values())
    for (const t of await listTransactions(broker, producerIds)) transactionalIds.set(t.producerId, t.transactionalId);
  for (const [producerId, transactionalId] of transactionalIds) {
    const coordinator = await findTransactionCoordinator(await anyBroker(admin), transactionalId);
    states.set(producerId, await describeTransaction(coordinator, transactionalId));
  }
  return { open, states, transactionalIds };
}

export const OFFSETS_TOPIC = '__consumer_offsets';

/** The __consumer_offsets partition that keeps a group's offsets. */
export function offsetsPartitionOf(groupId: string, partitions: number): number {
  return coordinatorPartitionOf(groupId, partitions);
}

function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf(':');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}
