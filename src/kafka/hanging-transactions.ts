/**
 * Ends transactions of one transactional id that Kafka left hanging. A
 * coordinator that aborts (or commits) a transaction while its broker does
 * not yet count itself alive — a single broker just restarted — skips the
 * markers for partitions whose leader it cannot find. The records stay "open"
 * on those partitions (holding back read_committed readers), and once the
 * same producer writes there again with a newer epoch, Kafka treats them as
 * committed: an aborted transaction's records, and its consumer offsets,
 * would then count. So after a task fences its previous owner, it looks for
 * transactions of its producer still open on the partitions it writes and
 * ends them with the outcome the coordinator had decided, as Kafka's
 * `kafka-transactions.sh abort` would.
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
   * `partitions` (none can be legitimately open now). `before` is the state read before fencing:
   * a transaction it shows committing or committed is committed, any other is aborted.
   */
  async repair(
    before: TransactionState | undefined,
    partitions: readonly PartitionRef[],
  ): Promise<HangingTransaction[]> {
    const { producerId } = await this.state();
    const { open } = await openOn(this.admin, partitions);
    const hanging: Array<HangingTransaction & { leader: BrokerAddress }> = open
      .filter((o) => o.producerId === producerId)
      .map(({ topic, partition, producerEpoch, coordinatorEpoch, leader }) => ({
        topic,
        partition,
        producerEpoch,
        coordinatorEpoch,
        commit:
          before !== undefined &&
          before.producerId === producerId &&
          before.producerEpoch === producerEpoch &&
          (before.state === 'PrepareCommit' || before.state === 'CompleteCommit'),
        leader,
      }));
    if (hanging.length === 0) return [];
    this.log.warn('Kafka left transactions of this producer open without their markers; ending them', {
      transactionalId: this.transactionalId,
      producerId: producerId.toString(),
      partitions: hanging.map(
        (h) => `${h.topic}-${h.partition} epoch ${h.producerEpoch} ${h.commit ? 'commit' : 'abort'}`,
      ),
    });
    for (const group of groupBy(
      hanging,
      (h) => `${h.leader.host}:${h.leader.port}|${h.producerEpoch}|${h.coordinatorEpoch}|${h.commit}`,
    ).values()) {
      const { leader, producerEpoch, coordinatorEpoch, commit } = group[0]!;
      await writeTxnMarkers(leader, { producerId, producerEpoch, coordinatorEpoch, commit }, group);
    }
    return hanging.map(({ leader: _leader, ...rest }) => rest);
  }
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
  leader: BrokerAddress;
}

/**
 * Under exactly_once_v2 a task's previous owner wrote with its instance's producer, not the task's:
 * a transaction of that producer that Kafka left open without its markers (its instance gone, and
 * the coordinator ending the transaction right as a single broker restarted) holds back everyone
 * reading those partitions with read_committed, and a restore would stop short of what is committed
 * after it. So before a task reads its committed offsets and changelogs, every transaction open on
 * the partitions it writes is checked with its producer's coordinator (as Kafka's
 * `kafka-transactions.sh find-hanging` does): one the coordinator no longer has under way there is
 * ended with the outcome the coordinator recorded: commit if it committed that epoch, else abort.
 * A transaction whose outcome cannot be known (its transactional id is not found, or the same epoch
 * has moved on to another transaction) is left alone and reported.
 */
export async function endHangingTransactions(
  admin: ClusterAdmin,
  partitions: readonly PartitionRef[],
  log: Logger,
): Promise<HangingTransaction[]> {
  const { open, states } = await openTransactions(admin, partitions);
  if (open.length === 0) return [];
  // Suspects: open where their coordinator has nothing under way (hanging, with a known outcome or
  // not). A producer that commits often shows many, whose markers were only late: a second look at
  // the partitions keeps those still open with the same first offset.
  const suspects: Array<OpenTransaction & { commit: boolean | undefined; why: string }> = [];
  for (const o of open) {
    const state = states.get(o.producerId);
    if (!state || state.errorCode !== 0) {
      suspects.push({ ...o, commit: undefined, why: 'no transactional id found' });
      continue;
    }
    const sameEpoch = state.producerEpoch === o.producerEpoch;
    const underWay = ['Ongoing', 'PrepareCommit', 'PrepareAbort', 'PrepareEpochFence'].includes(state.state);
    if (underWay && sameEpoch && state.partitions.has(`${o.topic}:${o.partition}`)) continue; // not hanging
    if (state.state === 'Ongoing' && sameEpoch)
      suspects.push({ ...o, commit: undefined, why: 'the producer has begun another transaction with the same epoch' });
    else
      suspects.push({
        ...o,
        commit: sameEpoch && (state.state === 'PrepareCommit' || state.state === 'CompleteCommit'),
        why: `its coordinator: ${state.state} at epoch ${state.producerEpoch}`,
      });
  }
  const stillOpen = new Set<string>();
  for (const group of groupBy(suspects, (h) => `${h.leader.host}:${h.leader.port}`).values())
    for (const [key, producers] of await describeProducers(group[0]!.leader, group))
      for (const p of producers) stillOpen.add(`${key}|${p.producerId}|${p.producerEpoch}|${p.currentTxnStartOffset}`);
  const lasting = suspects.filter((h) =>
    stillOpen.has(`${h.topic}:${h.partition}|${h.producerId}|${h.producerEpoch}|${h.currentTxnStartOffset}`),
  );
  const unknown = lasting.filter((h) => h.commit === undefined);
  if (unknown.length > 0)
    log.warn('transactions open whose outcome cannot be known; left to Kafka', {
      transactions: unknown.map(
        (h) => `${h.topic}-${h.partition} producer ${h.producerId} epoch ${h.producerEpoch}: ${h.why}`,
      ),
    });
  const confirmed = lasting.flatMap((h) => (h.commit === undefined ? [] : [{ ...h, commit: h.commit }]));
  if (confirmed.length === 0) return [];
  log.warn("Kafka left other producers' transactions open without their markers; ending them", {
    partitions: confirmed.map(
      (h) =>
        `${h.topic}-${h.partition} producer ${h.producerId} epoch ${h.producerEpoch} ${h.commit ? 'commit' : 'abort'}`,
    ),
  });
  for (const group of groupBy(
    confirmed,
    (h) => `${h.leader.host}:${h.leader.port}|${h.producerId}|${h.producerEpoch}|${h.coordinatorEpoch}|${h.commit}`,
  ).values()) {
    const { leader, producerId, producerEpoch, coordinatorEpoch, commit } = group[0]!;
    await writeTxnMarkers(leader, { producerId, producerEpoch, coordinatorEpoch, commit }, group);
  }
  return confirmed.map(({ topic, partition, producerEpoch, coordinatorEpoch, commit }) => ({
    topic,
    partition,
    producerEpoch,
    coordinatorEpoch,
    commit,
  }));
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
): Promise<{ open: OpenTransaction[]; states: Map<bigint, TransactionState> }> {
  const { open, brokers } = await openOn(admin, partitions);
  const states = new Map<bigint, TransactionState>();
  if (open.length === 0) return { open, states };
  const producerIds = [...new Set(open.map((o) => o.producerId))];
  const transactionalIds = new Map<bigint, string>();
  for (const broker of brokers.values())
    for (const t of await listTransactions(broker, producerIds)) transactionalIds.set(t.producerId, t.transactionalId);
  for (const [producerId, transactionalId] of transactionalIds) {
    const coordinator = await findTransactionCoordinator(await anyBroker(admin), transactionalId);
    states.set(producerId, await describeTransaction(coordinator, transactionalId));
  }
  return { open, states };
}

export const OFFSETS_TOPIC = '__consumer_offsets';

/** The __consumer_offsets partition that keeps a group's offsets (Kafka: abs(groupId.hashCode()) % partitions). */
export function offsetsPartitionOf(groupId: string, partitions: number): number {
  let hash = 0;
  for (let i = 0; i < groupId.length; i++) hash = (Math.imul(31, hash) + groupId.charCodeAt(i)) | 0;
  return (hash & 0x7fffffff) % partitions;
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
