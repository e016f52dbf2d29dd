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
import { decodeMemberInfo, taskAssignor, tasksOfAssignment, type TaskRef } from './assignor.js';
import { streamsConfig, type StreamsConfig, type StreamsSettings } from './config.js';
import { prepareTopics, type TopicLayout } from './internal-topics.js';
import { createStreamsMetrics, type StreamsMetrics } from './metrics.js';
import { RestoreProgress } from './restore-progress.js';
import { StreamTask, type TaskDeps } from './stream-task.js';
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
  private readonly tasks = new Map<string, StreamTask>();
  private readonly taskByInput = new Map<string, StreamTask>();
  /** Owner endpoint of every task in the group, from the last rebalance. */
  private owners = new Map<string, string>();
  /** Tasks assigned to this instance by the last rebalance. */
  private assigned: TaskRef[] = [];
  private assignmentWork: Promise<void> = Promise.resolve();
  private generation = 0;
  private commitTimer: NodeJS.Timeout | undefined;
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

    this.consumer = this.kafka.consumer({
      groupId: this.config.applicationId,
      readUncommitted: false,
      maxWaitTimeInMs: this.config.fetchMaxWaitMs,
      sessionTimeout: this.config.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(this.config.sessionTimeoutMs / 5)),
      rebalanceTimeout: 60_000,
      allowAutoTopicCreation: false,
      partitionAssigners: [
        taskAssignor(this.topology, () => ({ endpoint: this.config.endpoint, tasks: [...this.tasks.keys()] })),
      ],
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => this.onAssignment(payload.memberAssignment));
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      this.metrics.consumerLag.set(
        { topic: payload.topic, partition: String(payload.partition) },
        Number(payload.offsetLag),
      );
      if (payload.offsetLag === '0')
        this.taskByInput.get(`${payload.topic}:${payload.partition}`)?.markNoLag(payload.topic);
    });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      this.log.error('consumer crashed', { error: payload.error, restart: payload.restart });
      if (!payload.restart) this.state = 'failed';
    });
    await this.consumer.connect();
    const topics = [...new Set(this.topology.subtopologies.flatMap((s) => s.sources.map((src) => src.topic)))];
    await this.consumer.subscribe({ topics, fromBeginning: true });
    this.state = 'rebalancing';
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.processBatch(payload),
    });
    this.commitTimer = setInterval(
      () => this.commitDueTasks(),
      Math.max(5, Math.floor(this.config.commitIntervalMs / 2)),
    );
    this.log.info('started', { endpoint: this.config.endpoint, subtopologies: this.topology.subtopologies.length });
  }

  /** Finishes the batch in progress, commits every task, closes the stores and leaves the group. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    clearInterval(this.commitTimer);
    clearInterval(this.sizeTimer);
    for (const timer of this.cleanupTimers.values()) clearTimeout(timer);
    await this.consumer?.stop().catch((error) => this.log.warn('stopping the consumer failed', { error }));
    await this.assignmentWork.catch(() => undefined);
    await Promise.all([...this.tasks.values()].map((t) => t.close({ commit: true })));
    this.tasks.clear();
    this.taskByInput.clear();
    await this.consumer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    this.state = 'stopped';
    this.log.info('stopped');
  }

  /** True when every assigned task is restored and running. */
  get ready(): boolean {
    return this.state === 'running' && this.assigned.every((ref) => this.tasks.get(ref.id)?.status === 'running');
  }

  /** Where a store's key lives. */
  keyMetadata(storeName: string, key: Buffer): KeyMetadata {
    const sub = this.topology.subtopologies.find((s) => s.stores.some((st) => st.name === storeName));
    if (!sub) throw new Error(`no store named ${storeName}`);
    const partition = partitionForKey(key, this.layout.subtopologyPartitions.get(sub.id)!);
    const taskId = taskIdOf(sub.id, partition);
    const task = this.tasks.get(taskId);
    // A failed task is reopened and restored: its keys answer as restoring meanwhile.
    const status =
      task && task.status !== 'closed' ? (task.status === 'failed' ? 'restoring' : task.status) : undefined;
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
    const task = this.tasks.get(taskId);
    if (!task || task.status !== 'running') throw new Error(`task ${taskId} is not running here`);
    return task.readCommitted(storeName, key);
  }

  /** host:port of every instance in the group, from the last rebalance. */
  get members(): string[] {
    return [...new Set(this.owners.values())];
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

  private onAssignment(memberAssignment: Record<string, number[]>): void {
    this.metrics.rebalances.inc();
    const generation = ++this.generation;
    this.state = 'rebalancing';
    this.assigned = tasksOfAssignment(this.topology, memberAssignment);
    // Pause the input of tasks that still have to be opened and restored; they resume once running.
    for (const ref of this.assigned) {
      if (this.tasks.get(ref.id)?.status === 'running') continue;
      for (const source of this.topology.subtopologies[ref.subtopology]!.sources) {
        this.consumer.pause([{ topic: source.topic, partitions: [ref.partition] }]);
      }
    }
    this.log.info('assignment received', { generation, tasks: this.assigned.map((t) => t.id) });
    this.scheduleAssignment(generation);
    void this.refreshOwners(generation);
  }

  /** Applies the assignment after the work queued before it; on failure, tries again a second later. */
  private scheduleAssignment(generation: number, attempt = 1): void {
    this.assignmentWork = this.assignmentWork
      .then(() => this.applyAssignment(generation))
      .catch((error) => {
        if (generation !== this.generation || this.state === 'stopping') return;
        this.log.warn('applying the assignment failed; retrying', { error, attempt });
        setTimeout(() => this.scheduleAssignment(generation, attempt + 1), Math.min(10_000, 500 * attempt)).unref();
      });
  }

  private async applyAssignment(generation: number): Promise<void> {
    if (generation !== this.generation || this.state === 'stopping') return;
    const wanted = new Set(this.assigned.map((t) => t.id));
    for (const [id, task] of this.tasks) {
      if (!wanted.has(id)) {
        await task.close({ commit: true });
        this.forgetTask(task);
        this.scheduleCleanup(id);
      }
    }
    const fresh = this.assigned.filter((ref) => !this.tasks.has(ref.id));
    await this.openAndRestore(fresh);
    if (generation === this.generation && this.state === 'rebalancing') {
      this.state = 'running';
      this.updateTaskGauge();
    }
  }

  private async openAndRestore(refs: TaskRef[]): Promise<void> {
    if (refs.length === 0) return;
    const opened: StreamTask[] = [];
    try {
      await this.openRestoreStart(refs, opened);
    } catch (error) {
      // Leave nothing half-open: the retry opens these tasks again from their committed state.
      for (const task of opened) {
        if (task.status !== 'running') {
          await task.close({ commit: false }).catch(() => undefined);
          this.forgetTask(task);
        }
      }
      throw error;
    }
  }

  private async openRestoreStart(refs: TaskRef[], opened: StreamTask[]): Promise<void> {
    await Promise.all(
      refs.map(async (ref) =>
        opened.push(
          await StreamTask.open(this.taskDeps(), this.topology.subtopologies[ref.subtopology]!, ref.partition),
        ),
      ),
    );
    for (const task of opened) {
      clearTimeout(this.cleanupTimers.get(task.id));
      this.tasks.set(task.id, task);
      for (const topic of task.inputTopics) this.taskByInput.set(`${topic}:${task.partition}`, task);
    }
    this.updateTaskGauge();

    const ranges: Array<{ task: StreamTask; range: PartitionRange }> = [];
    for (const task of opened) for (const range of await task.restoreRanges()) ranges.push({ task, range });
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
    );
    for (const { task, range } of ranges) await task.finishRestore(range);
    progress.done();

    for (const task of opened) {
      const offsets = await task.start();
      for (const [topic, offset] of offsets) {
        this.consumer.seek({ topic, partition: task.partition, offset: offset.toString() });
        this.consumer.resume([{ topic, partitions: [task.partition] }]);
      }
    }
    this.updateTaskGauge();
  }

  private async processBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const task = this.taskByInput.get(`${batch.topic}:${batch.partition}`);
    if (!task || task.status !== 'running') {
      this.consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
      return;
    }
    let sinceYield = 0;
    for (const message of batch.messages) {
      if (!isRunning() || isStale() || task.status !== 'running') return;
      task.process({
        topic: batch.topic,
        partition: batch.partition,
        offset: message.offset,
        timestamp: Number(message.timestamp),
        key: message.key,
        value: message.value,
      });
      resolveOffset(message.offset);
      if (++sinceYield >= this.config.recordsPerTurn) {
        sinceYield = 0;
        await this.commitInBackground(task);
        await heartbeat();
        await yieldToEventLoop();
      }
    }
    await this.commitInBackground(task);
  }

  /**
   * Starts a due commit without waiting for it: the task goes on processing
   * while its transaction is in flight. Only when a whole commit's worth of
   * records waits behind it does processing wait.
   */
  private async commitInBackground(task: StreamTask): Promise<void> {
    if (task.commitDue) void this.commitTask(task);
    else if (task.commitBacklogged) await task.commitSettled();
  }

  private commitDueTasks(): void {
    for (const task of this.tasks.values()) if (task.commitDue) void this.commitTask(task);
  }

  private async commitTask(task: StreamTask): Promise<void> {
    try {
      await task.commit();
    } catch (error) {
      await this.recoverTask(task, error);
    }
  }

  /**
   * A failed commit leaves the task's state uncertain: drop its uncommitted
   * work and start it again from what Kafka committed (a fenced task is
   * owned elsewhere now and the next rebalance takes it away).
   */
  private async recoverTask(task: StreamTask, error: unknown): Promise<void> {
    if (task.status === 'closed') return;
    this.log.warn('task commit failed; restarting the task from its committed state', { task: task.id, error });
    for (const topic of task.inputTopics) this.consumer.pause([{ topic, partitions: [task.partition] }]);
    await task.close({ commit: false });
    this.forgetTask(task);
    const ref = { id: task.id, subtopology: task.subtopology.id, partition: task.partition };
    this.assignmentWork = this.assignmentWork
      .then(() =>
        this.assigned.some((a) => a.id === ref.id) && !this.tasks.has(ref.id) ? this.openAndRestore([ref]) : undefined,
      )
      .catch((reopenError) => this.log.error('restarting the task failed', { task: ref.id, error: reopenError }));
  }

  private forgetTask(task: StreamTask): void {
    if (this.tasks.get(task.id) === task) this.tasks.delete(task.id);
    for (const topic of task.inputTopics) {
      const key = `${topic}:${task.partition}`;
      if (this.taskByInput.get(key) === task) this.taskByInput.delete(key);
    }
    this.updateTaskGauge();
  }

  /** Deletes a task's local state once it has not come back for a while. */
  private scheduleCleanup(taskId: string): void {
    clearTimeout(this.cleanupTimers.get(taskId));
    const timer = setTimeout(() => {
      this.cleanupTimers.delete(taskId);
      if (this.tasks.has(taskId)) return;
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
    for (let attempt = 0; attempt < 20 && generation === this.generation; attempt++) {
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
          if (generation === this.generation) this.owners = owners;
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
    for (const id of this.tasks.keys()) {
      const dir = join(this.config.stateDir, this.config.applicationId, id);
      const files = await readdir(dir).catch(() => [] as string[]);
      let bytes = 0;
      for (const file of files) bytes += (await stat(join(dir, file)).catch(() => ({ size: 0 }))).size;
      this.metrics.storeBytes.set({ task: id }, bytes);
    }
  }

  private updateTaskGauge(): void {
    this.metrics.tasks.reset();
    for (const task of this.tasks.values()) this.metrics.tasks.inc({ status: task.status });
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
