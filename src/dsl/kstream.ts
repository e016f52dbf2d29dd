import type { AnyFn, GraphNode, JoinMode, StoreSpec, TopologyGraph } from './graph.js';
import type { Grouped, KeyValue, Materialized, Produced, Repartitioned, StreamJoined } from './options.js';
import { JoinWindows } from './windows.js';
import type { Serde } from '../serdes/serde.js';
import { bytesSerde } from '../serdes/primitive.js';
import { windowRowsSerde } from '../serdes/windowed.js';
import { KTable, storeSpec } from './ktable.js';
import { GlobalKTable } from './global-ktable.js';
import { KGroupedStream } from './kgrouped.js';
import { BranchedKStream } from './branched.js';
import { checkName } from './names.js';
import type { ProcessorSupplier } from '../processor/api.js';

/** Node fields every operator gets from its position; the caller adds the operator's own. */
type Placed = Pick<GraphNode, 'id' | 'parents' | 'emitsChanges'>;

/** An unbounded stream of independent records. */
export class KStream<K, V> {
  constructor(
    protected readonly graph: TopologyGraph,
    /** The node whose output this stream is. */
    readonly nodeId: string,
  ) {}

  mapValues<V2>(fn: (value: V, key: K) => V2, name?: string): KStream<K, V2> {
    return this.then({ ...this.place('map-values', name), kind: 'map-values', fn });
  }

  filter(predicate: (key: K, value: V) => boolean, name?: string): KStream<K, V> {
    return this.then({ ...this.place('filter', name), kind: 'filter', predicate });
  }

  /** The records the predicate rejects. */
  filterNot(predicate: (key: K, value: V) => boolean, name?: string): KStream<K, V> {
    return this.filter((key, value) => !predicate(key, value), name ?? this.graph.nextName('filter-not'));
  }

  /** Gives each record a new key. A grouping or join after it must repartition by the new key. */
  selectKey<K2>(fn: (key: K, value: V) => K2, name?: string): KStream<K2, V> {
    return this.then({ ...this.place('select-key', name), kind: 'select-key', fn });
  }

  /** A new key and value for each record (the key changes: see selectKey). */
  map<K2, V2>(fn: (key: K, value: V) => KeyValue<K2, V2>, name?: string): KStream<K2, V2> {
    return this.then({ ...this.place('map', name), kind: 'map', fn });
  }

  /** Zero or more records for each record, with new keys (see selectKey). */
  flatMap<K2, V2>(fn: (key: K, value: V) => Iterable<KeyValue<K2, V2>>, name?: string): KStream<K2, V2> {
    return this.then({ ...this.place('flat-map', name), kind: 'flat-map', fn });
  }

  /** Zero or more values for each record, under its key. */
  flatMapValues<V2>(fn: (value: V, key: K) => Iterable<V2>, name?: string): KStream<K, V2> {
    return this.then({ ...this.place('flat-map-values', name), kind: 'flat-map-values', fn });
  }

  /** Calls `fn` on each record (for side effects such as logging) and passes the record on unchanged. */
  peek(fn: (key: K, value: V) => void, name?: string): KStream<K, V> {
    return this.then({ ...this.place('peek', name), kind: 'peek', fn });
  }

  /**
   * Calls `fn` on each record; the stream ends here. It runs when the task processes the record,
   * which may be again after a crash (records since the last commit are processed again).
   */
  foreach(fn: (key: K, value: V) => void, name?: string): void {
    this.then({ ...this.place('foreach', name), kind: 'foreach', fn });
  }

  /** This stream's and the others' records in one stream, in the order they are processed. */
  merge(other: KStream<K, V>, name?: string): KStream<K, V> {
    const id = this.graph.operatorName('merge', name);
    return this.then({ id, parents: [this.nodeId, other.nodeId], emitsChanges: false, kind: 'merge' });
  }

  /**
   * Runs a processor of the Processor API (src/processor/api.ts) on each record: one per task, made by
   * `supplier`, with the stores named in `stores` (added with StreamsBuilder.addStateStore). What it
   * forwards is the returned stream; a processor may change keys (as selectKey does).
   */
  process<K2, V2>(
    supplier: ProcessorSupplier<K, V, K2, V2>,
    options: { name?: string; stores?: readonly string[] } = {},
  ): KStream<K2, V2> {
    return this.then({
      ...this.place('process', options.name),
      kind: 'process',
      supplier,
      stores: [...(options.stores ?? [])],
    });
  }

  /**
   * As process, but the processor keeps each record's key (Kafka Streams' processValues, KIP-820): it
   * forwards records with the key of the record it is processing, so the stream stays partitioned as
   * it was (a groupByKey after it needs no repartition). Forwarding another key fails the record.
   */
  processValues<V2>(
    supplier: ProcessorSupplier<K, V, K, V2>,
    options: { name?: string; stores?: readonly string[] } = {},
  ): KStream<K, V2> {
    return this.then({
      ...this.place('process-values', options.name),
      kind: 'process',
      supplier,
      stores: [...(options.stores ?? [])],
      fixedKey: true,
    });
  }

  /**
   * Splits the stream by predicates: each record goes to the first branch it satisfies. `name`
   * names the split and prefixes its branches' names in the result, as in Kafka Streams.
   */
  split(name?: string): BranchedKStream<K, V> {
    const id = this.graph.operatorName('split', name);
    return new BranchedKStream(this.graph, this.nodeId, id, name ?? '');
  }

  /**
   * Writes the records through an internal topic partitioned by their current key; what follows
   * reads that topic in other tasks. Use it after a key change, before a join or a stateful
   * operation on the new key (grouping repartitions by itself).
   */
  repartition(repartitioned: Repartitioned<K, V>): KStream<K, V> {
    const id = this.graph.nextName('repartition');
    return this.then({
      id,
      parents: [this.nodeId],
      emitsChanges: false,
      kind: 'repartition',
      repartition: checkName('repartition topic', repartitioned.name ?? id),
      keySerde: repartitioned.keySerde,
      valueSerde: repartitioned.valueSerde,
    });
  }

  /** Regroups records by a new key, through a repartition topic. */
  groupBy<K2>(selector: (key: K, value: V) => K2, grouped: Grouped<K2, V>): KGroupedStream<K2, V> {
    const id = this.graph.nextName('group-by');
    this.graph.add({
      kind: 'group-by',
      id,
      parents: [this.nodeId],
      emitsChanges: false,
      selector: (key: K, value: V) => ({ key: selector(key, value), value }),
      repartition: checkName('repartition topic', grouped.name ?? id),
      keySerde: grouped.keySerde,
      valueSerde: grouped.valueSerde,
    });
    return new KGroupedStream(this.graph, id, grouped.keySerde, grouped.valueSerde);
  }

  /**
   * Groups records by their key. Only when the key was changed since the stream was read (selectKey,
   * map, flatMap) do the records go through a repartition topic; otherwise they stay in their task.
   */
  groupByKey(grouped: Grouped<K, V>): KGroupedStream<K, V> {
    const id = this.graph.nextName('group-by-key');
    const repartition = this.graph.keyChanged(this.nodeId)
      ? checkName('repartition topic', grouped.name ?? id)
      : undefined;
    this.graph.add({
      kind: 'group-by',
      id,
      parents: [this.nodeId],
      emitsChanges: false,
      selector: (key: K, value: V) => ({ key, value }),
      ...(repartition ? { repartition } : {}),
      keySerde: grouped.keySerde,
      valueSerde: grouped.valueSerde,
    });
    return new KGroupedStream(this.graph, id, grouped.keySerde, grouped.valueSerde);
  }

  /**
   * Joins each record with the table's current row for its key (the table must be partitioned as
   * this stream is); a record whose key has no row, or whose value is null, gives nothing. Table
   * updates give nothing by themselves: only stream records look rows up.
   */
  join<VT, R>(table: KTable<K, VT>, joiner: (value: V, row: VT) => R, name?: string): KStream<K, R>;
  /**
   * Joins each record with the global table's row for the key `keySelector` computes from it (any
   * key: a global table is whole on every instance). A record whose computed key is null or has no
   * row, or whose value is null, gives nothing. The result keeps the record's own key.
   */
  join<GK, GV, R>(
    table: GlobalKTable<GK, GV>,
    keySelector: (key: K, value: V) => GK | null,
    joiner: (value: V, row: GV, key: K) => R,
    name?: string,
  ): KStream<K, R>;
  /**
   * Joins each record with the other stream's records of its key whose time is within the window
   * (JoinWindows), either side arriving first; each result has the later of the two times. Both
   * streams must be partitioned alike (same key, same partition count); null keys and values join nothing.
   */
  join<VO, R>(
    other: KStream<K, VO>,
    joiner: (value: V, other: VO, key: K) => R,
    windows: JoinWindows,
    joined: StreamJoined<K, V, VO>,
  ): KStream<K, R>;
  join(
    table: KTable<K, unknown> | GlobalKTable<unknown, unknown> | KStream<K, unknown>,
    ...rest: unknown[]
  ): KStream<K, unknown> {
    if (table instanceof KStream) return this.windowedJoin(table, rest, 'inner');
    return this.anyJoin(table, rest, false);
  }

  /** As join, but a record whose key has no row is joined with null. */
  leftJoin<VT, R>(table: KTable<K, VT>, joiner: (value: V, row: VT | null) => R, name?: string): KStream<K, R>;
  /**
   * As join with a global table, but a record whose computed key has no row is joined with null (a
   * null computed key drops the record, unless the record's own key is null too: Kafka Streams' KIP-962).
   */
  leftJoin<GK, GV, R>(
    table: GlobalKTable<GK, GV>,
    keySelector: (key: K, value: V) => GK | null,
    joiner: (value: V, row: GV | null, key: K) => R,
    name?: string,
  ): KStream<K, R>;
  /**
   * As the windowed join, but a record of this stream that no record of the other joins is joined
   * with null, once its window (and grace period) has passed in stream time.
   */
  leftJoin<VO, R>(
    other: KStream<K, VO>,
    joiner: (value: V, other: VO | null, key: K) => R,
    windows: JoinWindows,
    joined: StreamJoined<K, V, VO>,
  ): KStream<K, R>;
  leftJoin(
    table: KTable<K, unknown> | GlobalKTable<unknown, unknown> | KStream<K, unknown>,
    ...rest: unknown[]
  ): KStream<K, unknown> {
    if (table instanceof KStream) return this.windowedJoin(table, rest, 'left');
    return this.anyJoin(table, rest, true);
  }

  /** As the windowed left join, both ways: a record of either stream that nothing joins is joined with null. */
  outerJoin<VO, R>(
    other: KStream<K, VO>,
    joiner: (value: V | null, other: VO | null, key: K) => R,
    windows: JoinWindows,
    joined: StreamJoined<K, V, VO>,
  ): KStream<K, R> {
    return this.windowedJoin(other as KStream<K, unknown>, [joiner, windows, joined], 'outer') as KStream<K, R>;
  }

  /** The windowed stream-stream joins (Kafka Streams' KStreamImplJoin). */
  private windowedJoin(other: KStream<K, unknown>, rest: unknown[], mode: JoinMode): KStream<K, unknown> {
    const [joiner, windows, joined] = rest as [AnyFn, JoinWindows, StreamJoined<K, unknown, unknown>];
    if (!(windows instanceof JoinWindows)) throw new TypeError('a stream-stream join takes JoinWindows');
    const prefix = { inner: 'join', left: 'left-join', outer: 'outer-join' }[mode];
    const id = this.graph.operatorName(`stream-stream-${prefix}`, joined.name);
    const base = checkName('store', joined.storeName ?? id);
    const retentionMs = windows.beforeMs + windows.afterMs + windows.graceMs;
    const side = (suffix: string, valueSerde: Serde<unknown>): StoreSpec => ({
      name: `${base}-${suffix}-store`,
      keySerde: joined.keySerde as Serde<unknown>,
      valueSerde: windowRowsSerde(valueSerde) as Serde<unknown>,
      retentionMs,
    });
    const stores = {
      left: side(mode === 'outer' ? 'outer-this-join' : 'this-join', joined.valueSerde as Serde<unknown>),
      right: side(mode === 'inner' ? 'other-join' : 'outer-other-join', joined.otherValueSerde as Serde<unknown>),
      ...(mode === 'inner'
        ? {}
        : {
            outer: {
              name: `${base}-${mode === 'left' ? 'left' : 'outer'}-shared-join-store`,
              // Raw: the buffer writes its own keys (time, side, key bytes) and lists of values.
              keySerde: bytesSerde as Serde<unknown>,
              valueSerde: bytesSerde as Serde<unknown>,
            },
          }),
    };
    return this.then({
      id,
      parents: [this.nodeId, other.nodeId],
      emitsChanges: false,
      kind: 'stream-stream-join',
      joiner,
      mode,
      windows,
      keySerde: joined.keySerde as Serde<unknown>,
      valueSerdes: [joined.valueSerde as Serde<unknown>, joined.otherValueSerde as Serde<unknown>],
      stores,
    });
  }

  /** The overloads of join and leftJoin, told apart by the table's kind. */
  private anyJoin(
    table: KTable<K, unknown> | GlobalKTable<unknown, unknown>,
    rest: unknown[],
    leftJoin: boolean,
  ): KStream<K, unknown> {
    if (table instanceof GlobalKTable) {
      const [keySelector, joiner, name] = rest as [AnyFn, AnyFn, string | undefined];
      const id = this.graph.operatorName(leftJoin ? 'global-left-join' : 'global-join', name);
      return this.then({
        id,
        parents: [this.nodeId],
        emitsChanges: false,
        kind: 'stream-global-join',
        globalStore: table.storeName,
        keySelector,
        joiner,
        leftJoin,
      });
    }
    const [joiner, name] = rest as [(value: V, row: unknown) => unknown, string | undefined];
    return this.streamTableJoin(table, joiner, leftJoin, name);
  }

  /**
   * Reads this stream as a table: each record upserts its key's row, a null value deletes it. The stream must still be keyed as its source topic is.
   */
  toTable(materialized: Materialized<K, NonNullable<V>>, name?: string): KTable<K, NonNullable<V>> {
    const id = this.graph.operatorName('to-table', name);
    const store = storeSpec(this.graph, 'table', materialized);
    if (!store) throw new Error('unreachable: toTable is always materialized');
    this.graph.add({ kind: 'to-table', id, parents: [this.nodeId], emitsChanges: true, store });
    return new KTable(this.graph, id, store.name);
  }

  /** Writes every record to a topic; a null value is written as a tombstone. */
  to(topic: string, produced: Produced<K, V>): void {
    this.graph.add({
      kind: 'sink',
      id: this.graph.operatorName('sink', produced.name),
      parents: [this.nodeId],
      emitsChanges: false,
      topic: checkName('topic', topic),
      keySerde: produced.keySerde,
      valueSerde: produced.valueSerde,
    });
  }

  private streamTableJoin<VT, R>(
    table: KTable<K, VT>,
    joiner: (value: V, row: VT) => R,
    leftJoin: boolean,
    name: string | undefined,
  ): KStream<K, R> {
    const id = this.graph.operatorName(leftJoin ? 'stream-left-join' : 'stream-join', name);
    return this.then({
      id,
      parents: [this.nodeId, table.nodeId],
      emitsChanges: false,
      kind: 'stream-table-join',
      joiner,
      leftJoin,
    });
  }

  private place(prefix: string, name: string | undefined): Placed {
    return {
      id: this.graph.operatorName(prefix, name),
      parents: [this.nodeId],
      emitsChanges: false,
    };
  }

  /** Adds a stream node and returns the stream of its output. */
  private then<K2, V2>(node: GraphNode): KStream<K2, V2> {
    this.graph.add(node);
    return new KStream<K2, V2>(this.graph, node.id);
  }
}
