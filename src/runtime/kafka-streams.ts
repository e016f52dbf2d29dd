/**
 * A running streams application: one Kafka consumer in the application's
 * group, a task per assigned (sub-topology, partition), a commit loop, and
 * the interactive-query view of who owns which key.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { AssignerProtocol } from 'kafkajs';
import { createKafka, type Admin, type Consumer, type EachBatchPayload } from '../kafka/client.js';
import { partitionForKey } from '../kafka/partitioner.js';
import { readPartitions, type PartitionRange } from '../kafka/partition-reader.js';
import type { TopologyGraph } from '../dsl/graph.js';
import type { Serde } from '../serdes/serde.js';
import { compileTopology, type CompiledTopology } from '../processor/compile.js';
import { createLogger, type Logger } from '../util/logger.js';
import { decodeMemberInfo, taskAssignor, tasksOfAssignment } from './assignor.js';
import { streamsConfig, type StreamsConfig, type StreamsSettings } from './config.js';
import { prepareTopics, type TopicLayout } from './internal-topics.js';
import { createStreamsMetrics, type StreamsMetrics } from './metrics.js';
import { RestoreProgress } from './restore-progress.js';
import { StreamTask, type TaskDeps } from './stream-task.js';
import { TaskManager } from './task-manager.js';
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
}

export interface KafkaStreamsOptions {
  logger?: Logger;
  registry?: Registry;
  /** Configs for sink topics the application creates when they are missing (e.g. cleanup.policy=compact). */
  sinkTopicConfigs?: Record<string, Record<string, string>>;
}

export class KafkaStreams {
  readonly topology: CompiledTopology;
  config: StreamsConfig;
  readonly metrics: StreamsMetrics;
  state: StreamsState = 'created';
  private readonly log: Logger;
  private kafka!: Kafka;
  private admin!: Admin;
  private consumer!: Consumer;
  private layout!: TopicLayout;
  private tasks!: TaskManager<StreamTask>;
  /** Owner endpoint of every task in the group, from the last rebalance. */
  private owners = new Map<string, string>();
  /** Group joins seen so far (each brings an assignment). */
  private joins = 0;
  private rejoinTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private sizeTimer: NodeJS.Timeout | undefined;
  private readonly cleanupTimers = new Map<string, NodeJS.Timeout>();

  constructor(
    graph: TopologyGraph,
    settings: StreamsSettings,
    private readonly options: KafkaStreamsOptions = {},
  ) {
    this.config = streamsConfig(settings);
    this.topology = compileTopology(graph, this.config.applicationId);
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
    this.kafka = createKafka({ brokers: this.config.brokers, clientId: this.config.applicationId, logger: this.log });
    this.admin = this.kafka.admin();
    await this.admin.connect();
    const { layout, created } = await prepareTopics(
      this.admin,
      this.topology,
      this.config,
      this.options.sinkTopicConfigs ?? {},
    );
    this.layout = layout;
    if (created.length) this.log.info('created topics', { topics: created });
    this.tasks = new TaskManager<StreamTask>({
      openTask: (ref) => StreamTask.open(this.taskDeps(), this.topology.subtopologies[ref.subtopology]!, ref.partition),
      restore: (tasks, abandoned) => this.restore(tasks, abandoned),
      input: {
        // A consumer between a crash and its restart has no partitions: nothing to pause then.
        pause: (topic, partition) =>
          ignoreMissingGroup(() => this.consumer.pause([{ topic, partitions: [partition] }])),
        resume: (topic, partition) => this.consumer.resume([{ topic, partitions: [partition] }]),
        seek: (topic, partition, offset) => this.consumer.seek({ topic, partition, offset: offset.toString() }),
      },
      requestRejoin: () => this.requestRejoin(),
      inputTopicsOf: (ref) => this.topology.subtopologies[ref.subtopology]!.sources.map((s) => s.topic),
      logger: this.log,
      metrics: this.metrics,
      commitCheckMs: Math.max(5, Math.floor(this.config.commitIntervalMs / 2)),
      recordsPerTurn: this.config.recordsPerTurn,
    });

    this.consumer = this.kafka.consumer({
      groupId: this.config.applicationId,
      readUncommitted: false,
      maxWaitTimeInMs: this.config.fetchMaxWaitMs,
      sessionTimeout: this.config.sessionTimeoutMs,
      heartbeatInterval: this.heartbeatIntervalMs,
      rebalanceTimeout: 60_000,
      allowAutoTopicCreation: false,
      partitionAssigners: [
        taskAssignor(this.topology, () => ({
          endpoint: this.config.endpoint,
          tasks: this.tasks.openTasks.map((t) => t.id),
        })),
      ],
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) =>
      this.onAssignment(payload.memberAssignment, payload.memberId),
    );
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      this.metrics.consumerLag.set(
        { topic: payload.topic, partition: String(payload.partition) },
        Number(payload.offsetLag),
      );
      if (payload.offsetLag === '0') this.tasks.markNoLag(payload.topic, payload.partition);
    });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (this.state === 'stopping' || this.state === 'stopped') return;
      this.log.error('consumer crashed', { error: payload.error, restart: payload.restart });
      if (!payload.restart) this.restartConsumer();
    });
    await this.consumer.connect();
    const topics = [...new Set(this.topology.subtopologies.flatMap((s) => s.sources.map((src) => src.topic)))];
    await this.consumer.subscribe({ topics, fromBeginning: true });
    this.state = 'rebalancing';
    await this.runConsumer();
    this.sizeTimer = setInterval(() => void this.measureStores(), 30_000);
    this.sizeTimer.unref();
    this.log.info('started', { endpoint: this.config.endpoint, subtopologies: this.topology.subtopologies.length });
  }

  /**
   * Stops processing, commits and closes every task, and only then leaves the group: had it left
   * first, the tasks' new owners could read the committed offsets before the final commits.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    clearTimeout(this.rejoinTimer);
    clearTimeout(this.restartTimer);
    clearInterval(this.sizeTimer);
    for (const timer of this.cleanupTimers.values()) clearTimeout(timer);
    await this.tasks?.shutdown();
    await this.consumer?.disconnect().catch((error) => this.log.warn('leaving the group failed', { error }));
    await this.admin?.disconnect().catch(() => undefined);
    this.state = 'stopped';
    this.log.info('stopped');
  }

  /** True when every assigned task is restored and running. */
  get ready(): boolean {
    return this.state === 'running' && this.tasks.allRunning;
  }

  /** Where a store's key lives. */
  keyMetadata(storeName: string, key: Buffer): KeyMetadata {
    const sub = this.topology.subtopologies.find((s) => s.stores.some((st) => st.name === storeName));
    if (!sub) throw new Error(`no store named ${storeName}`);
    const partition = partitionForKey(key, this.layout.subtopologyPartitions.get(sub.id)!);
    const taskId = taskIdOf(sub.id, partition);
    const task = this.tasks.task(taskId);
    // A task assigned here but not open (failed, being reopened) answers as restoring meanwhile.
    const status =
      task?.status === 'running' || task?.status === 'restoring'
        ? task.status
        : this.tasks.assignedTasks.some((ref) => ref.id === taskId)
          ? 'restoring'
          : undefined;
    return {
      partition,
      taskId,
      owner: this.owners.get(taskId),
      local: status !== undefined,
      status,
      caughtUp: task?.caughtUp ?? false,
    };
  }

  /** A committed row of a local, running task; undefined when the row does not exist. */
  getLocal(storeName: string, key: Buffer): Buffer | undefined {
    const { taskId } = this.keyMetadata(storeName, key);
    const task = this.tasks.task(taskId);
    if (!task || task.status !== 'running') throw new Error(`task ${taskId} is not running here`);
    return task.readCommitted(storeName, key);
  }

  /** host:port of every instance in the group, from the last rebalance. */
  get members(): string[] {
    return [...new Set(this.owners.values())];
  }

  private get heartbeatIntervalMs(): number {
    return Math.max(500, Math.floor(this.config.sessionTimeoutMs / 5));
  }

  private async runConsumer(): Promise<void> {
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) =>
        this.tasks.process({
          topic: batch.topic,
          partition: batch.partition,
          records: batch.messages.map((message) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: message.offset,
            timestamp: Number(message.timestamp),
            key: message.key,
            value: message.value,
          })),
          stillValid: () => isRunning() && !isStale(),
          resolve: resolveOffset,
          heartbeat,
        }),
    });
  }

  private taskDeps(): TaskDeps {
    return {
      topology: this.topology,
      config: this.config,
      kafka: this.kafka,
      admin: this.admin,
      logger: this.log,
      metrics: this.metrics,
      partitionsOf: (topic) => this.layout.partitionsOf(topic),
    };
  }

  private onAssignment(memberAssignment: Record<string, number[]>, memberId: string): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.metrics.rebalances.inc();
    const generation = ++this.joins;
    const assigned = tasksOfAssignment(this.topology, memberAssignment);
    this.log.info('assignment received', { generation, tasks: assigned.map((t) => t.id) });
    for (const ref of assigned) clearTimeout(this.cleanupTimers.get(ref.id));
    const before = new Set(this.tasks.openTasks.map((t) => t.id));
    this.tasks.handleAssignment(assigned, memberId);
    for (const id of before) if (!assigned.some((ref) => ref.id === id)) this.scheduleCleanup(id);
    this.state = 'running';
    void this.refreshOwners(generation);
  }

  /**
   * A task was taken over by another instance, so the group has moved on or is about to. If no
   * new assignment arrives by itself within a few heartbeats, leave and rejoin the group to get one.
   */
  private requestRejoin(): void {
    if (this.rejoinTimer || this.state === 'stopping' || this.state === 'stopped') return;
    const joinsBefore = this.joins;
    this.rejoinTimer = setTimeout(() => {
      this.rejoinTimer = undefined;
      if (this.joins !== joinsBefore || this.state === 'stopping' || this.state === 'stopped') return;
      this.log.info('no new assignment came after a task was taken over; rejoining the group');
      this.consumer
        .stop()
        .then(() => this.runConsumer())
        .catch((error) => {
          this.log.warn('rejoining the group failed; restarting the consumer', { error });
          this.restartConsumer();
        });
    }, 3 * this.heartbeatIntervalMs);
    this.rejoinTimer.unref();
  }

  /**
   * The consumer crashed and kafkajs will not restart it: every task is given up (others may get
   * them meanwhile), and the consumer joins the group again after a pause.
   */
  private restartConsumer(attempt = 1): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.tasks.loseAll();
    this.state = 'rebalancing';
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(
      () => {
        this.consumer
          .connect()
          .then(() => this.runConsumer())
          .catch((error) => {
            this.log.warn('restarting the consumer failed; retrying', { error, attempt });
            this.restartConsumer(attempt + 1);
          });
      },
      Math.min(10_000, 1000 * attempt),
    );
    this.restartTimer.unref();
  }

  /** Reads the tasks' changelogs from their checkpoints into their stores, in one reader. */
  private async restore(tasks: readonly StreamTask[], abandoned: () => boolean): Promise<void> {
    const ranges: Array<{ task: StreamTask; range: PartitionRange }> = [];
    for (const task of tasks) for (const range of await task.restoreRanges()) ranges.push({ task, range });
    const progress = new RestoreProgress(
      this.log,
      this.metrics,
      ranges.map((r) => r.range),
    );
    const byChangelog = new Map(ranges.map((r) => [`${r.range.topic}:${r.range.partition}`, r.task]));
    await readPartitions(
      this.kafka,
      `${this.config.applicationId}-restore-${this.config.endpoint.replace(/[^a-zA-Z0-9]/g, '_')}-${Date.now()}`,
      ranges.map((r) => r.range),
      async (range, records) => {
        await byChangelog.get(`${range.topic}:${range.partition}`)!.applyRestored(range, records);
        progress.restored(records.length);
        await yieldToEventLoop();
      },
      abandoned,
    );
    for (const { task, range } of ranges) await task.finishRestore(range);
    progress.done();
  }

  /** Deletes a task's local state once it has not come back for a while. */
  private scheduleCleanup(taskId: string): void {
    clearTimeout(this.cleanupTimers.get(taskId));
    const timer = setTimeout(() => {
      this.cleanupTimers.delete(taskId);
      if (this.tasks.task(taskId) || this.tasks.assignedTasks.some((ref) => ref.id === taskId)) return;
      const dir = join(this.config.stateDir, this.config.applicationId, taskId);
      rm(dir, { recursive: true, force: true })
        .then(() => this.log.info('deleted the state of a task no longer owned', { task: taskId }))
        .catch((error) => this.log.warn('deleting old task state failed', { task: taskId, error }));
    }, this.config.stateCleanupDelayMs);
    timer.unref();
    this.cleanupTimers.set(taskId, timer);
  }

  /** Learns every member's endpoint and tasks from the group description (kafkajs shows members only their own). */
  private async refreshOwners(generation: number): Promise<void> {
    for (let attempt = 0; attempt < 20 && generation === this.joins; attempt++) {
      try {
        const { groups } = await this.admin.describeGroups([this.config.applicationId]);
        const group = groups[0];
        if (group?.state === 'Stable' && group.members.length > 0) {
          const owners = new Map<string, string>();
          for (const member of group.members) {
            const { endpoint } = decodeMemberInfo(
              AssignerProtocol.MemberMetadata.decode(member.memberMetadata)?.userData,
            );
            const assignment = AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment ?? {};
            for (const ref of tasksOfAssignment(this.topology, assignment)) owners.set(ref.id, endpoint);
          }
          if (generation === this.joins) this.owners = owners;
          return;
        }
      } catch (error) {
        this.log.debug('describing the group failed; retrying', { error });
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Disk size of every local task store, for the store-size metric. */
  private async measureStores(): Promise<void> {
    this.metrics.storeBytes.reset();
    for (const task of this.tasks.openTasks) {
      const dir = join(this.config.stateDir, this.config.applicationId, task.id);
      const files = await readdir(dir).catch(() => [] as string[]);
      let bytes = 0;
      for (const file of files) bytes += (await stat(join(dir, file)).catch(() => ({ size: 0 }))).size;
      this.metrics.storeBytes.set({ task: task.id }, bytes);
    }
  }
}

/** Runs `action`, ignoring kafkajs' error for a consumer whose group is not running (between a crash and its restart). */
function ignoreMissingGroup(action: () => void): void {
  try {
    action();
  } catch (error) {
    if (!/consumer#run must be called first/.test(String((error as Error)?.message))) throw error;
  }
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
