/**
 * The task directories of this instance under <stateDir>/<applicationId>/:
 * how far each copy of a task's state is (the sum of its changelog
 * checkpoints, which members report to the assignor), and the clean-up of
 * copies no longer used.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CompiledTopology } from '../processor/compile.js';
import { LevelDbBackend } from '../state/leveldb-backend.js';
import { TaskState } from '../state/task-state.js';
import type { Logger } from '../util/logger.js';
import type { DirectoryLocks } from './directory-locks.js';

export class LocalState {
  /** Checkpoint sums of the task copies on disk that are not open (open ones report their own). */
  private readonly offsets = new Map<string, bigint>();
  private readonly cleanupTimers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly root: string,
    private readonly topology: CompiledTopology,
    private readonly locks: DirectoryLocks,
    private readonly log: Logger,
  ) {}

  /** Reads the checkpoints of every task directory on disk (at start, before any task opens). */
  async scan(): Promise<void> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    for (const name of names) {
      const match = /^(\d+)_(\d+)$/.exec(name);
      const sub = match ? this.topology.subtopologies[Number(match[1])] : undefined;
      if (!sub || sub.stores.length === 0) continue;
      try {
        const backend = await LevelDbBackend.open(join(this.root, name));
        try {
          const state = new TaskState(backend, sub.stores, Number(match![2]));
          await state.checkpoints();
          this.offsets.set(name, state.checkpointSum);
        } finally {
          await backend.close();
        }
      } catch (error) {
        this.log.warn('could not read a local task directory; it will be restored from scratch', {
          task: name,
          error,
        });
      }
    }
  }

  /** A copy of the task was closed at this checkpoint sum. */
  closedAt(taskId: string, checkpointSum: bigint): void {
    this.offsets.set(taskId, checkpointSum);
  }

  get closedOffsets(): ReadonlyMap<string, bigint> {
    return this.offsets;
  }

  /** Deletes a task's directory after `delayMs`, unless `inUse(taskId)` by then. */
  scheduleCleanup(taskId: string, delayMs: number, inUse: (taskId: string) => boolean): void {
    this.cancelCleanup(taskId);
    const timer = setTimeout(() => {
      this.cleanupTimers.delete(taskId);
      void this.delete(taskId, inUse);
    }, delayMs);
    timer.unref();
    this.cleanupTimers.set(taskId, timer);
  }

  private async delete(taskId: string, inUse: (taskId: string) => boolean): Promise<void> {
    const release = await this.locks.acquire(taskId);
    try {
      if (inUse(taskId)) return;
      this.offsets.delete(taskId);
      await rm(join(this.root, taskId), { recursive: true, force: true });
      this.log.info('deleted the state of a task no longer owned', { task: taskId });
    } catch (error) {
      this.log.warn('deleting old task state failed', { task: taskId, error });
    } finally {
      release();
    }
  }

  cancelCleanup(taskId: string): void {
    clearTimeout(this.cleanupTimers.get(taskId));
    this.cleanupTimers.delete(taskId);
  }

  stop(): void {
    for (const timer of this.cleanupTimers.values()) clearTimeout(timer);
    this.cleanupTimers.clear();
  }
}
