/**
 * A running streams application: one Kafka consumer in the application's
 * group, a task per assigned (sub-topology, partition) run by the task
 * manager, standby and warm-up tasks kept current from the changelogs, and
 * the interactive-query view of who owns (or keeps a copy of) which key.
 */
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { committedOffsets, endOffsets, withRetries } from '../kafka/admin.js';
import { decodeSubscription } from '../kafka/consumer-protocol.js';
import { ChangelogReader } from '../kafka/changelog-reader.js';
import {
  createKafkaClient,
  type ClusterAdmin,
  type ConsumedBatch,
  type GroupConsumer,
  type KafkaClient,
} from '../kafka/client.js';
import { partitionForKey } from '../kafka/partitioner.js';
import type { GroupMembership } from '../kafka/group-transactions.js';
import { InstanceProducer } from '../kafka/instance-producer.js';
import type { TopologyGraph } from '../dsl/graph.js';
import type { Serde } from '../serdes/serde.js';
import { compileTopology, type CompiledTopology } from '../processor/compile.js';
import { topologyFingerprint } from '../processor/describe.js';
import { createLogger, type Logger } from '../util/logger.js';
import {
  decodeMemberInfo,
  groupTopology,
  taskAssignor,
  tasksOfAssignment,
  type MemberInfo,
  type TaskRef,
} from './assignor.js';
import { streamsConfig, type StreamsConfig, type StreamsSettings } from './config.js';
import { DirectoryLocks } from './directory-locks.js';
import { emptyPlan, readGroupPlan, type GroupPlan } from './group-plan.js';
import { prepareTopics, type TopicLayout } from './internal-topics.js';
import { LocalState } from './local-state.js';
import { createStreamsMetrics, type StreamsMetrics } from './metrics.js';
import { RestoreProgress } from './restore-progress.js';
import { RepartitionPurge } from './repartition-purge.js';
import { restoreInWaves, type TaskRestore } from './restore-waves.js';
import { StandbyManager } from './standby-manager.js';
import { StandbyTask } from './standby-task.js';
import type { RangeQuery } from '../state/range-query.js';
import { StreamTask, type TaskDeps } from './stream-task.js';
import { GlobalStores } from './global-stores.js';
import { TaskManager, type InputBatch } from './task-manager.js';
import { taskIdOf } from './task-core.js';

export type StreamsState = 'created' | 'starting' | 'rebalancing' | 'running' | 'stopping' | 'stopped' | 'failed';

/** Where a key lives: its partition, the task, and who owns it. */
export interface KeyMetadata {
  partition: number;
  taskId: string;
  /** host:port of the owning instance, when known. */
  owner: string | undefined;
  local: boolean;
  /** Status of the task when it is local. */
  status: 'running' | 'restoring' | undefined;
  /** The local task has processed the input that existed when it started. */
  caughtUp: boolean;
  /** host:port of the members keeping a standby copy of the task. */
  standbyHosts: string[];
  /** The standby copy of the task on this instance, if any. */
  localStandby: { lagRecords: bigint | undefined; stalenessMs: number | undefined } | undefined;
}

/** A running task's place in its input partitions. */
export interface TaskPosition {
  /** Per input topic, the offset before which every record's results are committed and readable. */
  applied: Map<string, bigint>;
  /** Records left to read in its input partitions at their last fetches (undefined: none fetched yet). */
  lagRecords: bigint | undefined;
}

export interface KafkaStreamsOptions {
  logger?: Logger;
  registry?: Registry;
  /** Configs for sink topics the application creates when they are missing (e.g. cleanup.policy=compact). */
  sinkTopicConfigs?: Record<string, Record<string, string>>;
  /**
   * Called once the application has stopped for good after its start, e.g. because the group refused
   * this instance (it runs another topology than the group). The error says why.
   */
  onFatal?: (error: Error) => void;
}

/** This instance runs a topology other than the one its group runs. */
export class TopologyMismatchError extends Error {
  override name = 'TopologyMismatchError';
}

export class KafkaStreams {
  readonly topology: CompiledTopology;
  /** Identifies the topology among the group's members (topologyFingerprint). */
  readonly fingerprint: string;
  config: StreamsConfig;
  readonly metrics: StreamsMetrics;
  state: StreamsState = 'created';
  private readonly log: Logger;
  private kafka!: KafkaClient;
  private admin!: ClusterAdmin;
  private consumer!: GroupConsumer;
  private layout!: TopicLayout;
  private tasks!: TaskManager<StreamTask>;
  private standbys!: StandbyManager;
  private reader!: ChangelogReader;
  /** The global tables' stores; restored before the group is joined. */
  private globalStores: GlobalStores | undefined;
  /** Exactly-once v2: the producer every task commits through. */
  private instanceProducer: InstanceProducer | undefined;
  private membership: GroupMembership | undefined;
  private local!: LocalState;
  private readonly locks = new DirectoryLocks();
  /** Records left after the last fetch, per input partition (`topic:partition`). */
  private readonly inputLag = new Map<string, bigint>();
  /** The group's assignment as of the last rebalance: routing, and this member's standbys. */
  private plan: GroupPlan = emptyPlan();
  private memberId: string | undefined;
  /** This member left and rejoined the group itself: a new member id then is no sign of lost tasks. */
  private rejoining = false;
  /** Group joins seen so far (each brings an assignment). */
  private joins = 0;
  private lastJoinAt = 0;
  private lastProbeAt = 0;
  /** A leave-and-rejoin is under way; others wait for it. */
  private rejoinInFlight = false;
  private rejoinTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private sizeTimer: NodeJS.Timeout | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;

  constructor(
    graph: TopologyGraph,
    settings: StreamsSettings,
    private readonly options: KafkaStreamsOptions = {},
  ) {
    this.config = streamsConfig(settings);
    this.topology = compileTopology(graph, this.config.applicationId);
    this.fingerprint = topologyFingerprint(this.topology);
    this.log = (options.logger ?? createLogger()).child({ component: 'streams', app: this.config.applicationId });
    this.metrics = createStreamsMetrics(options.registry ?? new Registry());
  }

  /** Sets the endpoint advertised to the group (e.g. once the HTTP port is known); only before start. */
  advertise(endpoint: string): void {
    if (this.state !== 'created') throw new Error('the endpoint can only be changed before start');
    this.config = streamsConfig({ ...this.config, endpoint });
  }

  async start(): Promise<void> {
    this.state = 'starting';
    await initSerdes(this.topology);
    this.kafka = createKafkaClient({
      brokers: this.config.brokers,
      clientId: this.config.applicationId,
      logger: this.log,
      kind: this.config.kafkaClient,
      security: this.config.security,
    });
    this.admin = this.kafka.admin();
    const { layout, created } = await this.untilBrokersAnswer(async () => {
      await this.admin.connect();
      await this.checkGroupTopology();
      return prepareTopics(this.admin, this.topology, this.config, this.options.sinkTopicConfigs ?? {});
    });
    this.layout = layout;
    if (created.length) this.log.info('created topics', { topics: created });
    this.local = new LocalState(
      join(this.config.stateDir, this.config.applicationId),
      this.topology,
      this.locks,
      this.log,
    );
    await this.local.scan();
    if (this.topology.globalStores.length > 0) {
      this.globalStores = new GlobalStores(this.topology.globalStores, {
        kafka: this.kafka,
        admin: this.admin,
        directory: join(this.config.stateDir, this.config.applicationId, 'global'),
        groupId: `${this.config.applicationId}-global-${randomUUID()}`,
        clientId: this.config.applicationId,
        logger: this.log,
        onProcessingFailed: (error) => this.stopFatally('the processor of a global store failed', error),
      });
      await this.globalStores.start(() => this.state === 'stopping' || this.state === 'stopped');
    }
    if (this.config.processingGuarantee === 'exactly_once_v2') {
      const [host, port] = this.config.brokers[0]!.split(':');
      this.instanceProducer = new InstanceProducer({
        admin: this.admin,
        bootstrap: { host: host!, port: Number(port), security: this.config.security },
        transactionalId: `${this.config.applicationId}-${await this.processId()}`,
        // As Kafka Streams sets it under exactly-once: a dead instance's open transaction (which holds
        // back its tasks' next owners, waiting for stable offsets) is aborted within seconds.
        transactionTimeoutMs: 10_000,
        membership: () => this.membership,
        clientId: this.config.applicationId,
        groupId: this.config.applicationId,
        writtenTopics: [
          ...new Set([
            ...this.topology.subtopologies.flatMap((sub) => [
              ...sub.sinkTopics,
              ...sub.stores.map((store) => store.changelogTopic),
            ]),
            this.config.deadLetterTopic,
          ]),
        ],
        logger: this.log.child({ component: 'instance-producer' }),
      });
    }

    this.tasks = new TaskManager<StreamTask>({
      openTask: (ref) => this.openActive(ref),
      restore: (tasks, abandoned) => this.restore(tasks, abandoned),
      input: {
        pause: (topic, partition) => this.consumer.pause(topic, partition),
        resume: (topic, partition) => this.consumer.resume(topic, partition),
        seek: (topic, partition, offset) => this.consumer.seek(topic, partition, offset),
      },
      requestRejoin: () => this.requestRejoin(),
      inputTopicsOf: (ref) => this.topology.subtopologies[ref.subtopology]!.sources.map((s) => s.topic),
      logger: this.log,
      metrics: this.metrics,
      commitCheckMs: Math.max(5, Math.floor(this.config.commitIntervalMs / 2)),
      turnMs: this.config.turnMs,
      // Exactly-once v2 commits with the current generation: a revoked task's work would land after
      // its new owner read the offsets. Its new owner redoes it instead.
      commitRevoked: this.config.processingGuarantee === 'exactly_once',
    });
    const changelogs = this.topology.subtopologies.flatMap((sub) => sub.stores.map((store) => store.changelogTopic));
    this.reader = new ChangelogReader(
      this.kafka,
      `${this.config.applicationId}-standby-${randomUUID()}`,
      changelogs,
      this.log,
    );
    this.standbys = new StandbyManager({
      open: (ref) => this.openStandby(ref),
      follow: (task) => {
        for (const { topic, from, end } of task.changelogs)
          this.reader.follow(topic, task.partition, from, task.sink(topic), end);
      },
      unfollow: (task) => {
        for (const { topic } of task.changelogs) this.reader.unfollow(topic, task.partition);
        this.local.closedAt(task.id, task.checkpointSum);
        this.scheduleCleanup(task.id);
      },
      committedOffsets: (topic) => committedOffsets(this.admin, this.config.applicationId, topic),
      endOffsets: (topic) => endOffsets(this.admin, topic),
      logger: this.log,
    });
    await this.reader.start();

    this.consumer = this.kafka.groupConsumer({
      groupId: this.config.applicationId,
      topics: [...new Set(this.topology.subtopologies.flatMap((s) => s.sources.map((src) => src.topic)))],
      fetchMaxWaitMs: this.config.fetchMaxWaitMs,
      sessionTimeoutMs: this.config.sessionTimeoutMs,
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      // At least the session timeout, which the group protocol requires.
      rebalanceTimeoutMs: Math.max(60_000, this.config.sessionTimeoutMs),
      autoResolve: false,
      ...(this.config.groupInstanceId !== undefined ? { groupInstanceId: this.config.groupInstanceId } : {}),
      assignor: taskAssignor(this.topology, () => this.memberInfo(), {
        settings: {
          numStandbyReplicas: this.config.numStandbyReplicas,
          acceptableRecoveryLag: BigInt(this.config.acceptableRecoveryLag),
          maxWarmupReplicas: this.config.maxWarmupReplicas,
        },
        changelogEnds: () => this.changelogEnds(),
      }),
      eachBatch: (batch) => this.tasks.process(inputBatch(batch)),
      onJoin: ({ memberId, generationId, assignment }) => {
        this.membership = {
          groupId: this.config.applicationId,
          generationId,
          memberId,
          ...(this.config.groupInstanceId !== undefined ? { groupInstanceId: this.config.groupInstanceId } : {}),
        };
        this.onAssignment(assignment, memberId);
      },
      onBatchDone: (done) => {
        this.metrics.consumerLag.set({ topic: done.topic, partition: String(done.partition) }, Number(done.lag));
        this.inputLag.set(`${done.topic}:${done.partition}`, done.lag);
        if (done.lag === 0n)
          this.tasks.markNoLag(done.topic, done.partition, {
            lastOffset: (done.nextOffset - 1n).toString(),
            records: done.records,
          });
      },
      onCrash: (error, restarting) => {
        if (this.state === 'stopping' || this.state === 'stopped') return;
        this.log.error('consumer crashed', { error, restart: restarting });
        if (!restarting) this.restartConsumer();
      },
    });
    this.state = 'rebalancing';
    await this.consumer.start();
    this.sizeTimer = setInterval(() => void this.measureStores(), 30_000);
    this.sizeTimer.unref();
    this.probeTimer = setInterval(() => {
      for (const task of this.tasks.openTasks) task.settleMemtable();
      this.updateStandbyMetrics();
      this.probeIfWarmedUp();
    }, 1000);
    this.probeTimer.unref();
    const purge = new RepartitionPurge(this.admin, new Set(this.topology.repartitionTopics), this.log);
    this.purgeTimer = setInterval(() => purge.purge(this.tasks.openTasks), this.config.repartitionPurgeIntervalMs);
    this.purgeTimer.unref();
    this.log.info('started', { endpoint: this.config.endpoint, subtopologies: this.topology.subtopologies.length });
  }

  /**
   * Stops processing, commits and closes every task, and only then leaves the group: had it left
   * first, the tasks' new owners could read the committed offsets before the final commits.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    for (const timer of [this.rejoinTimer, this.restartTimer]) clearTimeout(timer);
    for (const timer of [this.sizeTimer, this.probeTimer, this.purgeTimer]) clearInterval(timer);
    this.local?.stop();
    await this.tasks?.shutdown();
    await this.instanceProducer?.close();
    await this.consumer?.stop().catch((error) => this.log.warn('leaving the group failed', { error }));
    await this.standbys?.shutdown();
    await this.reader?.stop(this.admin);
    await this.globalStores?.stop(this.admin);
    await this.admin?.disconnect().catch(() => undefined);
    this.state = 'stopped';
    this.log.info('stopped');
  }

  /**
   * Runs the first contact with Kafka, retrying while the brokers cannot be reached (e.g. one is
   * restarting) for up to `startupTimeoutMs`; other errors (a missing topic, a bad partition
   * count) fail at once.
   */
  private async untilBrokersAnswer<T>(contact: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.config.startupTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await contact();
      } catch (error) {
        const unreachable =
          /ECONNREFUSED|ECONNRESET|Connection error|KafkaJSNumberOfRetriesExceeded|not available|loading/i.test(
            String((error as Error)?.message ?? error),
          );
        if (!unreachable || Date.now() > deadline) throw error;
        this.log.warn('Kafka does not answer yet; retrying', { attempt, error });
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * attempt)));
      }
    }
  }

  /** True when every assigned task is restored and running. */
  get ready(): boolean {
    return this.state === 'running' && this.tasks.allRunning;
  }

  /**
   * Ready, and the input fetched so far is less than catchUpLagRecords behind its end (a partition
   * not fetched yet counts as caught up).
   */
  get caughtUp(): boolean {
    return this.ready && this.instanceLag() < BigInt(this.config.catchUpLagRecords);
  }

  private instanceLag(): bigint {
    let lag = 0n;
    for (const behind of this.inputLag.values()) lag += behind;
    return lag;
  }

  /** Where a store's key lives. */
  keyMetadata(storeName: string, key: Buffer): KeyMetadata {
    const { sub, partitions } = this.storeLayout(storeName);
    return this.partitionMetadata(sub, partitionForKey(key, partitions), Date.now());
  }

  /** Where each partition of a store lives, and the directory of its local copy (for readers in other threads). */
  storePartitions(
    storeName: string,
  ): Array<
    KeyMetadata & { directory: string; position: TaskPosition | undefined; standbyPosition: TaskPosition | undefined }
  > {
    const { sub, partitions } = this.storeLayout(storeName);
    const now = Date.now();
    return Array.from({ length: partitions }, (_, partition) => {
      const meta = this.partitionMetadata(sub, partition, now);
      return {
        ...meta,
        directory: this.taskDirectory(meta.taskId),
        position: this.taskPosition(meta.taskId),
        standbyPosition: this.standbyPosition(storeName, partition),
      };
    });
  }

  /** Where the task of a store's partition stands in its input, when it runs here. */
  storePosition(storeName: string, partition: number): TaskPosition | undefined {
    return this.taskPosition(taskIdOf(this.storeLayout(storeName).sub, partition));
  }

  /**
   * What this instance's standby copy of a store's partition is proven to reflect of the task's input
   * (StandbyTask.provenInputs); undefined when there is no copy here or nothing is proven yet.
   */
  standbyPosition(storeName: string, partition: number): TaskPosition | undefined {
    const proven = this.standbys.task(taskIdOf(this.storeLayout(storeName).sub, partition))?.provenInputs(storeName);
    return proven && { applied: new Map(proven), lagRecords: undefined };
  }

  /** Where a task running here stands in its input: what reads of its stores reflect, and what is left. */
  private taskPosition(taskId: string): TaskPosition | undefined {
    const task = this.tasks.task(taskId);
    if (!task || task.status !== 'running') return undefined;
    // Over the partitions fetched so far (a partition with nothing to read may not have been yet).
    let lag: bigint | undefined;
    for (const topic of task.inputTopics) {
      const behind = this.inputLag.get(`${topic}:${task.partition}`);
      if (behind !== undefined) lag = (lag ?? 0n) + behind;
    }
    return { applied: new Map(task.appliedPositions), lagRecords: lag };
  }

  taskDirectory(taskId: string): string {
    return join(this.config.stateDir, this.config.applicationId, taskId);
  }

  private storeLayout(storeName: string): { sub: number; partitions: number } {
    const sub = this.topology.subtopologies.find((s) => s.stores.some((st) => st.name === storeName));
    if (!sub) throw new Error(`no store named ${storeName}`);
    return { sub: sub.id, partitions: this.layout.subtopologyPartitions.get(sub.id)! };
  }

  private partitionMetadata(sub: number, partition: number, now: number): KeyMetadata {
    const taskId = taskIdOf(sub, partition);
    const task = this.tasks.task(taskId);
    // A task assigned here but not open (failed, being reopened) answers as restoring meanwhile.
    const status =
      task?.status === 'running' || task?.status === 'restoring'
        ? task.status
        : this.tasks.assignedTasks.some((ref) => ref.id === taskId)
          ? 'restoring'
          : undefined;
    const standby = this.standbys.task(taskId);
    const restoringStaleness = task?.restoringStalenessMs(now);
    return {
      partition,
      taskId,
      owner: this.plan.owners.get(taskId),
      local: status !== undefined,
      status,
      caughtUp: task?.caughtUp ?? false,
      standbyHosts: this.plan.standbyHosts.get(taskId) ?? [],
      localStandby: standby
        ? { lagRecords: standby.lagRecords, stalenessMs: standby.stalenessMs(now) }
        : restoringStaleness !== undefined
          ? { lagRecords: undefined, stalenessMs: restoringStaleness }
          : undefined,
    };
  }

  /**
   * A committed row of a local, running task; undefined when the row does not exist. `partition`: the
   * key's, when the caller already knows it (keyMetadata).
   */
  getLocal(storeName: string, key: Buffer, partition?: number): Buffer | undefined {
    const { sub, partitions } = this.storeLayout(storeName);
    const taskId = taskIdOf(sub, partition ?? partitionForKey(key, partitions));
    const task = this.tasks.task(taskId);
    if (!task || task.status !== 'running') throw new Error(`task ${taskId} is not running here`);
    return task.readCommitted(storeName, key);
  }

  /** A row of a global store (GlobalKTable): every instance holds all of them. */
  getGlobal(storeName: string, key: Buffer): Buffer | undefined {
    if (!this.globalStores) throw new Error(`no global store named "${storeName}" (or not started)`);
    return this.globalStores.get(storeName, key);
  }

  /** Rows of a global store in a range of serialized keys (byte order), from one snapshot. */
  async rangeGlobal(storeName: string, query: RangeQuery): Promise<Array<[Buffer, Buffer]>> {
    if (!this.globalStores) throw new Error(`no global store named "${storeName}" (or not started)`);
    return this.globalStores.range(storeName, query);
  }

  /**
   * Committed rows of one partition of a store, in a range of serialized keys (byte order), from one
   * snapshot: the partition's task must be running here (see storePartitions for where each lives).
   */
  async rangeLocal(storeName: string, partition: number, query: RangeQuery): Promise<Array<[Buffer, Buffer]>> {
    const { sub, partitions } = this.storeLayout(storeName);
    if (!Number.isInteger(partition) || partition < 0 || partition >= partitions)
      throw new RangeError(`store ${storeName} has partitions 0 to ${partitions - 1}, not ${partition}`);
    const taskId = taskIdOf(sub, partition);
    const task = this.tasks.task(taskId);
    if (!task || task.status !== 'running') throw new Error(`task ${taskId} is not running here`);
    return task.rangeCommitted(storeName, query);
  }

  /**
   * A row of this instance's standby copy of the key's task (as far as it has read its
   * changelogs), or of the task's store while it restores after taking over from that standby.
   */
  getStandby(storeName: string, key: Buffer): Buffer | undefined {
    const { taskId } = this.keyMetadata(storeName, key);
    const copy =
      this.standbys.task(taskId) ??
      (this.tasks.task(taskId)?.restoringStalenessMs() !== undefined ? this.tasks.task(taskId) : undefined);
    if (!copy) throw new Error(`no standby copy of task ${taskId} here`);
    return copy.readCommitted(storeName, key);
  }

  /** host:port of every instance in the group, from the last rebalance. */
  get members(): string[] {
    return [...new Set([...this.plan.owners.values(), ...[...this.plan.standbyHosts.values()].flat()])];
  }

  private get heartbeatIntervalMs(): number {
    // Frequent enough that a rebalance (a member leaving) is noticed within about a second.
    return Math.max(500, Math.floor(this.config.sessionTimeoutMs / 10));
  }

  /** What this member tells the assignor: its endpoint, its tasks, and how far each local copy of a task is. */
  private memberInfo(): MemberInfo {
    const offsets: Record<string, string> = {};
    for (const [id, sum] of this.local.closedOffsets) offsets[id] = sum.toString();
    for (const task of this.standbys.openTasks) offsets[task.id] = task.checkpointSum.toString();
    for (const task of this.tasks.openTasks) offsets[task.id] = task.checkpointSum.toString();
    return {
      endpoint: this.config.endpoint,
      tasks: this.tasks.openTasks.map((t) => t.id),
      standbys: this.standbys.openTasks.map((t) => t.id),
      offsets,
      topology: this.fingerprint,
    };
  }

  /**
   * Refuses to start (before creating any topic) when the group's members run another topology: it
   * would take part in their work with other stores and topics. The group's own assignor refuses such
   * a member too, if two start at once (taskAssignor).
   */
  private async checkGroupTopology(): Promise<void> {
    const group = await withRetries(() => this.admin.describeGroup(this.config.applicationId));
    const members = new Map(
      (group?.members ?? []).map((m) => [
        m.memberId,
        decodeMemberInfo(decodeSubscription(m.subscription)?.userData ?? undefined),
      ]),
    );
    const theirs = groupTopology(members, undefined);
    if (theirs !== undefined && theirs !== this.fingerprint) {
      throw new TopologyMismatchError(
        `the group ${this.config.applicationId} runs another topology (fingerprint ${theirs}; this instance's is ` +
          `${this.fingerprint}): run the same build of the application on every instance, or stop them all and ` +
          'reset the application (uis reset) to start it anew with the new topology',
      );
    }
  }

  /** A record failed under a `fail` error policy: the application stops, committing what came before it. */
  private fail(error: Error): void {
    this.stopFatally('a record failed and its error policy is fail', error);
  }

  /** The group refused this instance: it stops (leaving the group, so the others rebalance at once). */
  private refuse(reason: string): void {
    this.stopFatally(
      'the group refused this instance',
      new TopologyMismatchError(`the group refused this instance: ${reason}`),
    );
  }

  /** Stops the instance for good (committing what is done, leaving the group), then tells onFatal why. */
  private stopFatally(why: string, error: Error): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.log.error(`stopping: ${why}`, { error: error.message });
    void this.stop().finally(() => this.options.onFatal?.(error));
  }

  /** The end offsets of every changelog, summed per task: what a copy of each task's state has to reach. */
  private async changelogEnds(): Promise<Map<string, bigint>> {
    const ends = new Map<string, bigint>();
    for (const sub of this.topology.subtopologies) {
      for (const store of sub.stores) {
        for (const [partition, end] of await endOffsets(this.admin, store.changelogTopic)) {
          const id = taskIdOf(sub.id, partition);
          ends.set(id, (ends.get(id) ?? 0n) + end);
        }
      }
    }
    return ends;
  }

  /**
   * This instance's id, kept in its state directory: the instance producer's transactional id, so a
   * restarted instance fences what its previous run left open.
   */
  private async processId(): Promise<string> {
    const file = join(this.config.stateDir, this.config.applicationId, 'process-id');
    const known = await readFile(file, 'utf8').catch(() => '');
    if (/^[0-9a-f-]{36}$/.test(known.trim())) return known.trim();
    const id = randomUUID();
    await mkdir(join(this.config.stateDir, this.config.applicationId), { recursive: true });
    await writeFile(file, id);
    return id;
  }

  private taskDeps(): TaskDeps {
    return {
      instanceProducer: this.instanceProducer,
      topology: this.topology,
      config: this.config,
      client: this.kafka,
      admin: this.admin,
      logger: this.log,
      metrics: this.metrics,
      partitionsOf: (topic) => this.layout.partitionsOf(topic),
      instanceLag: () => this.instanceLag(),
      failApplication: (error) => this.fail(error),
      globalStores: this.globalStores,
    };
  }

  /** Opens an active task once its directory is free (a standby of it here closes first). */
  private async openActive(ref: TaskRef): Promise<StreamTask> {
    const sub = this.topology.subtopologies[ref.subtopology]!;
    this.local.cancelCleanup(ref.id);
    const handed = this.standbys.handOver(ref.id);
    if (handed) return StreamTask.open(this.taskDeps(), sub, ref.partition, handed);
    const releaseDirectory = await this.locks.acquire(ref.id);
    return StreamTask.open(this.taskDeps(), sub, ref.partition, { releaseDirectory });
  }

  private async openStandby(ref: TaskRef): Promise<StandbyTask> {
    const release = await this.locks.acquire(ref.id);
    this.local.cancelCleanup(ref.id);
    return StandbyTask.open(
      { config: this.config, admin: this.admin, logger: this.log },
      this.topology.subtopologies[ref.subtopology]!,
      ref.partition,
      release,
    );
  }

  private onAssignment(memberAssignment: Record<string, number[]>, memberId: string): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.metrics.rebalances.inc();
    const generation = ++this.joins;
    this.lastJoinAt = Date.now();
    const lost = this.memberId !== undefined && memberId !== this.memberId && !this.rejoining;
    this.memberId = memberId;
    this.rejoining = false;
    const assigned = tasksOfAssignment(this.topology, memberAssignment);
    this.log.info('assignment received', { generation, tasks: assigned.map((t) => t.id), lost });
    const before = this.tasks.openTasks;
    this.tasks.handleAssignment(assigned, { lost });
    // A partition that left keeps no lag here: the instance's lag is over what it reads now.
    const kept = new Set(Object.entries(memberAssignment).flatMap(([topic, ps]) => ps.map((p) => `${topic}:${p}`)));
    for (const key of this.inputLag.keys()) if (!kept.has(key)) this.inputLag.delete(key);
    for (const task of before) {
      if (assigned.some((ref) => ref.id === task.id)) continue;
      this.local.closedAt(task.id, task.checkpointSum);
      this.scheduleCleanup(task.id);
    }
    this.state = 'running';
    void this.refreshPlan(generation, memberId, assigned);
  }

  /** Reads the group's whole assignment (routing, standbys); retried until the group is stable or rebalances again. */
  private async refreshPlan(generation: number, memberId: string, assigned: TaskRef[]): Promise<void> {
    for (let attempt = 1; generation === this.joins && this.state === 'running'; attempt++) {
      try {
        const plan = await readGroupPlan(this.admin, this.config.applicationId, this.topology, memberId, assigned);
        if (plan?.refused !== undefined) return this.refuse(plan.refused);
        if (plan && generation === this.joins) {
          this.plan = plan;
          const active = new Set(assigned.map((ref) => ref.id));
          this.standbys.handleAssignment([...plan.standby, ...plan.warmup].filter((ref) => !active.has(ref.id)));
          if (plan.warmup.length > 0)
            this.log.info('warming up tasks before they move here', { tasks: plan.warmup.map((r) => r.id) });
          return;
        }
      } catch (error) {
        this.log.debug('describing the group failed; retrying', { error });
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * attempt)));
    }
  }

  /**
   * Once this member's warm-up tasks have caught up (or the probing interval has passed), asks
   * for a rebalance, so the assignor can move their active tasks here (Kafka Streams' probing
   * rebalance).
   */
  private probeIfWarmedUp(): void {
    if (this.state !== 'running' || this.plan.warmup.length === 0 || this.rejoinTimer || this.rejoinInFlight) return;
    // A probe is a rebalance of the whole group: at most one every 30 s, and not right after one.
    const now = Date.now();
    if (now - this.lastJoinAt < 10_000 || now - this.lastProbeAt < 30_000) return;
    const warm = this.plan.warmup.every((ref) => {
      const standby = this.standbys.task(ref.id);
      return (
        standby !== undefined &&
        standby.stalenessMs() !== undefined &&
        standby.lagRecords <= BigInt(this.config.acceptableRecoveryLag)
      );
    });
    const due = now - this.lastJoinAt >= this.config.probingRebalanceIntervalMs;
    if (!warm && !due) return;
    this.lastProbeAt = now;
    this.rejoin(warm ? 'warm-up tasks caught up' : 'probing rebalance');
  }

  /**
   * A task was taken over by another instance, so the group has moved on or is about to. If no
   * new assignment arrives by itself within a few heartbeats, rejoin the group to get one. A
   * request restarts the wait: a task can be found taken over just after an assignment arrived
   * (under exactly_once_v2, a commit made with the previous generation), and that assignment
   * does not answer it.
   */
  private requestRejoin(): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    clearTimeout(this.rejoinTimer);
    const joinsBefore = this.joins;
    this.rejoinTimer = setTimeout(() => {
      this.rejoinTimer = undefined;
      if (this.joins === joinsBefore) this.rejoin('a task was taken over and no new assignment came');
    }, 3 * this.heartbeatIntervalMs);
    this.rejoinTimer.unref();
  }

  /** Leaves and rejoins the group, keeping the tasks open meanwhile. */
  private rejoin(reason: string): void {
    if (this.rejoinInFlight || this.state === 'stopping' || this.state === 'stopped') return;
    this.log.info('rejoining the group', { reason });
    this.rejoinInFlight = true;
    this.rejoining = true;
    this.consumer
      .rejoin()
      .catch((error) => {
        this.log.warn('rejoining the group failed; restarting the consumer', { error });
        this.restartConsumer();
      })
      .finally(() => (this.rejoinInFlight = false));
  }

  /**
   * The consumer crashed and will not restart by itself: every task is given up (others may get
   * them meanwhile), and the consumer joins the group again after a pause.
   */
  private restartConsumer(attempt = 1): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.tasks.loseAll();
    this.rejoining = false;
    this.state = 'rebalancing';
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(
      () => {
        this.consumer.restart().catch((error) => {
          this.log.warn('restarting the consumer failed; retrying', { error, attempt });
          this.restartConsumer(attempt + 1);
        });
      },
      Math.min(10_000, 1000 * attempt),
    );
    this.restartTimer.unref();
  }

  /** Reads the tasks' changelogs from their checkpoints into their stores (large restores a few tasks at a time). */
  private async restore(tasks: readonly StreamTask[], abandoned: () => boolean): Promise<void> {
    const restores: Array<TaskRestore & { task: StreamTask }> = [];
    for (const task of tasks) {
      const ranges = await task.restoreRanges();
      restores.push({
        task,
        backend: task.state.backend,
        ranges,
        prepare: (range, records) => task.prepareRestored(range, records),
      });
      this.log.info('restoring task', {
        task: task.id,
        changelogs: Object.fromEntries(ranges.map((r) => [r.topic, `${r.from}-${r.to}`])),
      });
    }
    const progress = new RestoreProgress(
      this.log,
      this.metrics,
      restores.flatMap((r) => r.ranges),
    );
    await restoreInWaves(this.admin, restores, progress, abandoned, {
      clientId: `${this.config.applicationId}-restore`,
      bulkMinRecords: this.config.bulkRestoreMinRecords,
      bulkTasks: this.config.bulkRestoreTasks,
      fetchBytes: this.config.restoreFetchBytes,
    });
    // Only a read that reached every range's end may mark the stores as restored to it.
    for (const { task, ranges } of restores) for (const range of ranges) await task.finishRestore(range);
    progress.done();
  }

  /** Deletes a task's local copy once it has been neither active nor standby here for a while. */
  private scheduleCleanup(taskId: string): void {
    this.local.scheduleCleanup(
      taskId,
      this.config.stateCleanupDelayMs,
      (id) =>
        this.tasks.task(id) !== undefined ||
        this.tasks.assignedTasks.some((ref) => ref.id === id) ||
        this.standbys.task(id) !== undefined ||
        this.standbys.wantedIds.includes(id),
    );
  }

  private updateStandbyMetrics(): void {
    this.metrics.standbyLagRecords.reset();
    this.metrics.standbyStalenessSeconds.reset();
    for (const task of this.standbys.openTasks) {
      this.metrics.standbyLagRecords.set({ task: task.id }, Number(task.lagRecords));
      const staleness = task.stalenessMs();
      this.metrics.standbyStalenessSeconds.set({ task: task.id }, staleness === undefined ? -1 : staleness / 1000);
    }
  }

  /**
   * Disk size and level-0 files of every local task store, and the row caches, for the store metrics.
   * The sizes are measured first and the gauges set afterwards in one synchronous step: a scrape while
   * the files are being counted would otherwise see some tasks' sizes missing.
   */
  private async measureStores(): Promise<void> {
    const stores = [...this.tasks.openTasks, ...this.standbys.openTasks];
    const sizes = await Promise.all(stores.map((task) => directoryBytes(this.taskDirectory(task.id))));
    this.metrics.storeBytes.reset();
    this.metrics.storeLevelZeroFiles.reset();
    this.metrics.storeCompactionSeconds.reset();
    this.metrics.storeCompactionWrittenBytes.reset();
    this.metrics.storeMemoryBytes.reset();
    this.metrics.rowCacheBytes.reset();
    for (const task of this.tasks.openTasks) {
      const cache = task.rowCache;
      this.metrics.rowCacheLookups.inc({ result: 'hit' }, cache.hits);
      this.metrics.rowCacheLookups.inc({ result: 'miss' }, cache.misses);
      cache.hits = cache.misses = 0;
      this.metrics.rowCacheBytes.set({ task: task.id }, cache.sizeBytes);
    }
    stores.forEach((task, i) => {
      this.metrics.storeLevelZeroFiles.set({ task: task.id }, task.levelZeroFiles);
      const compaction = task.compactionStats;
      this.metrics.storeCompactionSeconds.set({ task: task.id }, compaction.seconds);
      this.metrics.storeCompactionWrittenBytes.set({ task: task.id }, compaction.writtenBytes);
      this.metrics.storeBytes.set({ task: task.id }, sizes[i]!);
      this.metrics.storeMemoryBytes.set({ task: task.id }, task.storeMemoryBytes);
    });
  }
}

/** The bytes of the files in a directory (not its subdirectories); files removed meanwhile count 0. */
async function directoryBytes(dir: string): Promise<number> {
  const files = await readdir(dir).catch(() => [] as string[]);
  let bytes = 0;
  for (const file of files) bytes += (await stat(join(dir, file)).catch(() => ({ size: 0 }))).size;
  return bytes;
}

/** A consumed batch as the task manager takes it. */
function inputBatch(batch: ConsumedBatch): InputBatch {
  return {
    topic: batch.topic,
    partition: batch.partition,
    records: batch.records,
    lastOffset: (batch.nextOffset - 1n).toString(),
    stillValid: batch.stillValid,
    resolve: batch.resolve,
    heartbeat: batch.heartbeat,
  };
}

/** Runs the one-time setup of every serde in the topology (e.g. registering Avro schemas). */
async function initSerdes(topology: CompiledTopology): Promise<void> {
  const serdes = new Set<Serde<unknown>>();
  for (const node of topology.graph.nodes.values()) {
    if ('keySerde' in node) serdes.add(node.keySerde);
    if ('valueSerde' in node) serdes.add(node.valueSerde);
    if ('store' in node && node.store) serdes.add(node.store.keySerde).add(node.store.valueSerde);
  }
  for (const serde of serdes) await serde.init?.();
}
