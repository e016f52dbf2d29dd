/**
 * Runs a topology in memory, without a broker: one partition per topic, every
 * task in this process, repartition topics handed straight to the tasks that
 * read them, and a commit (with its flush of held changes) after every input record. Processing is the same
 * code the Kafka runtime runs (TaskCore), so unit tests exercise it for real.
 */
import type { TopologyGraph } from '../dsl/graph.js';
import { compileTopology, type CompiledTopology } from '../processor/compile.js';
import type { DropReason, Header, OutgoingRecord } from '../processor/types.js';
import type { Serde } from '../serdes/serde.js';
import { storePrefix } from '../state/keys.js';
import { GlobalStoreUpdater, globalStoreWrites } from '../runtime/global-store-updater.js';
import { MemoryBackend } from '../state/memory-backend.js';
import { TaskState } from '../state/task-state.js';
import { TaskCore, type DeadLetter, type InputRecord } from '../runtime/task-core.js';

export interface DriverRecord<K, V> {
  key: K | null;
  value: V | null;
  timestamp: number;
}

export class TopologyTestDriver {
  readonly topology: CompiledTopology;
  private readonly tasks: TaskCore[];
  /** The global stores' rows, by store name and key bytes (latin1). */
  private readonly globalRows = new Map<string, Map<string, Buffer>>();
  /** The processors of the global stores added with addGlobalStore, by store. */
  private readonly globalUpdaters = new Map<string, GlobalStoreUpdater>();
  private readonly outputs = new Map<string, OutgoingRecord[]>();
  private readonly offsets = new Map<string, number>();
  /** Records waiting to be processed: the piped one, then the repartition records it caused. */
  private readonly queue: Array<Pick<OutgoingRecord, 'topic' | 'key' | 'value' | 'timestamp' | 'headers'>> = [];
  readonly deadLetters: DeadLetter[] = [];
  /** Errors of punctuators that threw (their writes and records were taken back). */
  readonly punctuationErrors: Error[] = [];
  /** Records dropped on purpose (e.g. late for their windows), per reason, as the runtime counts them. */
  readonly droppedRecords = new Map<DropReason, number>();
  /** The input records some node dropped as late, each once (with lateRecords: dead-letter, the dead letters). */
  readonly lateRecords: InputRecord[] = [];
  private clock = 0;
  /** The wall clock the topology's processors see; moved by advanceWallClockTime. */
  private wallClockMs: number;
  /** The commits started so far, one after another (a task commits one at a time). */
  private commits: Promise<void> = Promise.resolve();

  constructor(
    graph: TopologyGraph,
    applicationId = 'test-app',
    /** maxRecordBytes: as StreamsConfig's (the largest record a task sends). */
    options: { wallClockStartMs?: number; maxRecordBytes?: number } = {},
  ) {
    this.wallClockMs = options.wallClockStartMs ?? 0;
    this.topology = compileTopology(graph, applicationId);
    for (const store of this.topology.globalStores) {
      const rows = new Map<string, Buffer>();
      this.globalRows.set(store.name, rows);
      if (store.updater)
        this.globalUpdaters.set(store.name, new GlobalStoreUpdater(store, (key) => rows.get(key.toString('latin1'))));
    }
    const globalStores = {
      get: (store: string, key: Buffer) => this.globalRows.get(store)?.get(key.toString('latin1')),
    };
    this.tasks = this.topology.subtopologies.map(
      (sub) =>
        new TaskCore(
          this.topology,
          sub,
          0,
          // A row cache small enough to evict often, so tests go through its misses, hits and evictions.
          new TaskState(new MemoryBackend(), sub.stores, 0, { rowCacheBytes: 16 * 1024 }),
          {
            cacheChanges: true,
            clock: () => this.wallClockMs,
            globalStores,
            ...(options.maxRecordBytes !== undefined ? { maxRecordBytes: options.maxRecordBytes } : {}),
          },
        ),
    );
    for (const task of this.tasks) task.init();
  }

  /** Closes every task's processors (Processor API close()). */
  close(): void {
    for (const task of this.tasks) task.close();
  }

  /** Moves the wall clock on and fires every wall-clock punctuator whose time has come. */
  advanceWallClockTime(ms: number): void {
    this.wallClockMs += ms;
    for (const task of this.tasks) {
      task.punctuate('wall-clock-time', this.wallClockMs);
      this.route(task);
    }
    this.deliverQueued();
    this.queueCommit();
  }

  /**
   * Serializes and processes one record, then everything it causes downstream. Its timestamp is
   * `timestamp`, or one more than the last record's.
   */
  pipe<K, V>(
    topic: string,
    serdes: { keySerde: Serde<K>; valueSerde: Serde<V> },
    key: K | null,
    value: V | null,
    timestamp?: number,
  ): void {
    this.pipeRaw(
      topic,
      key === null ? null : serdes.keySerde.serialize(key),
      value === null ? null : serdes.valueSerde.serialize(value),
      timestamp,
    );
  }

  /**
   * A record of a global table's topic updates its global store at once (a null value deletes the
   * row), or goes through the processor of a store added with addGlobalStore; a record of any other
   * topic is processed by the tasks that read it.
   */
  pipeRaw(topic: string, key: Buffer | null, value: Buffer | null, timestamp?: number, headers?: Header[]): void {
    this.clock = timestamp ?? this.clock + 1;
    const global = this.topology.globalStores.find((store) => store.topic === topic);
    if (global) {
      const rows = this.globalRows.get(global.name)!;
      const offset = this.offsets.get(topic) ?? 0;
      this.offsets.set(topic, offset + 1);
      const record = { key, value, offset: BigInt(offset), timestamp: this.clock, headers };
      for (const [k, v] of globalStoreWrites(this.globalUpdaters.get(global.name), 0, [record])) {
        if (v === null) rows.delete(k.toString('latin1'));
        else rows.set(k.toString('latin1'), v);
      }
      return;
    }
    this.queue.push({ topic, key, value, timestamp: this.clock, headers });
    this.deliverQueued();
    this.queueCommit();
  }

  /** Processes the queued records in order, each in the task that reads its topic, and what they cause. */
  private deliverQueued(): void {
    while (this.queue.length > 0) {
      const record = this.queue.shift()!;
      const task = this.tasks.find((t) => t.graph.sourceTopics.includes(record.topic));
      if (!task) throw new Error(`no task reads topic ${record.topic}`);
      const offset = this.offsets.get(record.topic) ?? 0;
      this.offsets.set(record.topic, offset + 1);
      const letter = task.process({ ...record, partition: 0, offset: String(offset) });
      if (letter) this.deadLetters.push(letter);
      for (const [reason, count] of task.takeDrops())
        this.droppedRecords.set(reason, (this.droppedRecords.get(reason) ?? 0) + count);
      this.route(task);
      this.lateRecords.push(...task.takeLateRecords());
    }
  }

  /** Flushes a task's held changes and takes its output: kept per topic, repartition records queued for their readers. */
  private route(task: TaskCore): void {
    this.deadLetters.push(...task.flush());
    this.punctuationErrors.push(...task.takePunctuationErrors());
    for (const out of task.drainOutbox()) {
      if (this.topology.repartitionTopics.includes(out.topic)) this.queue.push(out);
      this.outputs.set(out.topic, [...(this.outputs.get(out.topic) ?? []), out]);
    }
  }

  /** Every record written to a topic so far (repartition topics too), decoded (tombstones have a null value). */
  readOutput<K, V>(topic: string, serdes: { keySerde: Serde<K>; valueSerde: Serde<V> }): DriverRecord<K, V>[] {
    return (this.outputs.get(topic) ?? []).map((r) => ({
      key: r.key === null ? null : serdes.keySerde.deserialize(r.key),
      value: r.value === null ? null : serdes.valueSerde.deserialize(r.value),
      timestamp: r.timestamp,
    }));
  }

  /** The headers of every record written to a topic so far (an empty list where a record has none). */
  outputHeaders(topic: string): Array<readonly Header[]> {
    return this.outputRecords(topic).map((r) => r.headers ?? []);
  }

  /** Every record written to a topic so far, as written: bytes, timestamp and headers. */
  outputRecords(topic: string): readonly OutgoingRecord[] {
    return this.outputs.get(topic) ?? [];
  }

  /** The latest value per key written to a topic, as a compacted topic would keep it. */
  readCompacted<K, V>(topic: string, serdes: { keySerde: Serde<K>; valueSerde: Serde<V> }): Map<K, V> {
    const latest = new Map<K, V>();
    for (const { key, value } of this.readOutput(topic, serdes)) {
      if (key === null) continue;
      if (value === null) latest.delete(key);
      else latest.set(key, value);
    }
    return latest;
  }

  /** A store's current value for a key (a task's store or a global one). */
  get<K, V>(storeName: string, key: K): V | null {
    const global = this.topology.globalStores.find((store) => store.name === storeName);
    if (global) {
      const row = this.globalRows.get(storeName)!.get(global.keySerde.serialize(key).toString('latin1'));
      return row === undefined ? null : (global.valueSerde.deserialize(row) as V);
    }
    const task = this.tasks.find((t) => t.state.storeNames.includes(storeName));
    if (!task) throw new Error(`no store named ${storeName}`);
    return task.state.store<K, V>(storeName).get(key);
  }

  /**
   * Committed rows of a store in a range of keys (see RangeQuery: byte order of the serialized keys),
   * decoded; `from`, `to`, `prefix` and `after` are keys, serialized with the store's key serde.
   */
  async range<K, V>(
    storeName: string,
    query: { from?: K; to?: K; prefix?: Buffer; after?: K; reverse?: boolean; limit: number },
  ): Promise<Array<[K, V]>> {
    const store = this.topology.store(storeName);
    const task = await this.committedTaskOf(storeName);
    const bytes = (key: K | undefined) => (key === undefined ? undefined : store.keySerde.serialize(key));
    const entries = await task.state.rangeCommitted(storeName, {
      limit: query.limit,
      ...(query.from !== undefined ? { from: bytes(query.from) } : {}),
      ...(query.to !== undefined ? { to: bytes(query.to) } : {}),
      ...(query.after !== undefined ? { after: bytes(query.after) } : {}),
      ...(query.prefix ? { prefix: query.prefix } : {}),
      ...(query.reverse ? { reverse: true } : {}),
    });
    return entries.map(([k, v]) => [store.keySerde.deserialize(k) as K, store.valueSerde.deserialize(v) as V]);
  }

  /** Every row of a store, decoded. */
  async all<K, V>(storeName: string): Promise<Map<K, V>> {
    const store = this.topology.store(storeName);
    const task = await this.committedTaskOf(storeName);
    const rows = new Map<K, V>();
    const prefix = storePrefix(storeName);
    for await (const [key, value] of task.state.backend.entries(prefix)) {
      rows.set(store.keySerde.deserialize(key.subarray(prefix.length)) as K, store.valueSerde.deserialize(value) as V);
    }
    return rows;
  }

  /** Commits every task after the commits already queued (a task commits one at a time). */
  private queueCommit(): void {
    this.commits = this.commits.then(() => this.commitAll());
  }

  /** The task holding a store, once everything processed so far is committed to it. */
  private async committedTaskOf(storeName: string): Promise<TaskCore> {
    const task = this.tasks.find((t) => t.state.storeNames.includes(storeName));
    if (!task) throw new Error(`no store named ${storeName}`);
    this.queueCommit();
    await this.commits;
    return task;
  }

  private async commitAll(): Promise<void> {
    for (const task of this.tasks) {
      const snapshot = task.state.startCommit();
      const expiries = task.windowExpiries();
      await snapshot.apply(new Map());
      await task.expireWindows(expiries);
    }
  }
}
