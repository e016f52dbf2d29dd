/**
 * A standby replica of a task: its stores in the task's LevelDB directory,
 * kept current from the task's changelogs (Kafka Streams' StandbyTask). It
 * processes nothing and writes nothing to Kafka. When the task is assigned
 * to this instance as active, the standby closes and the active task opens
 * the same store, restoring only what the standby had not read yet.
 *
 * The store only ever holds a prefix of each changelog, written together
 * with its checkpoint, so a standby's answers are exact as of a past moment:
 * how far behind is tracked per changelog (records, and since when).
 */
import { join } from 'node:path';
import { endOffsets } from '../kafka/admin.js';
import type { ChangelogSink } from '../kafka/changelog-reader.js';
import type { ClusterAdmin } from '../kafka/client.js';
import type { SubTopology } from '../processor/compile.js';
import { LevelDbBackend, type CompactionStats } from '../state/leveldb-backend.js';
import { TaskState } from '../state/task-state.js';
import type { Logger } from '../util/logger.js';
import { committedInputsHeader, decodeCommittedInputs, newerOf } from './committed-inputs.js';
import { storeMemory, type StreamsConfig } from './config.js';
import { taskIdOf } from './task-core.js';

interface ChangelogProgress {
  storeName: string;
  position: bigint;
  end: bigint | undefined;
  /** When the standby was last seen at the end of this changelog. */
  caughtUpAt: number | undefined;
  /** The committed inputs of the last commit applied (committed-inputs.ts), not proven yet. */
  appliedInputs: Map<string, bigint> | undefined;
  /** The committed inputs the store's rows are proven to reflect (see provenInputs). */
  provenInputs: Map<string, bigint> | undefined;
  /** The task's inputs as the group last had them committed, proven once the copy has read to `until`. */
  committed: { inputs: Map<string, bigint>; until: bigint } | undefined;
}

/** What a standby hands to its task becoming active: the open store, its directory lock, and how current it was. */
export interface StandbyHandOver {
  backend: LevelDbBackend;
  releaseDirectory: () => void;
  /** When the standby was last at the end of its changelogs (undefined: never). */
  currentAt: number | undefined;
}

export interface StandbyDeps {
  config: StreamsConfig;
  admin: ClusterAdmin;
  logger: Logger;
}

export class StandbyTask {
  readonly id: string;
  closed = false;
  private readonly progress = new Map<string, ChangelogProgress>();
  /** The task's input topics, in the order committed inputs are written. */
  private readonly sources: string[];

  private constructor(
    readonly subtopology: SubTopology,
    readonly partition: number,
    private readonly backend: LevelDbBackend,
    private readonly state: TaskState,
    private readonly releaseDirectory: () => void,
  ) {
    this.id = taskIdOf(subtopology.id, partition);
    this.sources = subtopology.sources.map((s) => s.topic);
  }

  /** Opens the store and works out where each changelog is to be followed from. */
  static async open(
    deps: StandbyDeps,
    subtopology: SubTopology,
    partition: number,
    releaseDirectory: () => void,
  ): Promise<StandbyTask> {
    const id = taskIdOf(subtopology.id, partition);
    let backend: LevelDbBackend | undefined;
    try {
      backend = await LevelDbBackend.open(
        join(deps.config.stateDir, deps.config.applicationId, id),
        storeMemory(deps.config, subtopology.stores.length),
      );
      const state = new TaskState(backend, subtopology.stores, partition);
      const task = new StandbyTask(subtopology, partition, backend, state, releaseDirectory);
      const ranges = await state.restoreRanges(
        async (topic) => (await endOffsets(deps.admin, topic)).get(partition) ?? 0n,
        (store, reason) => deps.logger.warn('standby: restoring a store from scratch', { task: id, store, reason }),
      );
      for (const range of ranges) {
        const store = subtopology.stores.find((s) => s.changelogTopic === range.topic)!;
        task.progress.set(range.topic, {
          storeName: store.name,
          position: range.from,
          end: range.to,
          caughtUpAt: range.from >= range.to ? Date.now() : undefined,
          appliedInputs: undefined,
          provenInputs: undefined,
          committed: undefined,
        });
      }
      return task;
    } catch (error) {
      await backend?.close();
      releaseDirectory();
      throw error;
    }
  }

  /** Where each changelog is to be followed from, and its end as last known. */
  get changelogs(): Array<{ topic: string; from: bigint; end: bigint | undefined }> {
    return [...this.progress].map(([topic, p]) => ({ topic, from: p.position, end: p.end }));
  }

  /** What the changelog reader writes a changelog's records through. */
  sink(topic: string): ChangelogSink {
    const progress = this.progress.get(topic)!;
    return {
      apply: async (records, next) => {
        if (this.closed) return;
        const rows = records.filter((r) => r.key !== null).map((r) => ({ key: r.key!, value: r.value }));
        await this.state.applyRestored(progress.storeName, rows, next);
        progress.position = next;
        for (let i = records.length - 1; i >= 0; i--) {
          const inputs = committedInputsHeader(records[i]!.headers);
          if (!inputs) continue;
          progress.appliedInputs = decodeCommittedInputs(this.sources, inputs) ?? progress.appliedInputs;
          break;
        }
      },
      advanced: (position, end) => {
        if (position > progress.position) progress.position = position;
        if (end !== undefined) progress.end = end;
        if (progress.end !== undefined && progress.position >= progress.end) {
          progress.caughtUpAt = Date.now();
          this.prove(progress);
        }
      },
    };
  }

  /** The task's input topics, in the order of its committed inputs. */
  get sourceTopics(): readonly string[] {
    return this.sources;
  }

  /**
   * The task's input offsets as committed in the group (`inputs`), and the high watermarks of its
   * changelogs read after them. A commit's changelog records are written before its offsets become
   * visible, so they lie below those watermarks: a copy that has read that far and is at the end has
   * applied every commit up to `inputs`. This proves the position of a quiet partition, whose later
   * commits change no row and so carry no committed inputs in the changelog.
   */
  noteCommitted(inputs: ReadonlyMap<string, bigint>, changelogEnds: ReadonlyMap<string, bigint>): void {
    for (const [topic, progress] of this.progress) {
      const until = changelogEnds.get(topic);
      if (until === undefined) continue;
      progress.committed = { inputs: new Map(inputs), until };
      if (progress.end !== undefined && progress.position >= progress.end) this.prove(progress);
    }
  }

  /** At the end of a changelog: its copy reflects the inputs of the last commit applied, and the group's if read past them. */
  private prove(progress: ChangelogProgress): void {
    if (progress.appliedInputs) progress.provenInputs = newerOf(progress.provenInputs, progress.appliedInputs);
    const committed = progress.committed;
    if (committed && progress.position >= committed.until) {
      progress.provenInputs = newerOf(progress.provenInputs, committed.inputs);
      progress.committed = undefined;
    }
  }

  /** Changelog records not read yet, as of the last fetch. */
  get lagRecords(): bigint {
    let lag = 0n;
    for (const p of this.progress.values()) if (p.end !== undefined && p.end > p.position) lag += p.end - p.position;
    return lag;
  }

  /**
   * How long ago the standby was last at the end of every changelog (undefined: never yet). An
   * answer from it reflects the task's committed state as of at least that moment.
   */
  stalenessMs(now = Date.now()): number | undefined {
    let oldest = Infinity;
    for (const p of this.progress.values()) {
      if (p.caughtUpAt === undefined) return undefined;
      oldest = Math.min(oldest, p.caughtUpAt);
    }
    return oldest === Infinity ? 0 : Math.max(0, now - oldest);
  }

  /**
   * The input offsets the rows of a store are proven to reflect: per input topic of the task, the
   * offset before which every record's changes are in this copy (undefined: none proven yet).
   *
   * Those of the last commit the copy had applied when it was last at the end of the changelog. Only
   * there: a changelog is compacted, and a copy reading it may miss a row's change that a later record
   * of the same key superseded, so until it has read up to that later record the row can be older than
   * the commit it has reached. At the end of the changelog it has read every such later record (the
   * cleaner compacts only up to the last stable offset), so its rows are exactly the task's as of then;
   * and reading on never takes a row back to before that.
   */
  provenInputs(storeName: string): Map<string, bigint> | undefined {
    for (const p of this.progress.values()) if (p.storeName === storeName) return p.provenInputs;
    return undefined;
  }

  /** Level-0 table files of the task's store (the store-files metric). */
  get levelZeroFiles(): number {
    return this.backend.levelZeroFiles();
  }

  /** LevelDB's memory for the task's store (memtables and block cache). */
  get storeMemoryBytes(): number {
    return this.backend.memoryBytes();
  }

  /** LevelDB's compaction work on the task's store since it was opened (the compaction metrics). */
  get compactionStats(): CompactionStats {
    return this.backend.compactionStats();
  }

  /** How far this copy of the task's state is: the sum of its changelog checkpoints. */
  get checkpointSum(): bigint {
    return this.state.checkpointSum;
  }

  readCommitted(storeName: string, key: Buffer): Buffer | undefined {
    return this.state.readCommitted(storeName, key);
  }

  /** Stops following and gives the open store (and its directory lock) away; the standby is closed after. */
  handOver(): StandbyHandOver {
    const staleness = this.stalenessMs();
    this.closed = true;
    return {
      backend: this.backend,
      releaseDirectory: this.releaseDirectory,
      currentAt: staleness === undefined ? undefined : Date.now() - staleness,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.backend.close().finally(this.releaseDirectory);
  }
}
