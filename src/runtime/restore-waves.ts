/**
 * Reads the changelogs of several tasks into their stores. Small restores (a task a few thousand
 * records behind) are read all at once. Large ones (a task restored from scratch) go a few tasks at a
 * time, each store bulk loading (a large memtable, see LevelDbBackend.startBulkLoad): that bounds the
 * memory a restore takes, whatever the number of tasks, and keeps LevelDB from compacting the load
 * again and again.
 */
import type { ClusterAdmin } from '../kafka/client.js';
import { readRangesBulk, type PartitionRange, type RestoredRecords } from '../kafka/bulk-reader.js';
import type { StateBackend } from '../state/backend.js';
import type { RestoreProgress } from './restore-progress.js';

export interface TaskRestore {
  backend: StateBackend;
  ranges: readonly PartitionRange[];
  /**
   * Builds the write of records of one of `ranges` to the store, and returns what applies it. Called
   * while the range's earlier records are still being written; the writes apply in order.
   */
  prepare(range: PartitionRange, records: RestoredRecords): () => Promise<void>;
}

export interface RestoreWaveOptions {
  clientId: string;
  /** A task with at least this many records to read is bulk loaded. */
  bulkMinRecords: number;
  /** Tasks bulk loaded at once. */
  bulkTasks: number;
  /** Fetched bytes held per broker, not yet written (bulk-reader.ts' maxBytesInFlight). */
  fetchBytes: number;
}

export async function restoreInWaves(
  admin: ClusterAdmin,
  tasks: readonly TaskRestore[],
  progress: RestoreProgress,
  abandoned: () => boolean,
  options: RestoreWaveOptions,
): Promise<void> {
  const records = (task: TaskRestore) => task.ranges.reduce((sum, r) => sum + Number(r.to - r.from), 0);
  const large = tasks.filter((task) => records(task) >= options.bulkMinRecords);
  const small = tasks.filter((task) => !large.includes(task));
  await read(admin, small, progress, abandoned, options);
  for (let i = 0; i < large.length; i += options.bulkTasks) {
    const wave = large.slice(i, i + options.bulkTasks);
    const loading: StateBackend[] = [];
    try {
      for (const task of wave) {
        await task.backend.startBulkLoad();
        loading.push(task.backend);
      }
      await read(admin, wave, progress, abandoned, options);
    } finally {
      // Also when the read failed or was given up: the stores go back to their own settings.
      await Promise.all(loading.map((backend) => backend.endBulkLoad()));
    }
  }
}

async function read(
  admin: ClusterAdmin,
  tasks: readonly TaskRestore[],
  progress: RestoreProgress,
  abandoned: () => boolean,
  options: RestoreWaveOptions,
): Promise<void> {
  if (tasks.length === 0) return;
  const byChangelog = new Map(tasks.flatMap((task) => task.ranges.map((r) => [`${r.topic}:${r.partition}`, task])));
  await readRangesBulk<{ write: () => Promise<void>; records: number }>(
    admin,
    tasks.flatMap((task) => task.ranges),
    async (_range, _records, prepared) => {
      await prepared!.write();
      progress.restored(prepared!.records);
    },
    abandoned,
    {
      clientId: options.clientId,
      maxBytesInFlight: options.fetchBytes,
      prepare: (range, records) => ({
        write: byChangelog.get(`${range.topic}:${range.partition}`)!.prepare(range, records),
        records: records.keys.length,
      }),
    },
  );
}
