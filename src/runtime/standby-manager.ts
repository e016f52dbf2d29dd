/**
 * The standby (and warm-up) tasks of this instance, kept in line with the
 * group's plan: each one opened and followed by the changelog reader, closed
 * when it is no longer wanted or when its task becomes active here. Opening
 * failures are retried at the next reconcile (every few seconds).
 */
import type { Logger } from '../util/logger.js';
import type { TaskRef } from './assignor.js';
import type { StandbyHandOver, StandbyTask } from './standby-task.js';

export interface StandbyManagerDeps {
  open(ref: TaskRef): Promise<StandbyTask>;
  follow(task: StandbyTask): void;
  unfollow(task: StandbyTask): void;
  logger: Logger;
}

export class StandbyManager {
  private readonly tasks = new Map<string, StandbyTask>();
  private wanted = new Map<string, TaskRef>();
  private work: Promise<void> = Promise.resolve();
  private readonly retryTimer: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly deps: StandbyManagerDeps) {
    this.retryTimer = setInterval(() => this.reconcile(), 3000);
    this.retryTimer.unref();
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
    await this.work.catch(() => undefined);
    await Promise.all([...this.tasks.values()].map((task) => this.close(task)));
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
