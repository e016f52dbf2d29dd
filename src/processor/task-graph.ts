/**
 * The processors of one task: a sub-topology's nodes instantiated against the
 * task's stores and output. Used by the runtime's tasks and by the test driver,
 * so both run exactly the same processing code.
 */
import type { GraphNode, StoreSpec } from '../dsl/graph.js';
import { decodeChangePair } from './change-pair.js';
import {
  isAggregate,
  isWindowedAggregate,
  type CompiledTopology,
  type SourceTopic,
  type SubTopology,
} from './compile.js';
import type { Windowed } from '../dsl/windows.js';
import {
  sessionWindowedSerde,
  timeWindowedSerde,
  windowRowsSerde,
  type ValueAndTimestamp,
  type WindowRow,
} from '../serdes/windowed.js';
import type { Serde } from '../serdes/serde.js';
import { GroupBy, GroupInPlace, Sink } from './nodes/io.js';
import { StreamGlobalJoin, StreamTableJoin, TableJoin } from './nodes/join.js';
import {
  ForeignKeyResolve,
  ForeignKeySubscribe,
  ForeignKeySubscriptions,
  type Subscribers,
} from './nodes/foreign-key-join.js';
import { UserProcessor, type TaskTime } from './nodes/user-processor.js';
import { Punctuation } from './punctuation.js';
import type { ForwardingProcessor } from './nodes/node.js';
import {
  PassThrough,
  StreamFilter,
  StreamFlatMap,
  StreamFlatMapValues,
  StreamMap,
  StreamMapValues,
  StreamPeek,
  StreamSelectKey,
  StreamSplit,
  TableToStream,
  TableTransform,
} from './nodes/stateless.js';
import { Aggregate, ToTable } from './nodes/table.js';
import {
  SessionAggregate,
  WindowAggregate,
  type WindowedAggregate,
  type WindowExpiry,
} from './nodes/window-aggregate.js';
import { SlidingWindowAggregate } from './nodes/sliding-window-aggregate.js';
import { Suppress } from './nodes/suppress.js';
import { StreamTime, streamTimeStoreName } from './nodes/stream-time.js';
import { describeRecord, isLater, lineageHeader, lineageKey, lineageStoreName } from './lineage.js';
import type {
  ChangeCache,
  GlobalStoreReader,
  KeyValueStore,
  Processor,
  ProcessorContext,
  RecordScoped,
  ValueGetter,
} from './types.js';
import { OuterJoinBuffer, StreamStreamJoin, type JoinSideState } from './nodes/stream-stream-join.js';
import { bytesSerde } from '../serdes/primitive.js';

export interface TaskGraphOptions {
  /** Hold back aggregates' changes until the task flushes them (Kafka Streams' record cache). */
  cacheChanges: boolean;
  /** The wall clock processors see (default Date.now; the test driver's is its own). */
  clock?: () => number;
  /** The instance's global stores, for joins with global tables. */
  globalStores?: GlobalStoreReader;
  /** The largest record a node may send (see recordSize); a larger one fails as a production error. */
  maxRecordBytes?: number;
}

/** Decodes a source topic's raw record and hands it to the first processor. */
type SourceHandler = (key: Buffer | null, value: Buffer | null, timestamp: number) => void;

export class TaskGraph {
  private readonly processors = new Map<string, ForwardingProcessor>();
  private readonly sources = new Map<string, SourceHandler>();
  /** Nodes holding back changes until the task flushes them (empty when caching is off). */
  readonly caches: ChangeCache[] = [];

  private readonly children = new Map<string, GraphNode[]>();
  /** The task's punctuators (Processor API), fired by the task (TaskCore). */
  readonly punctuation = new Punctuation();
  private streamTimeMs = -1;
  private readonly time: TaskTime;
  private readonly userProcessors: UserProcessor[] = [];
  /** Nodes whose stores have windows that expire (windowed aggregates, stream-stream joins). */
  private readonly expiring: Array<{ readonly expiries: readonly WindowExpiry[] }> = [];
  /** Nodes holding a buffer in memory (suppressions, outer joins), by the store that mirrors it. */
  private readonly buffers = new Map<string, { load(rows: Iterable<[Buffer, Buffer]>): void }>();
  /**
   * Nodes with state of their own beside their stores' writes (held changes, buffers, times read),
   * told when a record starts and, if it fails, to take back what it did.
   */
  readonly undoable: RecordScoped[] = [];

  constructor(
    private readonly topology: CompiledTopology,
    readonly subtopology: SubTopology,
    private readonly context: ProcessorContext,
    private readonly options: TaskGraphOptions,
  ) {
    const streamTime = () => this.streamTimeMs;
    this.time = {
      get streamTime() {
        return streamTime();
      },
      punctuation: this.punctuation,
      now: options.clock ?? Date.now,
    };
    for (const node of subtopology.nodes)
      for (const parent of node.parents) this.children.set(parent, [...(this.children.get(parent) ?? []), node]);
    for (const node of subtopology.nodes) this.processors.set(node.id, this.create(node));
    for (const node of subtopology.nodes) this.wire(node);
    for (const source of subtopology.sources) this.sources.set(source.topic, this.sourceHandler(source));
  }

  /** The largest timestamp of the records processed so far (-1 before the first): the task's stream time. */
  get streamTime(): number {
    return this.streamTimeMs;
  }

  /**
   * Fills the buffers of suppressions and outer joins from their stores (restored), before the first record; `rows`
   * reads a store's committed rows.
   */
  async loadBuffers(rows: (storeName: string) => AsyncIterable<[Buffer, Buffer]>): Promise<void> {
    for (const [storeName, buffered] of this.buffers) {
      const loaded: Array<[Buffer, Buffer]> = [];
      for await (const row of rows(storeName)) loaded.push(row);
      buffered.load(loaded);
    }
  }

  /** The window and session stores whose windows have started to expire, and how to drop those. */
  expiredWindows(): WindowExpiry[] {
    const expired: WindowExpiry[] = [];
    for (const node of this.expiring) expired.push(...node.expiries);
    return expired;
  }

  /** Initializes the task's processors of the Processor API: its stores are restored, records come next. */
  init(): void {
    for (const processor of this.userProcessors) processor.init();
  }

  /** Lets the task's processors of the Processor API clean up (the task is closing). */
  close(): void {
    for (const processor of this.userProcessors) processor.close();
  }

  get sourceTopics(): string[] {
    return [...this.sources.keys()];
  }

  /** Processes one record of a source topic. Throws on input it cannot decode or accept. */
  process(topic: string, key: Buffer | null, value: Buffer | null, timestamp: number): void {
    const handler = this.sources.get(topic);
    if (!handler) throw new Error(`task ${this.context.taskId}: not a source topic: ${topic}`);
    const origin = this.context.origin;
    if (origin.headers) origin.lineage = lineageHeader(origin.headers);
    handler(key, value, timestamp);
  }

  private sourceHandler({ topic, nodeIds }: SourceTopic): SourceHandler {
    const node = this.topology.graph.get(nodeIds[0]!);
    const processors = nodeIds.map((id) => this.processors.get(id)!);
    if (node.kind === 'stream-source') {
      const extract = node.timestampExtractor;
      const lineage = node.lineage;
      return (key, value, timestamp) => {
        const decoded = value === null ? null : node.valueSerde.deserialize(value);
        const time = extract ? extract(decoded, timestamp) : timestamp;
        this.observeTime(time);
        // A lineage header on a topic this application does not write is someone else's: not ours to trust.
        const origin = this.context.origin;
        origin.lineage = lineage ? describeRecord(origin, time, lineage(decoded)) : undefined;
        processors[0]!.process(key === null ? null : node.keySerde.deserialize(key), decoded, time);
      };
    }
    const writer = this.topology.graph.get(node.parents.find((p) => this.writesTopic(node.id, p, topic))!);
    if (writer.kind === 'repartition') {
      // Each reader gets the records as its parent on that side would have forwarded them.
      const inputs = nodeIds.flatMap((id) => {
        const reader = this.topology.graph.get(id);
        return reader.parents.flatMap((p, index) =>
          this.writesTopic(id, p, topic) ? [this.inputFor(reader, index)] : [],
        );
      });
      return (key, value, timestamp) => {
        this.observeTime(timestamp);
        const k = key === null ? null : writer.keySerde.deserialize(key);
        const v = value === null ? null : writer.valueSerde.deserialize(value);
        for (const input of inputs) input.process(k, v, timestamp);
      };
    }
    if (isAggregate(node)) {
      const groupBy = writer;
      if (groupBy.kind !== 'group-by') throw new Error('unreachable: an aggregate follows a groupBy');
      return (key, value, timestamp) => {
        this.observeTime(timestamp);
        if (key === null || value === null) return; // repartition records always have both
        const pair = decodeChangePair(value);
        const decode = (bytes: Buffer | null) => (bytes === null ? null : groupBy.valueSerde.deserialize(bytes));
        const groupKey = groupBy.keySerde.deserialize(key);
        const change = { newValue: decode(pair.newValue), oldValue: decode(pair.oldValue) };
        for (const processor of processors) processor.process(groupKey, change, timestamp);
      };
    }
    throw new Error(`unreachable: ${node.id} is not a source`);
  }

  private observeTime(timestamp: number): void {
    if (timestamp > this.streamTimeMs) this.streamTimeMs = timestamp;
  }

  /** A global store as processors of the Processor API see it: readable, never written (its topic is its source). */
  private readOnlyGlobal(storeName: string): KeyValueStore<unknown, unknown> {
    const get = this.globalGetter(storeName);
    return {
      name: storeName,
      get: (key) => get(key) as unknown,
      put: () => {
        throw new Error(`the global store "${storeName}" is read-only: write to its topic instead`);
      },
    };
  }

  /** Reads a global store's rows, typed by its serdes. */
  private globalGetter(storeName: string): ValueGetter {
    const store = this.topology.globalStore(storeName);
    const reader = this.options.globalStores;
    if (!reader) throw new Error(`task ${this.context.taskId}: no global stores to read "${storeName}" from`);
    return (key) => {
      const row = reader.get(storeName, store.keySerde.serialize(key));
      return row === undefined ? null : store.valueSerde.deserialize(row);
    };
  }

  /** Whether node `nodeId` gets the records of its parent `parentId` through the repartition topic `topic`. */
  private writesTopic(nodeId: string, parentId: string, topic: string): boolean {
    return this.topology.throughTopic(nodeId, parentId) && this.topology.repartitionTopic(parentId) === topic;
  }

  private create(node: GraphNode): ForwardingProcessor {
    const spec = 'store' in node ? node.store : undefined;
    const store =
      spec && (spec.lineage ? this.storeWithLineage(spec) : this.context.store<unknown, unknown>(spec.name));
    switch (node.kind) {
      case 'stream-source':
      case 'merge':
      case 'branch':
        return new PassThrough();
      case 'map':
        return new StreamMap(node.fn);
      case 'flat-map':
        return new StreamFlatMap(node.fn);
      case 'flat-map-values':
        return new StreamFlatMapValues(node.fn);
      case 'peek':
      case 'foreach':
        return new StreamPeek(node.fn);
      case 'split':
        return new StreamSplit(node.predicates);
      case 'repartition':
        return new Sink(this.context, this.topology.repartitionTopic(node.id), node.keySerde, node.valueSerde, {
          lineage: true,
        });
      case 'stream-table-join':
        return new StreamTableJoin(node.joiner, node.leftJoin, this.valueGetter(node.parents[1]!));
      case 'stream-global-join':
        return new StreamGlobalJoin(node.keySelector, node.joiner, node.leftJoin, this.globalGetter(node.globalStore));
      case 'fk-subscribe':
        return new ForeignKeySubscribe(node.extractor, node.keySerde, node.valueSerde, node.foreignKeySerde);
      case 'fk-subscriptions':
        return new ForeignKeySubscriptions(
          store as KeyValueStore<unknown, Subscribers>,
          this.valueGetter(node.parents[1]!),
          node.keySerde,
        );
      case 'fk-resolve':
        return new ForeignKeyResolve(
          node.extractor,
          node.joiner,
          node.leftJoin,
          this.valueGetter(node.parents[1]!),
          node.valueSerde,
          store!,
        );
      case 'global-table-source':
        throw new Error(`unreachable: global table source ${node.id} in a task`);
      case 'process': {
        const processor = new UserProcessor(
          node.id,
          node.supplier,
          this.context,
          node.stores,
          this.time,
          (name) => (this.topology.globalStores.some((g) => g.name === name) ? this.readOnlyGlobal(name) : undefined),
          node.fixedKey ?? false,
        );
        this.userProcessors.push(processor);
        return processor;
      }
      case 'map-values':
        return node.emitsChanges
          ? new TableTransform(TableTransform.mapValues(node.fn), store, this.sendsOldValues(node.id))
          : new StreamMapValues(node.fn);
      case 'filter':
        return node.emitsChanges
          ? new TableTransform(TableTransform.filter(node.predicate), store, this.sendsOldValues(node.id))
          : new StreamFilter(node.predicate);
      case 'select-key':
        return new StreamSelectKey(node.fn);
      case 'to-stream':
        return new TableToStream();
      case 'to-table':
        return new ToTable(store!, this.sendsOldValues(node.id));
      case 'group-by':
        return node.repartition === undefined
          ? new GroupInPlace()
          : new GroupBy(
              this.context,
              this.topology.repartitionTopic(node.id),
              node.selector,
              node.keySerde,
              node.valueSerde,
              node.emitsChanges,
              this.topology.graph.children(node.id).some(isWindowedAggregate),
            );
      case 'aggregate': {
        const groupBy = this.topology.graph.get(node.parents[0]!);
        if (groupBy.kind !== 'group-by') throw new Error('unreachable: an aggregate follows a groupBy');
        const caching = this.options.cacheChanges ? { context: this.context, keySerde: groupBy.keySerde } : undefined;
        const aggregate = new Aggregate(store!, node.initializer, node.adder, node.subtractor, caching);
        if (caching) {
          this.caches.push(aggregate);
          this.undoable.push(aggregate);
        }
        return aggregate;
      }
      case 'window-aggregate': {
        const caching = this.options.cacheChanges
          ? { context: this.context, keySerde: node.store.keySerde }
          : undefined;
        const aggregate = new WindowAggregate(
          this.context,
          this.streamTimeOf(node.store.name),
          store as KeyValueStore<Windowed<unknown>, ValueAndTimestamp<unknown>>,
          node.windows,
          node.initializer,
          node.adder,
          node.store.retentionMs ?? node.windows.sizeMs + node.windows.graceMs,
          caching,
        );
        return this.keepWindowed(aggregate, caching !== undefined);
      }
      case 'session-aggregate': {
        const windowedKeys = sessionWindowedSerde(node.keySerde);
        const caching = this.options.cacheChanges ? { context: this.context, keySerde: windowedKeys } : undefined;
        const aggregate = new SessionAggregate(
          this.context,
          this.streamTimeOf(node.store.name),
          store as KeyValueStore<unknown, WindowRow<unknown>[]>,
          node.store.valueSerde as Serde<WindowRow<unknown>[]>,
          node.windows,
          node.initializer,
          node.adder,
          node.merger,
          node.store.retentionMs ?? node.windows.gapMs + node.windows.graceMs,
          caching,
        );
        return this.keepWindowed(aggregate, caching !== undefined);
      }
      case 'sliding-aggregate': {
        const caching = this.options.cacheChanges
          ? { context: this.context, keySerde: timeWindowedSerde(node.keySerde, node.windows.timeDifferenceMs) }
          : undefined;
        const storeTime = this.streamTimeOf(node.store.name, 'store');
        const aggregate = new SlidingWindowAggregate(
          this.context,
          this.streamTimeOf(node.store.name),
          storeTime,
          store as KeyValueStore<unknown, WindowRow<unknown>[]>,
          node.store.valueSerde as Serde<WindowRow<unknown>[]>,
          node.windows,
          node.initializer,
          node.adder,
          node.store.retentionMs ?? 2 * node.windows.timeDifferenceMs + node.windows.graceMs,
          caching,
        );
        return this.keepWindowed(aggregate, caching !== undefined);
      }
      case 'suppress': {
        const suppress = new Suppress(
          this.context,
          this.streamTimeOf(node.store.name),
          store as KeyValueStore<Buffer, Buffer>,
          node,
        );
        // Always a change cache: what it lets through goes downstream when the task flushes.
        this.caches.push(suppress);
        this.undoable.push(suppress);
        this.buffers.set(node.store.name, suppress);
        return suppress;
      }
      case 'join':
        return new TableJoin(
          node.joiner,
          node.mode,
          this.valueGetter(node.parents[0]!),
          this.valueGetter(node.parents[1]!),
          store,
          this.sendsOldValues(node.id),
        );
      case 'stream-stream-join': {
        const side = (spec: StoreSpec, name: string, valueSerde: Serde<unknown>): JoinSideState => ({
          store: this.context.store<unknown, WindowRow<unknown>[]>(spec.name),
          rowsSerde: spec.valueSerde as Serde<WindowRow<unknown>[]>,
          storeTime: this.streamTimeOf(node.stores.left.name, name),
          valueSerde,
        });
        const outer = node.stores.outer;
        const join = new StreamStreamJoin(
          this.context,
          node.joiner,
          node.mode,
          node.windows,
          {
            left: side(node.stores.left, 'left', node.valueSerdes[0]),
            right: side(node.stores.right, 'right', node.valueSerdes[1]),
          },
          {
            streamTime: this.streamTimeOf(node.stores.left.name),
            minTime: this.streamTimeOf(node.stores.left.name, 'min'),
          },
          outer && new OuterJoinBuffer(this.context.store<Buffer, Buffer>(outer.name), windowRowsSerde(bytesSerde)),
          node.keySerde,
        );
        this.undoable.push(join);
        this.expiring.push(join);
        if (outer) this.buffers.set(outer.name, join);
        return join;
      }
      case 'sink':
        return new Sink(this.context, node.topic, node.keySerde, node.valueSerde);
    }
  }

  /** The stream time of the windowed node whose store is `storeName`, kept beside it. */
  private streamTimeOf(storeName: string, name?: string): StreamTime {
    return new StreamTime(this.context.store<Buffer, Buffer>(streamTimeStoreName(storeName)), name);
  }

  /** A windowed aggregate: its expired windows are dropped after commits, and with caching it holds changes. */
  private keepWindowed<A extends WindowedAggregate>(aggregate: A, caching: boolean): A {
    if (caching) this.caches.push(aggregate);
    this.undoable.push(aggregate);
    this.expiring.push(aggregate);
    return aggregate;
  }

  /**
   * The store, writing beside each row the lineage of the record that wrote it, under the row's key
   * and the record's input topic; a deleted row takes every input topic's lineage with it.
   */
  private storeWithLineage(spec: StoreSpec): KeyValueStore<unknown, unknown> {
    const store = this.context.store<unknown, unknown>(spec.name);
    const lineage = this.context.store<Buffer, Buffer>(lineageStoreName(spec.name));
    const inputIndex = new Map(this.subtopology.sources.map((s, i) => [s.topic, i]));
    const context = this.context;
    return {
      name: store.name,
      get: (key) => store.get(key),
      put(key, value) {
        store.put(key, value);
        const origin = context.origin;
        const keyBytes = spec.keySerde.serialize(key);
        if (value === null) {
          for (const index of inputIndex.values()) lineage.put(lineageKey(keyBytes, index), null);
          return;
        }
        const partKey = lineageKey(keyBytes, inputIndex.get(origin.topic)!);
        const next = origin.lineage ?? describeRecord(origin, origin.timestamp);
        // Changes from different source partitions arrive in no set order: keep the later in the source.
        const kept = lineage.get(partKey);
        if (kept === null || !isLater(kept, next)) lineage.put(partKey, next);
      },
    };
  }

  /**
   * Whether a child of a table node uses the old side of its changes (Kafka Streams' sendOldValues): a
   * regrouping subtracts it, and a table transform or join without a store of its own works out its
   * old row from it (also to tell a delete of a row it never had). Changes that reach only toStream,
   * sinks and nodes with stores of their own need no old rows, so none is read or computed.
   */
  private sendsOldValues(nodeId: string): boolean {
    return (this.children.get(nodeId) ?? []).some((child) => {
      switch (child.kind) {
        case 'to-stream':
        case 'sink':
        case 'stream-table-join':
        case 'fk-subscriptions':
          return false;
        case 'map-values':
        case 'filter':
        case 'join':
          return child.store === undefined;
        default:
          return true;
      }
    });
  }

  /** Connects a node to its parents' processors (a join to each side), except across repartition topics. */
  private wire(node: GraphNode): void {
    node.parents.forEach((parentId, index) => {
      if (this.topology.throughTopic(node.id, parentId)) return; // fed by the topic's source handler
      const parent = this.processors.get(parentId);
      if (!parent) throw new Error(`unreachable: ${parentId} is in another sub-topology`);
      const input = this.inputFor(node, index);
      if (parent instanceof StreamSplit && node.kind === 'branch') parent.branches[node.index] = input;
      else parent.children.push(input);
      if (parent instanceof UserProcessor) parent.named.set(node.id, input);
    });
  }

  /** What a node's parent number `index` forwards to: the node's processor, or one side of a join. */
  private inputFor(node: GraphNode, index: number): Processor {
    const processor = this.processors.get(node.id)!;
    if (processor instanceof TableJoin) return processor.side(index === 0 ? 'left' : 'right');
    if (processor instanceof StreamTableJoin) return processor.side(index === 0 ? 'stream' : 'table');
    if (processor instanceof StreamStreamJoin) return processor.side(index === 0 ? 'left' : 'right');
    if (processor instanceof ForeignKeySubscriptions || processor instanceof ForeignKeyResolve) {
      return processor.side(index);
    }
    return processor;
  }

  /** Reads a table node's current row for a key, from its store or computed from upstream. */
  private valueGetter(nodeId: string): ValueGetter {
    const node = this.topology.graph.get(nodeId);
    if (node.kind === 'window-aggregate') {
      const store = this.context.store<unknown, ValueAndTimestamp<unknown>>(node.store.name);
      return (key) => store.get(key)?.value ?? null;
    }
    if (node.kind === 'session-aggregate') {
      const store = this.context.store<unknown, WindowRow<unknown>[]>(node.store.name);
      return (windowed) => {
        const { key, window } = windowed as Windowed<unknown>;
        const session = (store.get(key) ?? []).find((s) => s.start === window.start && s.end === window.end);
        return session ? session.aggregate : null;
      };
    }
    if (node.kind === 'sliding-aggregate') {
      const store = this.context.store<unknown, WindowRow<unknown>[]>(node.store.name);
      return (windowed) => {
        const { key, window } = windowed as Windowed<unknown>;
        return (store.get(key) ?? []).find((w) => w.start === window.start)?.aggregate ?? null;
      };
    }
    if (node.kind === 'suppress') {
      const suppress = this.processors.get(node.id) as Suppress;
      const parent = this.valueGetter(node.parents[0]!);
      return (key) => suppress.lookup(key, parent);
    }
    if ('store' in node && node.store) {
      const store = this.context.store<unknown, unknown>(node.store.name);
      return (key) => store.get(key);
    }
    if (node.kind === 'map-values' || node.kind === 'filter') {
      const parent = this.valueGetter(node.parents[0]!);
      const apply =
        node.kind === 'map-values' ? TableTransform.mapValues(node.fn) : TableTransform.filter(node.predicate);
      return (key) => {
        const value = parent(key);
        return value === null ? null : apply(key, value, undefined);
      };
    }
    if (node.kind === 'join') {
      const join = this.processors.get(node.id) as TableJoin;
      const left = this.valueGetter(node.parents[0]!);
      const right = this.valueGetter(node.parents[1]!);
      return (key) => join.join(left(key), right(key));
    }
    throw new Error(`topology: ${nodeId} is not a table whose rows can be looked up`);
  }
}
