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
import type { Admin } from 'kafkajs';
import type { Logger } from '../util/logger.js';
import {
  describeProducers,
  describeTransaction,
  findTransactionCoordinator,
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
    private readonly admin: Admin,
    private readonly transactionalId: string,
    private readonly log: Logger,
  ) {}

  /** The coordinator's state for the transactional id (call before fencing: it says how the last transaction ended). */
  async state(): Promise<TransactionState> {
    const coordinator = await findTransactionCoordinator(await this.anyBroker(), this.transactionalId);
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
    const { brokers, leaderOf } = await this.leaders(partitions);
    const hanging: Array<HangingTransaction & { leader: BrokerAddress }> = [];
    for (const [nodeId, refs] of groupBy(partitions, (p) => leaderOf(p))) {
      const leader = brokers.get(nodeId);
      if (!leader) throw new Error(`no live leader for ${refs.map((r) => `${r.topic}-${r.partition}`).join(', ')}`);
      for (const [key, producers] of await describeProducers(leader, refs)) {
        const [topic, partition] = splitKey(key);
        for (const p of producers) {
          if (p.producerId !== producerId || p.currentTxnStartOffset < 0n) continue;
          const commit =
            before !== undefined &&
            before.producerId === producerId &&
            before.producerEpoch === p.producerEpoch &&
            (before.state === 'PrepareCommit' || before.state === 'CompleteCommit');
          hanging.push({
            topic,
            partition,
            producerEpoch: p.producerEpoch,
            coordinatorEpoch: p.coordinatorEpoch,
            commit,
            leader,
          });
        }
      }
    }
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

  private async anyBroker(): Promise<BrokerAddress> {
    const { brokers } = await this.admin.describeCluster();
    const broker = brokers[0];
    if (!broker) throw new Error('the cluster lists no broker');
    return { host: broker.host, port: broker.port };
  }

  private async leaders(partitions: readonly PartitionRef[]) {
    const { brokers } = await this.admin.describeCluster();
    const byId = new Map(brokers.map((b) => [b.nodeId, { host: b.host, port: b.port }]));
    const topics = [...new Set(partitions.map((p) => p.topic))];
    const { topics: metadata } = await this.admin.fetchTopicMetadata({ topics });
    const leader = new Map<string, number>();
    for (const t of metadata) for (const p of t.partitions) leader.set(`${t.name}:${p.partitionId}`, p.leader);
    return { brokers: byId, leaderOf: (p: PartitionRef) => leader.get(`${p.topic}:${p.partition}`) ?? -1 };
  }
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
