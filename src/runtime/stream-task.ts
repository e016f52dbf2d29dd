/**
 * A running task: its processors and state (TaskCore), its LevelDB, and its
 * transactional producer. It processes records of its input partitions in
 * order, and commits output, changelog and consumed offsets in one Kafka
 * transaction; only then are its writes applied to LevelDB, together with the
 * changelog offsets they correspond to (the checkpoint).
 */
import { join } from 'node:path';
import { committedOffsets, endOffsets, leadersAlive, partitionCounts } from '../kafka/admin.js';
import {
  awaitDecidedMarkers,
  endHangingTransactions,
  HangingTransactions,
  OFFSETS_TOPIC,
  offsetsPartitionOf,
} from '../kafka/hanging-transactions.js';
import { BrokerUnreachableError, type PartitionRef } from '../kafka/transaction-admin.js';
import type { ClusterAdmin, CommitWriter, KafkaClient } from '../kafka/client.js';
import { partitionForKey } from '../kafka/partitioner.js';
import type { PartitionRange, RestoredRecords } from '../kafka/bulk-reader.js';
import type { InstanceProducer } from '../kafka/instance-producer.js';
import type { CompiledTopology, SubTopology } from '../processor/compile.js';
import type { GlobalStoreReader, OutgoingRecord } from '../processor/types.js';
import { LevelDbBackend, type CompactionStats } from '../state/leveldb-backend.js';
import type { RowCache } from '../state/row-cache.js';
import type { RangeQuery } from '../state/range-query.js';
import { encodeCommittedInputs, withCommittedInputs } from './committed-inputs.js';
import { TaskState } from '../state/task-state.js';
import type { Logger } from '../util/logger.js';
import { storeMemory, type StreamsConfig } from './config.js';
import type { StreamsMetrics } from './metrics.js';
import { deadLetterRecord, TaskCore, type DeadLetter, type InputRecord } from './task-core.js';

/**
 * restoring: opened (its producer fenced the previous owner), stores being brought up to date.
 * running: processing its input and committing.
 * suspended: given up (revoked, or the instance is stopping): processes and serves nothing, may
 *   still commit what it processed before, then closes.
 * failed: a commit failed; nothing more is processed or committed, the task only closes.
 */
export type TaskStatus = 'restoring' | 'running' | 'suspended' | 'failed' | 'closed';

export interface TaskDeps {
  topology: CompiledTopology;
  config: StreamsConfig;
  client: KafkaClient;
  admin: ClusterAdmin;
  logger: Logger;
  metrics: StreamsMetrics;
  partitionsOf: (topic: string) => number;
  /** Records left to read in every input partition of the instance's tasks, at their last fetches. */
  instanceLag?: () => bigint;
  /** Exactly-once v2: the instance's producer, shared by every task (absent: a producer per task). */
  instanceProducer?: InstanceProducer;
  /** Stops the application: a record failed and its error policy is `fail`. */
  failApplication?: (error: Error) => void;
  /** The instance's global stores (joins with global tables). */
  globalStores?: GlobalStoreReader | undefined;
}

/** A record failed under the `fail` error policy: where, and why. */
export class RecordFailedError extends Error {
  override name = 'RecordFailedError';
}

export class StreamTask {
  status: TaskStatus = 'restoring';
  readonly id: string;
  private readonly core: TaskCore;
  /** Next offset to process, per input topic, for this task's partition. */
  private readonly nextOffsets = new Map<string, bigint>();
  private offsetsAdvanced = false;
  private processedSinceCommit = 0;
  /** Next offset per input topic whose results are committed and in LevelDB (what reads see). */
  private readonly appliedOffsets = new Map<string, bigint>();
  /**
   * Per input topic, the offset the task must have applied to count as caught up: the end of
   * the input when it started, or the position at which a fetch found nothing left (transaction
   * markers keep the last offsets from ever being processed).
   */
  private readonly catchUpTargets = new Map<string, bigint>();
  private commitInFlight: Promise<void> | undefined;
  /**
   * While restoring: when the store was last known to be at the end of its changelogs (the
   * standby it was promoted from was, at that time); undefined when not known.
   */
  private currentAt: number | undefined;
  private lastCommit = Date.now();
  private readonly log: Logger;
  private readonly processedCounter: { inc(by: number): void };
  private readonly forwardedCounter: { inc(by: number): void };
  private readonly ageByTopic = new Map<string, { observe(seconds: number): void }>();
  private readonly endToEndByTopic = new Map<string, { observe(seconds: number): void }>();
  /** Output topics of the application (not repartition topics), whose records' latency is measured. */
  private readonly sinkTopics: Set<string>;
  private readonly changelogTopics: ReadonlySet<string>;

  private constructor(
    private readonly deps: TaskDeps,
    readonly subtopology: SubTopology,
    readonly partition: number,
    private readonly backend: LevelDbBackend,
    private readonly writer: CommitWriter,
    /** Hands the task's directory back (see DirectoryLocks) once the store is closed. */
    private readonly releaseDirectory: () => void,
  ) {
    this.core = new TaskCore(
      deps.topology,
      subtopology,
      partition,
      new TaskState(backend, subtopology.stores, partition, { rowCacheBytes: deps.config.storeRowCacheBytes }),
      {
        cacheChanges: deps.config.cacheMaxEntries > 0,
        maxRecordBytes: deps.config.maxRecordBytes,
        ...(deps.globalStores ? { globalStores: deps.globalStores } : {}),
      },
    );
    this.id = this.core.id;
    this.log = deps.logger.child({ task: this.id });
    this.sinkTopics = new Set(subtopology.sinkTopics.filter((t) => !deps.topology.repartitionTopics.includes(t)));
    this.changelogTopics = new Set(subtopology.stores.map((s) => s.changelogTopic));
    this.processedCounter = deps.metrics.recordsProcessed.labels({ subtopology: String(subtopology.id) });
    this.forwardedCounter = deps.metrics.heldChangesForwarded.labels({ subtopology: String(subtopology.id) });
  }

  /**
   * Opens the task's store (or takes over the open store of its standby) and creates its
   * producer; nothing is sent to Kafka yet. `initialize` then fences the previous owner.
   */
  static async open(
    deps: TaskDeps,
    subtopology: SubTopology,
    partition: number,
    store: { backend?: LevelDbBackend; releaseDirectory: () => void; currentAt?: number },
  ): Promise<StreamTask> {
    const id = `${subtopology.id}_${partition}`;
    let backend = store.backend;
    try {
      backend ??= await LevelDbBackend.open(
        join(deps.config.stateDir, deps.config.applicationId, id),
        storeMemory(deps.config, subtopology.stores.length),
      );
      const writer =
        deps.instanceProducer?.taskWriter() ?? deps.client.taskWriter(`${deps.config.applicationId}-${id}`); // = transactionalId
      const task = new StreamTask(deps, subtopology, partition, backend, writer, store.releaseDirectory);
      task.currentAt = store.currentAt;
      return task;
    } catch (error) {
      await backend?.close(); // or it stays locked, and every retry fails
      store.releaseDirectory();
      throw error;
    }
  }

  /**
   * Fences any previous owner's producer. Only after this may the task read its changelog ends
   * and committed offsets: from then on the previous owner can commit nothing more, so what is
   * read is final.
   */
  async initialize(): Promise<void> {
    // Fence only once the broker counts itself alive for every partition this task writes: just
    // after a restart it already accepts InitProducerId, but aborting the previous owner's open
    // transaction then can lose the abort markers, and the aborted records later read as committed.
    const written = [
      ...this.subtopology.sinkTopics,
      ...this.subtopology.stores.map((s) => s.changelogTopic),
      this.deps.config.deadLetterTopic,
    ];
    if (!(await leadersAlive(this.deps.admin, written)))
      throw new Error('the brokers do not list a live leader for every partition the task writes yet');
    if (this.deps.instanceProducer) {
      // Exactly-once v2: no producer of the task to fence. What the previous owners' producers left
      // hanging is ended, and their last transaction (or a zombie's) must have ended before anything
      // they wrote is read.
      const inputs = this.inputTopics.map((topic) => ({ topic, partition: this.partition }));
      await endHangingTransactions(this.deps.admin, [...(await this.writtenPartitions()), ...inputs], this.log);
      await this.deps.instanceProducer.waitForStableOffsets(
        this.deps.config.applicationId,
        this.inputTopics,
        this.partition,
      );
      // Stable offsets say the last transaction ended, not that its changelog markers are written.
      const changelogs = this.subtopology.stores.map((s) => ({ topic: s.changelogTopic, partition: this.partition }));
      if (changelogs.length > 0) await awaitDecidedMarkers(this.deps.admin, changelogs);
      return;
    }
    const hanging = new HangingTransactions(this.deps.admin, this.transactionalId, this.log);
    const before = await hanging.state().catch((error: unknown) => {
      // Unreachable just after a restart is when hanging transactions appear: try again later.
      if (error instanceof BrokerUnreachableError) throw error;
      this.log.warn("could not read the state of the task's transactions; hanging ones are not looked for", { error });
      return undefined;
    });
    await this.writer.connect();
    if (before) await hanging.repair(before, await this.writtenPartitions());
  }

  /** Every partition a transaction of this task can write: changelogs, sinks, dead letters, and the group's offsets. */
  private async writtenPartitions(): Promise<PartitionRef[]> {
    const refs: PartitionRef[] = this.subtopology.stores.map((s) => ({
      topic: s.changelogTopic,
      partition: this.partition,
    }));
    for (const topic of [...this.subtopology.sinkTopics, this.deps.config.deadLetterTopic])
      for (let partition = 0; partition < this.deps.partitionsOf(topic); partition++) refs.push({ topic, partition });
    const offsets = (await partitionCounts(this.deps.admin, [OFFSETS_TOPIC])).get(OFFSETS_TOPIC);
    if (offsets)
      refs.push({ topic: OFFSETS_TOPIC, partition: offsetsPartitionOf(this.deps.config.applicationId, offsets) });
    return refs;
  }

  private get transactionalId(): string {
    return `${this.deps.config.applicationId}-${this.id}`;
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

  get rowCache(): RowCache {
    return this.core.state.rowCache;
  }

  /** How far this task's stores are: the sum of their changelog checkpoints. */
  get checkpointSum(): bigint {
    return this.state.checkpointSum;
  }

  get state(): TaskState {
    return this.core.state;
  }

  get inputTopics(): string[] {
    return this.subtopology.sources.map((s) => s.topic);
  }

  /**
   * What must be read from each changelog to bring the local store up to
   * date: from its checkpoint (or from the start when there is none, or when
   * the checkpoint is beyond the changelog, e.g. a recreated topic) to the end.
   */
  async restoreRanges(): Promise<PartitionRange[]> {
    return this.state.restoreRanges(
      async (topic) => (await endOffsets(this.deps.admin, topic)).get(this.partition) ?? 0n,
      (store, reason) => this.log.warn('restoring a store from scratch', { store, reason }),
    );
  }

  /** Builds the write of restored changelog records (TaskState.prepareRestored). */
  prepareRestored(range: PartitionRange, records: RestoredRecords): () => Promise<void> {
    const store = this.subtopology.stores.find((s) => s.changelogTopic === range.topic)!;
    return this.state.prepareRestored(store.name, records.keys, records.values, records.nextOffset);
  }

  /** Marks a restored changelog as read to `range.to` (the offsets after the last record are transaction markers). */
  async finishRestore(range: PartitionRange): Promise<void> {
    const checkpoint = (await this.state.checkpoints()).get(range.topic) ?? 0n;
    if (checkpoint < range.to) {
      const store = this.subtopology.stores.find((s) => s.changelogTopic === range.topic)!;
      await this.state.applyRestored(store.name, [], range.to);
    }
  }

  /** Starts processing from the group's committed offsets. Returns them, to seek the consumer. */
  async start(): Promise<Map<string, bigint>> {
    if (this.status !== 'restoring') throw new Error(`task ${this.id} cannot start: it is ${this.status}`);
    for (const topic of this.inputTopics) {
      const committed = (await committedOffsets(this.deps.admin, this.deps.config.applicationId, topic)).get(
        this.partition,
      );
      this.nextOffsets.set(topic, committed ?? 0n);
      this.appliedOffsets.set(topic, committed ?? 0n);
      this.catchUpTargets.set(topic, (await endOffsets(this.deps.admin, topic)).get(this.partition) ?? 0n);
    }
    await this.core.loadBuffers();
    if (this.status !== 'restoring') throw new Error(`task ${this.id} was ${this.status} while starting`);
    this.core.init();
    this.status = 'running';
    this.lastCommit = Date.now();
    return new Map(this.nextOffsets);
  }

  /** Processes one input record; records before the next expected offset were processed already. */
  process(record: InputRecord): void {
    const offset = BigInt(record.offset);
    if (offset < (this.nextOffsets.get(record.topic) ?? 0n)) return;
    this.ageOf(record.topic).observe(Math.max(0, Date.now() - record.timestamp) / 1000);
    const letter = this.core.process(record);
    if (letter && !this.handleFailure(letter)) return;
    for (const [reason, count] of this.core.takeDrops()) {
      this.deps.metrics.droppedRecords.inc({ topic: record.topic, reason }, count);
    }
    this.sendLateRecords();
    this.reportPunctuationErrors();
    if (this.core.heldChanges >= this.deps.config.cacheMaxEntries) {
      try {
        this.flushHeldChanges();
      } catch {
        return; // failed under the `fail` policy: the application is stopping
      }
    }
    this.nextOffsets.set(record.topic, offset + 1n);
    this.offsetsAdvanced = true;
    this.processedSinceCommit++;
  }

  /** Fires the wall-clock punctuators (Processor API) whose time has come. */
  punctuate(now: number): void {
    if (this.status !== 'running') return;
    this.core.punctuate('wall-clock-time', now);
    this.reportPunctuationErrors();
  }

  private reportPunctuationErrors(): void {
    for (const error of this.core.takePunctuationErrors()) {
      this.deps.metrics.punctuationErrors.inc({ subtopology: String(this.subtopology.id) });
      this.log.warn('a punctuator threw; its writes and records were taken back', {
        error: error.message.slice(0, 300),
      });
    }
  }

  private flushHeldChanges(): void {
    const held = this.core.heldChanges;
    if (held > 0) this.forwardedCounter.inc(held);
    for (const letter of this.core.flush()) {
      // A held change failed under `fail`: the records that made it are processed but their effect is
      // gone, so this commit must not happen (nothing since the last commit is committed).
      if (!this.handleFailure(letter)) {
        this.status = 'failed';
        throw letter.error;
      }
    }
    this.sendLateRecords();
  }

  /** With lateRecords `dead-letter`: a copy of each record dropped as late to the dead-letter topic. */
  private sendLateRecords(): void {
    const late = this.core.takeLateRecords();
    if (this.deps.config.lateRecords !== 'dead-letter') return;
    for (const record of late) {
      const error = new Error('late: a window it falls in had closed (stream time passed its end and grace)');
      this.sendDeadLetter({ record, taskId: this.id, reason: 'late', kind: 'processing', error });
    }
  }

  /**
   * Applies the error policy of a failed record's kind. Returns false when the application must stop
   * (policy `fail`): the task is suspended at once, so neither this record nor any after it is
   * processed or committed.
   */
  private handleFailure(letter: DeadLetter): boolean {
    const { record } = letter;
    const policy = this.deps.config.errorPolicies[letter.kind];
    if (policy === 'dead-letter') {
      this.sendDeadLetter(letter);
      return true;
    }
    const where = { topic: record.topic, partition: record.partition, offset: record.offset, kind: letter.kind };
    if (policy === 'skip') {
      this.deps.metrics.skippedRecords.inc({ topic: record.topic, kind: letter.kind });
      this.log.warn('record skipped', { ...where, reason: letter.reason, error: letter.error.message.slice(0, 300) });
      return true;
    }
    this.suspend();
    const error = new RecordFailedError(
      `a ${letter.kind} error on ${record.topic}-${record.partition}@${record.offset} (task ${this.id}): ${letter.error.message.slice(0, 300)}; ` +
        `its policy is fail. Fix the cause, or choose skip or dead-letter for ${letter.kind} errors`,
      { cause: letter.error },
    );
    this.log.error('record failed; the application stops', { ...where, error: error.message });
    this.deps.failApplication?.(error);
    return false;
  }

  private sendDeadLetter(letter: DeadLetter): void {
    const { record } = letter;
    this.core.outbox.push(deadLetterRecord(this.deps.config.deadLetterTopic, letter));
    this.deps.metrics.deadLetters.inc({ topic: record.topic, reason: letter.reason });
    this.log.warn('record sent to the dead-letter topic', {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      reason: letter.reason,
      error: letter.error.message.slice(0, 300),
    });
  }

  /**
   * True once the results of the input that existed when the task started are committed and in
   * LevelDB, which is what reads see. (Processed is not enough: a row processed but not yet
   * committed is not readable, and a lookup would answer a wrong 404.)
   */
  get caughtUp(): boolean {
    if (this.status !== 'running') return false;
    return this.inputTopics.every(
      (topic) => (this.appliedOffsets.get(topic) ?? 0n) >= (this.catchUpTargets.get(topic) ?? 0n),
    );
  }

  /**
   * Every record of an input partition before `next` is processed: the consumer's position, past the
   * transaction markers that end a fetch (records are never at those offsets). Committing it, as Kafka
   * Streams commits the consumer's position, makes the committed and applied offsets exact positions.
   */
  markRead(topic: string, next: bigint): void {
    if (this.status !== 'running' || next <= (this.nextOffsets.get(topic) ?? 0n)) return;
    this.nextOffsets.set(topic, next);
    this.offsetsAdvanced = true;
  }

  /** Per input topic, the offset before which every record's results are committed and in LevelDB. */
  get appliedPositions(): ReadonlyMap<string, bigint> {
    return this.appliedOffsets;
  }

  /** The consumer found no records left in this input partition: what is processed now is all there is. */
  markNoLag(topic: string): void {
    if (this.status !== 'running') return;
    const processed = this.nextOffsets.get(topic) ?? 0n;
    if (processed < (this.catchUpTargets.get(topic) ?? 0n)) this.catchUpTargets.set(topic, processed);
  }

  /** Stops processing and serving at once (the task was revoked, or the instance stops); it may still commit. */
  suspend(): void {
    if (this.status === 'running' || this.status === 'restoring') this.status = 'suspended';
  }

  get commitDue(): boolean {
    return (
      this.status === 'running' &&
      !this.commitInFlight &&
      (this.offsetsAdvanced || this.core.outbox.length > 0 || this.state.hasPendingWrites) &&
      (Date.now() - this.lastCommit >= this.commitIntervalMs ||
        this.processedSinceCommit >= this.deps.config.maxRecordsPerCommit)
    );
  }

  /**
   * The commit interval now: the catch-up one while the instance is far behind its input
   * (StreamsConfig). The instance's, not the task's: in a backlog the tasks reading repartition
   * topics keep up with what the tasks before them commit, and collapse their changes only if those
   * commit less often too.
   */
  private get commitIntervalMs(): number {
    const { commitIntervalMs, catchUpCommitIntervalMs, catchUpLagRecords } = this.deps.config;
    if (catchUpCommitIntervalMs <= commitIntervalMs || !this.deps.instanceLag) return commitIntervalMs;
    return this.deps.instanceLag() >= BigInt(catchUpLagRecords) ? catchUpCommitIntervalMs : commitIntervalMs;
  }

  /** A commit is in flight and a full commit's worth of records is waiting for the next one. */
  get commitBacklogged(): boolean {
    return this.commitInFlight !== undefined && this.processedSinceCommit >= this.deps.config.maxRecordsPerCommit;
  }

  /** Resolves when the commit in flight (if any) has finished, whether or not it succeeded. */
  async commitSettled(): Promise<void> {
    await this.commitInFlight?.catch(() => undefined);
  }

  /** Commits everything processed so far. Concurrent calls wait for the commit in flight. */
  async commit(): Promise<void> {
    while (this.commitInFlight) await this.commitInFlight;
    if (!this.canCommit || (!this.offsetsAdvanced && this.core.outbox.length === 0 && !this.state.hasPendingWrites))
      return;
    this.commitInFlight = this.doCommit().finally(() => (this.commitInFlight = undefined));
    await this.commitInFlight;
  }

  private async doCommit(): Promise<void> {
    try {
      await this.commitSnapshot();
    } catch (error) {
      // Set before anyone sees the failure: processing goes on while a commit is in flight, and a next
      // commit must not start on this task, or it would commit offsets past the records whose output
      // was in the failed transaction.
      if (this.canCommit) this.status = 'failed';
      throw error;
    }
  }

  /** Adds the records processed since the last commit to the metric (once per commit, not per record). */
  private countProcessed(): void {
    if (this.processedSinceCommit > 0) this.processedCounter.inc(this.processedSinceCommit);
    this.processedSinceCommit = 0;
  }

  /** A running task commits as it goes; a suspended one commits what it processed before it was suspended. */
  private get canCommit(): boolean {
    return this.status === 'running' || this.status === 'suspended';
  }

  private async commitSnapshot(): Promise<void> {
    const started = process.hrtime.bigint();
    this.flushHeldChanges();
    const snapshot = this.state.startCommit();
    // Pruned after the commit by the committed times: the local stores keep their checkpoints, and
    // after a crash the records processed since are processed again on them.
    const expiries = this.core.windowExpiries();
    const output = this.core.drainOutbox();
    const committing = new Map(this.nextOffsets);
    const offsets = new Map([...committing].map(([topic, offset]) => [topic, new Map([[this.partition, offset]])]));
    this.offsetsAdvanced = false;
    this.countProcessed();
    this.lastCommit = Date.now();
    // Each store's last changelog record says which input the commit covers (committed-inputs.ts), and
    // so does the last output record on this task's partition (read replicas of the output topic).
    const records = withCommittedInputs(
      [...output, ...snapshot.changelogRecords].map((r) => this.withPartition(r)),
      (r) => this.changelogTopics.has(r.topic) || this.isOwnOutputPartition(r),
      encodeCommittedInputs(this.inputTopics, committing),
    );
    const written = await this.writer.commit(records, { groupId: this.deps.config.applicationId, offsets });
    const committedAt = Date.now();
    const checkpoints = new Map<string, bigint>();
    for (const store of this.subtopology.stores) {
      const next = written.get(`${store.changelogTopic}:${this.partition}`);
      if (next !== undefined) checkpoints.set(store.changelogTopic, next);
    }
    await snapshot.apply(checkpoints);
    for (const [topic, offset] of committing) this.appliedOffsets.set(topic, offset);
    const expired = await this.core.expireWindows(expiries);
    if (expired > 0) this.log.debug('expired windows deleted', { windows: expired });
    for (const record of output) {
      if (this.sinkTopics.has(record.topic)) {
        this.endToEndOf(record.topic).observe(Math.max(0, committedAt - record.timestamp) / 1000);
      }
    }
    this.deps.metrics.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }

  /**
   * A task's memtable holds a store's worth per store (decision 0024), which pays while the instance
   * works through a backlog. Once it has caught up, the memtable is written out whenever it holds one
   * store's worth: it would otherwise fill slowly to its full size, or stay as full as the backlog left
   * it, searched by every read. The instance calls this every second.
   */
  settleMemtable(): void {
    if (this.status !== 'running') return;
    const lag = this.deps.instanceLag?.();
    const { catchUpLagRecords, storeWriteBufferBytes } = this.deps.config;
    if (lag === undefined || lag >= BigInt(catchUpLagRecords) || this.backend.memtableBytes < storeWriteBufferBytes)
      return;
    this.backend
      .writeOutMemtable()
      .catch((error: unknown) => this.log.warn('writing the memtable out failed', { error }));
  }

  private ageOf(topic: string): { observe(seconds: number): void } {
    let age = this.ageByTopic.get(topic);
    if (!age) this.ageByTopic.set(topic, (age = this.deps.metrics.recordAgeSeconds.labels({ topic })));
    return age;
  }

  private endToEndOf(topic: string): { observe(seconds: number): void } {
    let endToEnd = this.endToEndByTopic.get(topic);
    if (!endToEnd) this.endToEndByTopic.set(topic, (endToEnd = this.deps.metrics.endToEndSeconds.labels({ topic })));
    return endToEnd;
  }

  /**
   * A record of an output topic on this task's partition, of a topic with as many partitions as the
   * task's input: then every record there is this task's (the same key, the same partitioner).
   */
  private isOwnOutputPartition(record: OutgoingRecord & { partition: number }): boolean {
    return (
      record.partition === this.partition &&
      this.sinkTopics.has(record.topic) &&
      this.deps.partitionsOf(record.topic) === this.deps.partitionsOf(this.inputTopics[0]!)
    );
  }

  private withPartition(record: OutgoingRecord): OutgoingRecord & { partition: number } {
    if (record.partition !== undefined) return record as OutgoingRecord & { partition: number };
    const partitions = this.deps.partitionsOf(record.topic);
    return { ...record, partition: record.key ? partitionForKey(record.key, partitions) : this.partition % partitions };
  }

  /** A committed row, for serving. */
  readCommitted(storeName: string, key: Buffer): Buffer | undefined {
    return this.state.readCommitted(storeName, key);
  }

  /** Committed rows in a range, for serving. */
  rangeCommitted(storeName: string, query: RangeQuery): Promise<Array<[Buffer, Buffer]>> {
    return this.state.rangeCommitted(storeName, query);
  }

  /**
   * While the task restores, its store holds a consistent past state (changelog prefixes): how
   * long ago it was last known current, when that is known (a promoted standby). Reads of such a
   * store are standby reads.
   */
  restoringStalenessMs(now = Date.now()): number | undefined {
    if (this.status !== 'restoring' || this.currentAt === undefined) return undefined;
    return Math.max(0, now - this.currentAt);
  }

  /**
   * Stops the task: clean (a final commit first) or dirty (uncommitted work dropped; the next owner
   * redoes it from the committed offsets). Either way LevelDB keeps only committed state and its
   * checkpoint, so the local copy stays usable for a later restore from that checkpoint.
   */
  async close(options: { commit: boolean }): Promise<void> {
    if (this.status === 'closed') return;
    this.suspend();
    try {
      if (options.commit) await this.commit();
    } catch (error) {
      this.log.warn('final commit failed; the next owner redoes the uncommitted records', { error });
    }
    const clean = options.commit && this.status === 'suspended';
    this.status = 'closed';
    while (this.commitInFlight) await this.commitInFlight.catch(() => undefined);
    this.countProcessed();
    this.log.info('task closed', { clean, processedUpTo: Object.fromEntries(this.nextOffsets) });
    this.state.discardUncommitted();
    try {
      this.core.close();
    } catch (error) {
      this.log.warn('a processor failed to close', { error });
    }
    await this.writer.disconnect().catch(() => undefined);
    await this.backend.close().finally(this.releaseDirectory);
  }
}
