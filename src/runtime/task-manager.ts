/**
 * The active tasks of this instance, kept in line with the group's assignment
 * (Kafka Streams' TaskManager):
 *
 * - A revoked task stops processing and serving at once, then closes after a
 *   final commit. When the member lost its tasks (it was dropped from the
 *   group, e.g. after a pause past the session timeout), every task is
 *   treated so: another instance may have owned them meanwhile.
 * - A newly assigned task is opened, initialized (its producer fences the
 *   previous owner's), restored from its changelogs and started from the
 *   committed offsets, in the background. Failures are retried with a backoff for as
 *   long as the task stays assigned. A restore in progress is abandoned when
 *   the assignment changes (the stores keep their checkpoints, so the next
 *   attempt resumes where it stopped).
 * - A task whose commit fails is closed without its uncommitted work. If its
 *   producer was fenced, another instance has taken it over (Kafka Streams'
 *   TaskMigratedException): it is not reopened here until a new assignment
 *   says it is ours, and the group is asked to rebalance. Otherwise it is
 *   reopened.
 *
 * What it needs from Kafka is given in TaskManagerDeps, so the lifecycle can be
 * tested without a broker.
 */
import { isFencedError } from '../kafka/commit-writer.js';
import type { Logger } from '../util/logger.js';
import type { TaskRef } from './assignor.js';
import type { StreamsMetrics } from './metrics.js';
import type { InputRecord } from './task-core.js';
import type { TaskStatus } from './stream-task.js';

/** What the task manager needs of a task (StreamTask is the real one). */
export interface ManagedTask {
  readonly id: string;
  readonly partition: number;
  readonly inputTopics: string[];
  readonly status: TaskStatus;
  readonly caughtUp: boolean;
  readonly commitDue: boolean;
  readonly commitBacklogged: boolean;
  /** Fences the task's previous owner (its producer's first contact with the broker). */
  initialize(): Promise<void>;
  start(): Promise<Map<string, bigint>>;
  process(record: InputRecord): void;
  /** Fires the wall-clock punctuators whose time has come. */
  punctuate(now: number): void;
  markNoLag(topic: string): void;
  /** Every record of the input partition before `next` is processed (see StreamTask.markRead). */
  markRead(topic: string, next: bigint): void;
  commit(): Promise<void>;
  commitSettled(): Promise<void>;
  suspend(): void;
  close(options: { commit: boolean }): Promise<void>;
}

/** The group consumer's controls over this instance's input partitions. */
export interface InputControl {
  pause(topic: string, partition: number): void;
  resume(topic: string, partition: number): void;
  seek(topic: string, partition: number, offset: bigint): void;
}

export interface TaskManagerDeps<T extends ManagedTask> {
  /** Opens a task: its store (no contact with Kafka yet). */
  openTask(ref: TaskRef): Promise<T>;
  /** Restores the tasks' stores from their changelogs; gives up (throwing) once `abandoned()` is true. */
  restore(tasks: readonly T[], abandoned: () => boolean): Promise<void>;
  input: InputControl;
  /** Asks the group for a new assignment (after a task was found taken over). */
  requestRejoin(): void;
  /** The input topics of a task (known from the topology before the task is open). */
  inputTopicsOf(ref: TaskRef): string[];
  logger: Logger;
  metrics: StreamsMetrics;
  /** How often due commits are looked for. */
  commitCheckMs: number;
  /** Longest the engine processes records before it lets the event loop serve requests (ms). */
  turnMs: number;
  /** Whether a task revoked by a rebalance commits its work before closing (false: its new owner redoes it). */
  commitRevoked?: boolean;
  /** First wait before reopening a task that failed; it doubles with each failure. */
  retryBackoffMs?: number;
  /** Longest wait before reopening a task that failed. */
  maxRetryBackoffMs?: number;
}

/** One batch of input records of one partition, and the consumer's callbacks for it. */
export interface InputBatch {
  topic: string;
  partition: number;
  records: readonly InputRecord[];
  /** Offset of the batch's last record (a transaction marker, possibly). */
  lastOffset: string;
  /** False once the records are no longer wanted (the consumer stops or was told to seek elsewhere). */
  stillValid(): boolean;
  resolve(offset: string): void;
  heartbeat(): Promise<void>;
}

export class TaskManager<T extends ManagedTask> {
  /** Open tasks, by id: restoring, running, or failed and about to be closed. */
  private readonly tasks = new Map<string, T>();
  private readonly taskByInput = new Map<string, T>();
  /** Per input partition, the last offset of the last batch processed to its end. */
  private readonly completedBatches = new Map<string, string>();
  /** The latest assignment. */
  private assigned = new Map<string, TaskRef>();
  private assignmentVersion = 0;
  /** Closes in progress, by task id: a task is reopened only after it has closed. */
  private readonly closing = new Map<string, Promise<void>>();
  /** Tasks found taken over by another instance: not reopened before the next assignment. */
  private readonly migrated = new Set<string>();
  private readonly failures = new Map<string, { attempts: number; retryAt: number }>();
  private reconciling: Promise<void> | undefined;
  private reconcileAgain = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly commitTimer: NodeJS.Timeout;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly deps: TaskManagerDeps<T>) {
    this.log = deps.logger.child({ component: 'tasks' });
    this.commitTimer = setInterval(() => this.commitDueTasks(), deps.commitCheckMs);
    this.commitTimer.unref();
  }

  /** The task with this id, if it is open here. */
  task(id: string): T | undefined {
    return this.tasks.get(id);
  }

  get openTasks(): T[] {
    return [...this.tasks.values()];
  }

  get assignedTasks(): TaskRef[] {
    return [...this.assigned.values()];
  }

  /** Every assigned task is open and running. */
  get allRunning(): boolean {
    return [...this.assigned.keys()].every((id) => this.tasks.get(id)?.status === 'running');
  }

  /**
   * A new assignment from the group. Called synchronously from the consumer's join event, before
   * it fetches again: revoked tasks stop at once, and the input of tasks that are not running yet
   * stays paused until they are.
   */
  handleAssignment(refs: readonly TaskRef[], options: { lost: boolean }): void {
    if (this.stopped) return;
    const memberChanged = options.lost;
    this.assigned = new Map(refs.map((ref) => [ref.id, ref]));
    this.assignmentVersion++;
    this.migrated.clear();
    this.failures.clear();
    if (memberChanged && this.tasks.size > 0)
      this.log.warn('this instance was replaced in the group; closing every task before reopening its own', {
        tasks: [...this.tasks.keys()],
      });
    for (const task of [...this.tasks.values()]) {
      if (memberChanged || !this.assigned.has(task.id))
        this.closeTask(task, { commit: task.status === 'running' && this.deps.commitRevoked !== false });
    }
    for (const ref of refs) {
      if (this.tasks.get(ref.id)?.status === 'running') continue;
      for (const topic of this.deps.inputTopicsOf(ref)) this.deps.input.pause(topic, ref.partition);
    }
    this.reconcile();
  }

  /** The consumer is gone (it crashed and will not restart): every task is given up. */
  loseAll(): void {
    this.assigned = new Map();
    this.assignmentVersion++;
    for (const task of [...this.tasks.values()]) this.closeTask(task, { commit: true });
  }

  /** Runs a batch of input through its task; pauses the partition when its task is not running here. */
  async process(batch: InputBatch): Promise<void> {
    const task = this.taskByInput.get(`${batch.topic}:${batch.partition}`);
    if (!task || task.status !== 'running') {
      this.deps.input.pause(batch.topic, batch.partition);
      return;
    }
    let turnEnds = performance.now() + this.deps.turnMs;
    for (const record of batch.records) {
      if (!batch.stillValid() || task.status !== 'running') return;
      task.process(record);
      batch.resolve(record.offset);
      if (performance.now() >= turnEnds) {
        await this.commitInBackground(task, batch);
        await batch.heartbeat();
        await new Promise((resolve) => setImmediate(resolve));
        turnEnds = performance.now() + this.deps.turnMs;
      }
    }
    if (task.status === 'running') {
      this.completedBatches.set(`${batch.topic}:${batch.partition}`, batch.lastOffset);
      if (batch.stillValid()) task.markRead(batch.topic, BigInt(batch.lastOffset) + 1n);
    }
    await this.commitInBackground(task, batch);
  }

  /**
   * A fetched batch ended at the end of its input partition. Its task has processed all there is
   * if it processed that batch to its end (or the batch held only transaction markers).
   */
  markNoLag(topic: string, partition: number, batch: { lastOffset: string; records: number }): void {
    const key = `${topic}:${partition}`;
    if (batch.records > 0 && this.completedBatches.get(key) !== batch.lastOffset) return;
    this.taskByInput.get(key)?.markNoLag(topic);
  }

  /** Stops every task: no more processing, a final commit each, stores closed. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.commitTimer);
    clearTimeout(this.retryTimer);
    for (const task of this.tasks.values()) task.suspend();
    await this.reconciling?.catch(() => undefined);
    for (const task of [...this.tasks.values()]) this.closeTask(task, { commit: true });
    await Promise.all([...this.closing.values()]);
  }

  /**
   * Starts a due commit without waiting for it: the task goes on processing while its
   * transaction is in flight. Only when a whole commit's worth of records waits behind it does
   * processing wait, heartbeating meanwhile so the group does not drop this member.
   */
  private async commitInBackground(task: T, batch: InputBatch): Promise<void> {
    if (task.commitDue) this.commit(task);
    while (task.commitBacklogged && batch.stillValid()) {
      await Promise.race([task.commitSettled(), new Promise((resolve) => setTimeout(resolve, 1000))]);
      if (task.commitBacklogged) await batch.heartbeat();
    }
  }

  /** On the commit timer: wall-clock punctuation, then the commits that are due. */
  private commitDueTasks(): void {
    const now = Date.now();
    for (const task of this.tasks.values()) {
      task.punctuate(now);
      if (task.commitDue) this.commit(task);
    }
  }

  private commit(task: T): void {
    task.commit().catch((error: unknown) => this.commitFailed(task, error));
  }

  private commitFailed(task: T, error: unknown): void {
    if (this.tasks.get(task.id) !== task) return; // already given up
    const fenced = isFencedError(error);
    this.closeTask(task, { commit: false });
    if (fenced) {
      this.log.warn('task migrated: another instance has taken it over; waiting for a new assignment', {
        task: task.id,
      });
      this.migrated.add(task.id);
      this.deps.requestRejoin();
    } else {
      this.log.warn('task commit failed; reopening the task from its committed state', { task: task.id, error });
      this.backOff(task.id);
    }
    this.reconcile();
  }

  /**
   * Stops a task at once (no processing, no serving) and closes it in the background. A task
   * being restored closes once the restore round has given it up (it notices the change).
   */
  private closeTask(task: T, options: { commit: boolean }): void {
    const restoring = task.status === 'restoring';
    task.suspend();
    this.forget(task);
    const previous = (restoring ? this.reconciling : this.closing.get(task.id)) ?? Promise.resolve();
    const closed: Promise<void> = previous
      .then(() => task.close(options))
      .catch((error: unknown) => this.log.warn('closing a task failed', { task: task.id, error }))
      .finally(() => {
        if (this.closing.get(task.id) === closed) this.closing.delete(task.id);
        this.updateTaskGauge();
        this.reconcile();
      });
    this.closing.set(task.id, closed);
  }

  private forget(task: T): void {
    if (this.tasks.get(task.id) === task) this.tasks.delete(task.id);
    for (const topic of task.inputTopics) {
      const key = `${topic}:${task.partition}`;
      if (this.taskByInput.get(key) === task) {
        this.taskByInput.delete(key);
        this.deps.input.pause(topic, task.partition);
      }
    }
    this.updateTaskGauge();
  }

  /** Opens, restores and starts the assigned tasks that are not open, one round at a time. */
  private reconcile(): void {
    if (this.stopped) return;
    this.reconcileAgain = true;
    if (this.reconciling) return;
    this.reconciling = (async () => {
      while (this.reconcileAgain && !this.stopped) {
        this.reconcileAgain = false;
        await this.openAssigned();
      }
    })()
      .catch((error: unknown) => this.log.error('applying the assignment failed', { error }))
      .finally(() => {
        this.reconciling = undefined;
        if (this.reconcileAgain) this.reconcile();
        else this.scheduleRetry();
      });
  }

  private async openAssigned(): Promise<void> {
    const now = Date.now();
    const wanted = [...this.assigned.values()].filter(
      (ref) =>
        !this.tasks.has(ref.id) &&
        !this.closing.has(ref.id) &&
        !this.migrated.has(ref.id) &&
        (this.failures.get(ref.id)?.retryAt ?? 0) <= now,
    );
    if (wanted.length === 0) return;
    const version = this.assignmentVersion;
    const stale = () => this.stopped || this.assignmentVersion !== version;

    // Each task counts as open (and its store can serve stale reads, see StreamTask) as soon as it is.
    const opened: T[] = [];
    await Promise.all(
      wanted.map(async (ref) => {
        try {
          const task = await this.deps.openTask(ref);
          if (stale()) return this.closeTask(task, { commit: false });
          this.tasks.set(task.id, task);
          opened.push(task);
          this.updateTaskGauge();
        } catch (error) {
          this.log.warn('opening a task failed; retrying', { task: ref.id, error });
          this.backOff(ref.id);
        }
      }),
    );
    if (stale()) return this.discard(opened);
    // Fence the previous owners before anything they wrote is read (changelog ends, committed offsets).
    const fenced: T[] = [];
    await Promise.all(
      opened.map(async (task) => {
        try {
          await task.initialize();
          fenced.push(task);
        } catch (error) {
          this.log.warn('fencing the previous owner of a task failed; retrying', { task: task.id, error });
          this.backOff(task.id);
          this.closeTask(task, { commit: false });
        }
      }),
    );
    if (stale()) return this.discard(fenced);

    try {
      await this.deps.restore(fenced, stale);
    } catch (error) {
      if (!stale()) {
        this.log.warn('restoring tasks failed; retrying', { tasks: fenced.map((t) => t.id), error });
        for (const task of fenced) this.backOff(task.id);
      }
      return this.discard(fenced);
    }
    if (stale()) return this.discard(fenced);

    for (const task of fenced) {
      try {
        const offsets = await task.start();
        if (stale() || this.tasks.get(task.id) !== task) throw new Error('the assignment changed while starting');
        for (const [topic, offset] of offsets) {
          this.deps.input.seek(topic, task.partition, offset);
          this.taskByInput.set(`${topic}:${task.partition}`, task);
          this.deps.input.resume(topic, task.partition);
        }
        this.failures.delete(task.id);
        this.log.info('task running', { task: task.id, from: Object.fromEntries(offsets) });
      } catch (error) {
        if (!stale()) {
          this.log.warn('starting a task failed; retrying', { task: task.id, error });
          this.backOff(task.id);
        }
        if (this.tasks.get(task.id) === task) this.closeTask(task, { commit: false });
      }
    }
    this.updateTaskGauge();
  }

  /** Closes tasks opened for an assignment that has since changed; the next round reopens those still assigned. */
  private discard(tasks: readonly T[]): void {
    for (const task of tasks) this.closeTask(task, { commit: false });
    this.reconcileAgain = true;
  }

  private backOff(id: string): void {
    const attempts = (this.failures.get(id)?.attempts ?? 0) + 1;
    const delay = Math.min(
      this.deps.maxRetryBackoffMs ?? 10_000,
      (this.deps.retryBackoffMs ?? 250) * 2 ** (attempts - 1),
    );
    this.failures.set(id, { attempts, retryAt: Date.now() + delay });
  }

  /** Wakes the reconcile loop when the earliest backoff of an assigned task ends. */
  private scheduleRetry(): void {
    clearTimeout(this.retryTimer);
    const waits = [...this.assigned.keys()]
      .filter((id) => !this.tasks.has(id) && !this.migrated.has(id))
      .map((id) => this.failures.get(id)?.retryAt)
      .filter((at): at is number => at !== undefined);
    if (waits.length === 0) return;
    this.retryTimer = setTimeout(() => this.reconcile(), Math.max(0, Math.min(...waits) - Date.now()));
    this.retryTimer.unref();
  }

  private updateTaskGauge(): void {
    this.deps.metrics.tasks.reset();
    for (const task of this.tasks.values()) this.deps.metrics.tasks.inc({ status: task.status });
  }
}
