/**
 * Exactly-once v2 (KIP-447, Kafka Streams' exactly_once_v2): one
 * transactional producer for every task of the instance, driven without
 * kafkajs (group-transactions.ts). The commits tasks ask for in the same turn
 * of the event loop go into one transaction; a commit asked for while one is
 * in flight goes into the next. Consumed offsets are committed with the
 * group's generation and member id, so the coordinator refuses them once this
 * member has been replaced (a zombie): that, and the stable offset fetch of a
 * task's next owner, fence instead of a producer per task.
 */
import type { ClusterAdmin, CommitWriter, ConsumedOffsets, WrittenOffsets } from './client.js';
import type { Logger } from '../util/logger.js';
import { leadersAlive, partitionCounts, partitionLeaders } from './admin.js';
import {
  HangingTransactions,
  OFFSETS_TOPIC,
  offsetsPartitionOf,
  secureCommitted,
  writeMarkers,
  type CommittedTransaction,
} from './hanging-transactions.js';
import type { OutgoingRecord } from '../processor/types.js';
import {
  addOffsetsToTxn,
  addPartitionsToTxn,
  endTxn,
  fetchStableOffsets,
  findCoordinator,
  initProducerId,
  KafkaErrors,
  KafkaProtocolError,
  produceTransactional,
  txnOffsetCommit,
  type GroupMembership,
  type PartitionBatch,
  type ProducerIdentity,
} from './group-transactions.js';
import { chunksOf, MAX_REQUEST_BYTES } from './commit-writer.js';
import { describeProducers, type PartitionRef } from './transaction-admin.js';
import { BrokerConnection, BrokerUnreachableError, type BrokerAddress } from './wire.js';

export interface InstanceProducerOptions {
  admin: ClusterAdmin;
  bootstrap: BrokerAddress;
  transactionalId: string;
  transactionTimeoutMs: number;
  /** The consumer's current membership (generation and member id), once it has joined. */
  membership: () => GroupMembership | undefined;
  clientId: string;
  /** The group whose offsets the transactions commit. */
  groupId: string;
  /** Every topic a transaction may write (sinks, repartition topics, changelogs, dead letters). */
  writtenTopics: readonly string[];
  logger: Logger;
}

type OutgoingWithPartition = OutgoingRecord & { partition: number };

interface QueuedCommit {
  records: readonly OutgoingWithPartition[];
  consumed: ConsumedOffsets;
  /**
   * The membership when the task asked to commit. Its offsets go out with this generation even if the
   * group has moved on since: the coordinator then refuses them, and the task's new owner redoes the
   * work. (With the membership of the moment they would be accepted for a task revoked meanwhile.)
   */
  membership: GroupMembership | undefined;
  resolve: (written: WrittenOffsets) => void;
  reject: (error: unknown) => void;
}

export class InstanceProducer {
  private identity: ProducerIdentity | undefined;
  private readonly connections = new Map<string, BrokerConnection>();
  private readonly sequences = new Map<string, number>();
  private queue: QueuedCommit[] = [];
  private flushing = false;
  private scheduled = false;
  private closed = false;
  /** What this epoch has committed, per partition (what a broker shutting down may have left unmarked). */
  private lastCommit: CommittedTransaction | undefined;
  /** A transaction failed and is not aborted yet (a new epoch ends it). */
  private failed = false;
  /** The partition of the group's offsets in __consumer_offsets, known once initialized. */
  private offsetsPartition: number | undefined;
  private offsetsUnchecked = false;

  constructor(private readonly options: InstanceProducerOptions) {}

  /** Joins the next transaction; resolves with the offset after the last record written per partition. */
  commit(records: readonly OutgoingWithPartition[], consumed: ConsumedOffsets): Promise<WrittenOffsets> {
    if (this.closed) return Promise.reject(new Error('the instance producer is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ records, consumed, membership: this.options.membership(), resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          void this.flush();
        });
      }
    });
  }

  /**
   * Waits until the group's offsets of a task's input partitions are stable: no transaction with
   * offsets for them is still open (a previous owner's last commit, or a zombie's). Only then may a
   * task's new owner read its changelog ends and committed offsets.
   */
  async waitForStableOffsets(groupId: string, topics: readonly string[], partition: number, timeoutMs = 120_000) {
    // After a failed transaction this instance's own may still be open (its abort could not be sent):
    // a new epoch ends it now, instead of the coordinator's timeout.
    await this.ensureIdentity();
    const partitions = new Map(topics.map((topic) => [topic, [partition]]));
    for (const deadline = Date.now() + timeoutMs; ;) {
      try {
        await fetchStableOffsets(await this.groupCoordinator(groupId), groupId, partitions);
        return;
      } catch (error) {
        const code = error instanceof KafkaProtocolError ? error.code : undefined;
        if (code === KafkaErrors.NOT_COORDINATOR || code === KafkaErrors.COORDINATOR_NOT_AVAILABLE)
          this.groupCoordinators.delete(groupId);
        else if (code !== KafkaErrors.UNSTABLE_OFFSET_COMMIT && code !== KafkaErrors.COORDINATOR_LOAD_IN_PROGRESS)
          throw error;
        if (Date.now() > deadline) throw new Error(`offsets of ${topics.join(', ')}-${partition} still unstable`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** A task's view of this producer: nothing to fence or close per task. */
  taskWriter(): CommitWriter {
    return {
      connect: async () => undefined,
      commit: (records, consumed) => this.commit(records, consumed),
      disconnect: async () => undefined,
    };
  }

  async close(): Promise<void> {
    // A failed transaction left to the coordinator's timeout would be aborted on partitions where the
    // last committed one may still be unmarked: end it now, as a new epoch does (bounded).
    if (this.failed)
      await Promise.race([
        this.ensureIdentity().catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 10_000)),
      ]);
    this.closed = true;
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }

  private async flush(): Promise<void> {
    if (this.flushing) return; // the running flush takes the queue again when it is done
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        // One transaction for the commits of one membership (in the order they were asked for).
        const first = this.queue[0]!.membership;
        const same = (m: GroupMembership | undefined) =>
          m?.generationId === first?.generationId && m?.memberId === first?.memberId;
        const commits = this.queue.filter((c) => same(c.membership));
        this.queue = this.queue.filter((c) => !same(c.membership));
        try {
          const written = await this.transaction(
            commits.flatMap((c) => c.records),
            commits.map((c) => c.consumed),
            first,
          );
          for (const c of commits) c.resolve(written);
        } catch (error) {
          this.identity = undefined; // a new epoch aborts the failed transaction (initialize)
          this.knownLeaders.clear(); // and the leaders may have moved
          this.topicsWithLeaders.clear();
          this.reinitialize();
          const failure = this.movedOn(error, first) ? new GenerationMovedOnError(first!.generationId) : error;
          for (const c of commits) c.reject(failure);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * The coordinator refused the offsets of a generation this member has already left for a newer
   * one: the tasks were not taken over, their work is only to be redone from what is committed.
   */
  private movedOn(error: unknown, membership: GroupMembership | undefined): boolean {
    const current = this.options.membership();
    return (
      error instanceof KafkaProtocolError &&
      error.code === KafkaErrors.ILLEGAL_GENERATION &&
      membership !== undefined &&
      current !== undefined &&
      current.memberId === membership.memberId &&
      current.generationId > membership.generationId
    );
  }

  private async transaction(
    records: readonly OutgoingWithPartition[],
    consumed: readonly ConsumedOffsets[],
    membership: GroupMembership | undefined,
  ): Promise<WrittenOffsets> {
    // A connection lost since the last transaction may mean the broker restarted, and a restart can
    // leave that transaction open on some partitions without its markers. Written to again with the
    // same epoch, such a partition would join the open records to the new transaction (lost with it
    // if it aborts); a new epoch first ends them as decided (initialize).
    const lost = [...this.connections].filter(([, connection]) => connection.failed);
    if (lost.length > 0) {
      for (const [address] of lost) this.connections.delete(address);
      this.coordinatorAddress = undefined; // the coordinators may have moved with the broker
      this.groupCoordinators.clear();
      this.identity = undefined;
    }
    const identity = await this.ensureIdentity();
    const coordinator = await this.coordinator();
    const partitions = new Map<string, number[]>();
    for (const r of records) {
      const list = partitions.get(r.topic) ?? [];
      if (!list.includes(r.partition)) list.push(r.partition);
      partitions.set(r.topic, list);
    }
    try {
      const written: WrittenOffsets = new Map();
      const offsets = mergeOffsets(consumed);
      if (offsets.size > 0 && !membership) throw new Error('not a member of the group: no offsets can be committed');
      if (partitions.size > 0) await addPartitionsToTxn(coordinator, identity, partitions);
      if (offsets.size > 0) await addOffsetsToTxn(coordinator, identity, consumed[0]!.groupId);
      if (partitions.size > 0 || offsets.size > 0)
        await this.commitEarlierOpenRecords(identity, partitions, offsets.size > 0);
      if (partitions.size > 0) await this.produce(identity, records, written);
      if (offsets.size > 0)
        await txnOffsetCommit(await this.groupCoordinator(consumed[0]!.groupId), identity, membership!, offsets);
      if (partitions.size > 0 || offsets.size > 0) {
        await endTxn(coordinator, identity, true);
        // Every partition committed to with this epoch, with its last committed sequence and end: a
        // broker shutting down can leave more than the last transaction unmarked.
        const committed = this.lastCommit?.partitions ?? new Map<string, { lastSequence: number; end: bigint }>();
        for (const [tp, end] of written) {
          const next = this.sequences.get(tp);
          if (next !== undefined) committed.set(tp, { lastSequence: (next + 2 ** 31 - 1) % 2 ** 31, end });
        }
        this.lastCommit = {
          producerId: identity.producerId,
          producerEpoch: identity.producerEpoch,
          partitions: committed,
        };
      }
      return written;
    } catch (error) {
      // Not aborted here: the last committed transaction may be open without its markers where this
      // one wrote too, and an abort marker there would end it as well. The new epoch the next
      // initialize() starts secures it first, then aborts this one.
      this.failed = true;
      throw error;
    }
  }

  /**
   * Before a transaction writes (its partitions added, so every earlier one is complete): records of
   * this producer still open there can only be of earlier transactions of this epoch, all committed
   * (a failed one starts a new epoch), whose markers Kafka skipped as a broker shut down. Written to
   * now, they would join this transaction and share its outcome, an abort included; so they are
   * committed first. Open records of another epoch fail the transaction: the new epoch that follows
   * ends them as the coordinator decided (initialize).
   */
  private async commitEarlierOpenRecords(
    identity: ProducerIdentity,
    partitions: ReadonlyMap<string, readonly number[]>,
    withOffsets: boolean,
  ): Promise<void> {
    const refs: PartitionRef[] = [...partitions].flatMap(([topic, ids]) =>
      ids.map((partition) => ({ topic, partition })),
    );
    if (withOffsets && this.offsetsPartition !== undefined)
      refs.push({ topic: OFFSETS_TOPIC, partition: this.offsetsPartition });
    const leaders = await this.leaders([...new Set(refs.map((r) => r.topic))]);
    const byLeader = new Map<string, PartitionRef[]>();
    for (const ref of refs) {
      const leader = leaders.get(`${ref.topic}:${ref.partition}`);
      if (!leader) throw new Error(`no leader known for ${ref.topic}-${ref.partition}`);
      const address = `${leader.host}:${leader.port}`;
      byLeader.set(address, [...(byLeader.get(address) ?? []), ref]);
    }
    const open: Array<PartitionRef & { producerEpoch: number; coordinatorEpoch: number }> = [];
    const look = async (address: string, led: PartitionRef[]) => {
      for (const [key, producers] of await describeProducers(this.connection(address), led))
        for (const p of producers)
          if (p.producerId === identity.producerId && p.currentTxnStartOffset >= 0n) {
            const at = key.lastIndexOf(':');
            open.push({ topic: key.slice(0, at), partition: Number(key.slice(at + 1)), ...p });
          }
    };
    await Promise.all(
      [...byLeader].map(async ([address, led]) => {
        const data = led.filter((r) => r.topic !== OFFSETS_TOPIC);
        if (data.length > 0) await look(address, data);
        if (data.length === led.length || this.offsetsUnchecked) return;
        // Where the group's offsets cannot be described (ACLs: Describe on the internal topic), they are not checked.
        await look(
          address,
          led.filter((r) => r.topic === OFFSETS_TOPIC),
        ).catch((error: unknown) => {
          if (error instanceof BrokerUnreachableError) throw error;
          this.offsetsUnchecked = true;
          this.options.logger.warn(
            "the group's offsets partition cannot be described; its open records are not checked",
            {
              error,
            },
          );
        });
      }),
    );
    if (open.length === 0) return;
    const earlierEpoch = open.filter((o) => o.producerEpoch !== identity.producerEpoch);
    if (earlierEpoch.length > 0)
      throw new Error(
        `records of an earlier epoch of this producer are open on ${earlierEpoch.map((o) => `${o.topic}-${o.partition}`).join(', ')}`,
      );
    this.options.logger.warn(
      "Kafka left this producer's committed records open without their markers; committing them before they join the next transaction",
      { producerId: identity.producerId.toString(), partitions: open.map((o) => `${o.topic}-${o.partition}`) },
    );
    await writeMarkers(
      identity.producerId,
      open.map((o) => ({ ...o, commit: true, leader: leaders.get(`${o.topic}:${o.partition}`)! })),
    );
  }

  private initializing: Promise<ProducerIdentity> | undefined;
  private reinitializing = false;

  /**
   * After a failed transaction: a new epoch soon, whether or not more commits come, so the failed
   * transaction is aborted (and the last committed one secured) now rather than at the coordinator's
   * timeout. Retried while the brokers are away, for at most the transaction timeout.
   */
  private reinitialize(): void {
    if (this.reinitializing) return;
    this.reinitializing = true;
    void (async () => {
      const deadline = Date.now() + this.options.transactionTimeoutMs;
      while (!this.closed && !this.identity && Date.now() < deadline) {
        try {
          await this.ensureIdentity();
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      }
    })().finally(() => (this.reinitializing = false));
  }

  /** The current identity, or a new epoch (one at a time: two would fence each other). */
  private ensureIdentity(): Promise<ProducerIdentity> {
    if (this.identity) return Promise.resolve(this.identity);
    this.initializing ??= this.initialize().finally(() => (this.initializing = undefined));
    return this.initializing;
  }

  /**
   * A producer id and a new epoch: aborts what a previous incarnation with this id (this process
   * before a failed transaction, or before a restart) left open. As for a task's producer under
   * exactly_once (stream-task.ts), only once the broker lists live leaders for everything the
   * producer writes, and then the transactions Kafka left open without their markers are ended.
   */
  private async initialize(): Promise<ProducerIdentity> {
    const { admin, transactionalId, writtenTopics, groupId, logger } = this.options;
    if (!(await leadersAlive(admin, writtenTopics)))
      throw new Error('the brokers do not list a live leader for every partition the instance writes yet');
    const writable = await this.writablePartitions(writtenTopics, groupId);
    if (this.lastCommit && this.failed) await secureCommitted(admin, this.lastCommit, logger);
    const hanging = new HangingTransactions(admin, transactionalId, logger);
    const before = await hanging.state();
    const coordinator = await this.coordinator();
    const identity = await initProducerId(coordinator, transactionalId, this.options.transactionTimeoutMs);
    await hanging.repair(before, writable);
    this.sequences.clear();
    this.lastCommit = undefined;
    this.failed = false;
    this.identity = identity;
    return identity;
  }

  private async writablePartitions(topics: readonly string[], groupId: string): Promise<PartitionRef[]> {
    const counts = await partitionCounts(this.options.admin, [...topics, OFFSETS_TOPIC]);
    const refs: PartitionRef[] = [];
    for (const topic of topics)
      for (let partition = 0; partition < (counts.get(topic) ?? 0); partition++) refs.push({ topic, partition });
    const offsets = counts.get(OFFSETS_TOPIC);
    if (offsets) {
      this.offsetsPartition = offsetsPartitionOf(groupId, offsets);
      refs.push({ topic: OFFSETS_TOPIC, partition: this.offsetsPartition });
    }
    return refs;
  }

  private async produce(
    identity: ProducerIdentity,
    records: readonly OutgoingWithPartition[],
    written: WrittenOffsets,
  ): Promise<void> {
    // Records by topic and partition first (no string built per record), then each partition's run by leader.
    const byTopic = new Map<string, Map<number, OutgoingWithPartition[]>>();
    for (const r of records) {
      let byPartition = byTopic.get(r.topic);
      if (!byPartition) byTopic.set(r.topic, (byPartition = new Map()));
      const partitionRecords = byPartition.get(r.partition);
      if (partitionRecords) partitionRecords.push(r);
      else byPartition.set(r.partition, [r]);
    }
    const leaders = await this.leaders([...byTopic.keys()]);
    const byLeader = new Map<string, Map<string, OutgoingWithPartition[]>>();
    for (const [topic, byPartition] of byTopic) {
      for (const [partition, partitionRecords] of byPartition) {
        const tp = `${topic}:${partition}`;
        const leader = leaders.get(tp);
        if (!leader) throw new Error(`no leader known for ${topic}-${partition}`);
        const key = `${leader.host}:${leader.port}`;
        let forLeader = byLeader.get(key);
        if (!forLeader) byLeader.set(key, (forLeader = new Map<string, OutgoingWithPartition[]>()));
        forLeader.set(tp, partitionRecords);
      }
    }
    await Promise.all(
      [...byLeader].map(async ([address, byPartition]) => {
        const connection = this.connection(address);
        let request: PartitionBatch[] = [];
        let bytes = 0;
        const send = async () => {
          if (request.length === 0) return;
          const batches = request;
          request = [];
          bytes = 0;
          for (const [tp, next] of await produceTransactional(connection, identity, batches)) written.set(tp, next);
        };
        for (const [tp, partitionRecords] of byPartition) {
          for (const { records: chunk, bytes: size } of chunksOf(partitionRecords, MAX_REQUEST_BYTES)) {
            if (bytes + size > MAX_REQUEST_BYTES) await send();
            const baseSequence = this.sequences.get(tp) ?? 0;
            this.sequences.set(tp, (baseSequence + chunk.length) % 2 ** 31);
            const [topic, partition] = [chunk[0]!.topic, chunk[0]!.partition];
            request.push({
              topic,
              partition,
              baseSequence,
              records: chunk,
            });
            bytes += size;
          }
        }
        await send();
      }),
    );
  }

  /** Partition leaders, looked up once per topic and again after a failed transaction (not per commit). */
  private readonly knownLeaders = new Map<string, BrokerAddress>();
  private readonly topicsWithLeaders = new Set<string>();

  private async leaders(topics: string[]): Promise<Map<string, BrokerAddress>> {
    const unknown = topics.filter((t) => !this.topicsWithLeaders.has(t));
    if (unknown.length > 0) {
      for (const [tp, leader] of await partitionLeaders(this.options.admin, unknown)) this.knownLeaders.set(tp, leader);
      for (const topic of unknown) this.topicsWithLeaders.add(topic);
    }
    return this.knownLeaders;
  }

  private coordinatorAddress: BrokerAddress | undefined;
  private readonly groupCoordinators = new Map<string, BrokerAddress>();

  private async coordinator(): Promise<BrokerConnection> {
    this.coordinatorAddress ??= await findCoordinator(
      this.options.bootstrap,
      this.options.transactionalId,
      'transaction',
    );
    return this.connection(`${this.coordinatorAddress.host}:${this.coordinatorAddress.port}`);
  }

  private async groupCoordinator(groupId: string): Promise<BrokerConnection> {
    let address = this.groupCoordinators.get(groupId);
    if (!address) {
      address = await findCoordinator(this.options.bootstrap, groupId, 'group');
      this.groupCoordinators.set(groupId, address);
    }
    return this.connection(`${address.host}:${address.port}`);
  }

  /** A persistent connection per broker; a failed one is replaced on next use. */
  private connection(address: string): BrokerConnection {
    const existing = this.connections.get(address);
    if (existing && !existing.failed) return existing;
    const [host, port] = [
      address.slice(0, address.lastIndexOf(':')),
      Number(address.slice(address.lastIndexOf(':') + 1)),
    ];
    const security = this.options.bootstrap.security;
    const connection = new BrokerConnection({ host, port, ...(security ? { security } : {}) }, this.options.clientId);
    this.connections.set(address, connection);
    if (existing) {
      // The coordinators may have moved with the broker that failed.
      this.coordinatorAddress = undefined;
      this.groupCoordinators.clear();
    }
    return connection;
  }
}

function mergeOffsets(consumed: readonly ConsumedOffsets[]): Map<string, Map<number, bigint>> {
  const merged = new Map<string, Map<number, bigint>>();
  for (const c of consumed)
    for (const [topic, partitions] of c.offsets) {
      const byPartition = merged.get(topic) ?? new Map<number, bigint>();
      for (const [partition, offset] of partitions) byPartition.set(partition, offset);
      merged.set(topic, byPartition);
    }
  return merged;
}

/** A commit asked for in a generation the member has since left; not a fence (see InstanceProducer.movedOn). */
export class GenerationMovedOnError extends Error {
  constructor(generationId: number) {
    super(
      `the group's generation moved on from ${generationId} while this commit was in flight; redo from the committed state`,
    );
    this.name = 'GenerationMovedOnError';
  }
}
