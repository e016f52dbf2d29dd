/**
 * The standby (and warm-up) tasks of this instance, kept in line with the
 * group's plan: each one opened and followed by the changelog reader, closed
 * when it is no longer wanted or when its task becomes active here. Opening
 * failures are retried at the next reconcile (every few seconds). Every few
 * seconds too, the copies at the end of their changelogs learn the offsets
 * the group has committed for their tasks (StandbyTask.noteCommitted).
 */
import type { Logger } from '../util/logger.js';
import { committedThenEnds, offsetsAt } from './committed-inputs.js';
import type { TaskRef } from './assignor.js';
import type { StandbyHandOver, StandbyTask } from './standby-task.js';

export interface StandbyManagerDeps {
  open(ref: TaskRef): Promise<StandbyTask>;
  follow(task: StandbyTask): void;
  unfollow(task: StandbyTask): void;
  /** The offsets the application's group has committed for a topic, per partition (absent: none yet). */
  committedOffsets(topic: string): Promise<Map<number, bigint>>;
  /** The high watermark of each partition of a topic. */
  endOffsets(topic: string): Promise<Map<number, bigint>>;
  logger: Logger;
}

/** How often copies at the end of their changelogs ask for the group's committed offsets. */
const COMMITTED_PROBE_INTERVAL_MS = 2000;

export class StandbyManager {
  private readonly tasks = new Map<string, StandbyTask>();
  private wanted = new Map<string, TaskRef>();
  private work: Promise<void> = Promise.resolve();
  private readonly retryTimer: NodeJS.Timeout;
  private readonly probeTimer: NodeJS.Timeout;
  private probing = false;
  private stopped = false;

  constructor(private readonly deps: StandbyManagerDeps) {
    this.retryTimer = setInterval(() => this.reconcile(), 3000);
    this.retryTimer.unref();
    this.probeTimer = setInterval(() => void this.probeCommitted(), COMMITTED_PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  task(id: string): StandbyTask | undefined {
    return this.tasks.get(id);
  }

  get openTasks(): StandbyTask[] {
    return [...this.tasks.values()];
  }

  get wantedIds(): string[] {
    return [...this.wanted.keys()];
  }

  /** The standby and warm-up tasks this instance should keep current. */
  handleAssignment(refs: readonly TaskRef[]): void {
    this.wanted = new Map(refs.map((ref) => [ref.id, ref]));
    this.reconcile();
  }

  /**
   * Hands the open store of a task's standby over to the task becoming active here (Kafka
   * Streams' standby-to-active promotion), with no moment in between when neither serves it.
   */
  handOver(id: string): StandbyHandOver | undefined {
    this.wanted.delete(id);
    const task = this.tasks.get(id);
    if (!task) return undefined;
    this.tasks.delete(id);
    this.deps.unfollow(task);
    return task.handOver();
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.retryTimer);
    clearInterval(this.probeTimer);
    await this.work.catch(() => undefined);
    await Promise.all([...this.tasks.values()].map((task) => this.close(task)));
  }

  /**
   * Reads the group's committed offsets of the inputs of every copy at the end of its changelogs, then
   * the changelogs' high watermarks (committedThenEnds), and hands both to each copy.
   */
  async probeCommitted(): Promise<void> {
    if (this.probing || this.stopped) return;
    const current = this.openTasks.filter((task) => task.stalenessMs() !== undefined);
    if (current.length === 0) return;
    this.probing = true;
    try {
      const { committed, ends } = await committedThenEnds(
        current.flatMap((task) => task.sourceTopics),
        current.flatMap((task) => task.changelogs.map((c) => c.topic)),
        (topic) => this.deps.committedOffsets(topic),
        (topic) => this.deps.endOffsets(topic),
      );
      for (const task of current) {
        if (task.closed) continue;
        const inputs = offsetsAt(committed, task.sourceTopics, task.partition);
        const changelogEnds = offsetsAt(
          ends,
          task.changelogs.map((c) => c.topic),
          task.partition,
        );
        if (inputs.size > 0) task.noteCommitted(inputs, changelogEnds);
      }
    } catch (error) {
      this.deps.logger.debug('reading the committed offsets for standby copies failed; next time', { error });
    } finally {
      this.probing = false;
    }
  }

  private reconcile(): void {
    if (this.stopped) return;
    this.work = this.work.then(() => this.reconcileOnce()).catch(() => undefined);
  }

  private async reconcileOnce(): Promise<void> {
    for (const task of [...this.tasks.values()]) if (!this.wanted.has(task.id)) await this.close(task);
    for (const ref of this.wanted.values()) {
      if (this.tasks.has(ref.id) || this.stopped) continue;
      try {
        const task = await this.deps.open(ref);
        if (!this.wanted.has(ref.id) || this.stopped) {
          await task.close();
          continue;
        }
        this.tasks.set(ref.id, task);
        this.deps.follow(task);
      } catch (error) {
        this.deps.logger.warn('opening a standby task failed; retrying', { task: ref.id, error });
      }
    }
  }

  private async close(task: StandbyTask): Promise<void> {
    if (this.tasks.get(task.id) === task) this.tasks.delete(task.id);
    this.deps.unfollow(task);
    await task.close().catch((error) => this.deps.logger.warn('closing a standby failed', { task: task.id, error }));
  }
}
