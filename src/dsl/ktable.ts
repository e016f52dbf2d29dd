import type { AnyFn, JoinMode, StoreSpec, TopologyGraph } from './graph.js';
import type { ForeignKeyJoined, Grouped, KeyValue, Materialized } from './options.js';
import type { Serde } from '../serdes/serde.js';
import { responseSerde, subscribersSerde, subscriptionSerde } from '../processor/nodes/foreign-key-join.js';
import { KGroupedTable } from './kgrouped.js';
import type { Suppressed } from './suppressed.js';
import { bytesSerde } from '../serdes/primitive.js';
import { sessionWindowedSerde, timeWindowedSerde } from '../serdes/windowed.js';
import { KStream } from './kstream.js';
import { checkName } from './names.js';

/**
 * A changelog stream read as a table: the latest value per key, where a null
 * value deletes the key. Updates flow downstream as changes (new and old value).
 */
export class KTable<K, V> {
  constructor(
    protected readonly graph: TopologyGraph,
    readonly nodeId: string,
    /** The store holding this table's rows, if it is materialized. */
    readonly storeName?: string,
  ) {}

  /**
   * Maps each row. `timestamp` is that of the change being processed (e.g. the
   * source commit time); it is undefined when the row is computed for a lookup
   * by a downstream join, which only happens when this table is not materialized.
   */
  mapValues<V2>(
    fn: (value: V, key: K, timestamp: number | undefined) => V2,
    materialized?: Materialized<K, V2>,
    name?: string,
  ): KTable<K, V2> {
    const id = this.graph.operatorName('table-map-values', name);
    const store = storeSpec(this.graph, 'map-values', materialized);
    this.graph.add({ kind: 'map-values', id, parents: [this.nodeId], emitsChanges: true, fn, store });
    return new KTable(this.graph, id, store?.name);
  }

  filter(predicate: (key: K, value: V) => boolean, materialized?: Materialized<K, V>, name?: string): KTable<K, V> {
    const id = this.graph.operatorName('table-filter', name);
    const store = storeSpec(this.graph, 'filter', materialized);
    this.graph.add({ kind: 'filter', id, parents: [this.nodeId], emitsChanges: true, predicate, store });
    return new KTable(this.graph, id, store?.name);
  }

  /**
   * Regroups rows under a new key. An update sends the old row's contribution
   * to its old group (to be subtracted) and the new row's to its new group.
   */
  groupBy<K2, V2>(selector: (key: K, value: V) => KeyValue<K2, V2>, grouped: Grouped<K2, V2>): KGroupedTable<K2, V2> {
    const id = this.graph.nextName('group-by');
    const repartition = checkName('repartition topic', grouped.name ?? id);
    this.graph.add({
      kind: 'group-by',
      id,
      parents: [this.nodeId],
      emitsChanges: true,
      selector,
      repartition,
      keySerde: grouped.keySerde,
      valueSerde: grouped.valueSerde,
    });
    return new KGroupedTable(this.graph, id, grouped.keySerde, grouped.valueSerde);
  }

  /** Inner join on the key with a co-partitioned table: a row exists when both sides have one. */
  join<V2, R>(
    other: KTable<K, V2>,
    joiner: (left: V, right: V2) => R,
    materialized?: Materialized<K, R>,
    name?: string,
  ): KTable<K, R>;
  /**
   * Foreign-key join (Kafka Streams' KIP-213): each row joins the other table's row whose key
   * `foreignKey` takes from it (and from its own key, KIP-1104); the tables need not be co-partitioned. A row exists when both sides
   * have one. Goes through two internal topics (`<name>-subscription-registration`,
   * `<name>-subscription-response`) and keeps the subscriptions in a store of the other table's tasks.
   */
  join<KO, VO, R>(
    other: KTable<KO, VO>,
    foreignKey: (value: V, key: K) => KO | null,
    joiner: (left: V, right: VO) => R,
    options: ForeignKeyJoined<K, V, KO, VO, R>,
  ): KTable<K, R>;
  join(other: KTable<unknown, unknown>, ...rest: unknown[]): KTable<K, unknown> {
    return this.anyJoin(other, rest, 'inner');
  }

  /** Left join: a row exists when this side has one; the joiner gets null for a missing right row. */
  leftJoin<V2, R>(
    other: KTable<K, V2>,
    joiner: (left: V, right: V2 | null) => R,
    materialized?: Materialized<K, R>,
    name?: string,
  ): KTable<K, R>;
  /** Foreign-key left join: as the foreign-key join, and a row without a match joins null. */
  leftJoin<KO, VO, R>(
    other: KTable<KO, VO>,
    foreignKey: (value: V, key: K) => KO | null,
    joiner: (left: V, right: VO | null) => R,
    options: ForeignKeyJoined<K, V, KO, VO, R>,
  ): KTable<K, R>;
  leftJoin(other: KTable<unknown, unknown>, ...rest: unknown[]): KTable<K, unknown> {
    return this.anyJoin(other, rest, 'left');
  }

  /** join and leftJoin's overloads, told apart by the third argument (a joiner: a foreign-key join). */
  private anyJoin(other: KTable<unknown, unknown>, rest: unknown[], mode: 'inner' | 'left'): KTable<K, unknown> {
    if (typeof rest[1] === 'function') {
      const [foreignKey, joiner, options] = rest as [AnyFn, AnyFn, ForeignKeyJoined<K, V, unknown, unknown, unknown>];
      return this.foreignKeyJoin(other, foreignKey, joiner, options, mode === 'left');
    }
    const [joiner, materialized, name] = rest as [AnyFn, Materialized<K, unknown> | undefined, string | undefined];
    return this.addJoin(other as KTable<K, unknown>, joiner, mode, materialized, name);
  }

  private foreignKeyJoin(
    other: KTable<unknown, unknown>,
    foreignKey: AnyFn,
    joiner: AnyFn,
    options: ForeignKeyJoined<K, V, unknown, unknown, unknown>,
    leftJoin: boolean,
  ): KTable<K, unknown> {
    const name = this.graph.operatorName(leftJoin ? 'fk-left-join' : 'fk-join', options.name);
    const mine = tableSerdes(this.graph, this.nodeId);
    const theirs = tableSerdes(this.graph, other.nodeId);
    const needed = <T>(serde: Serde<T> | undefined, what: string): Serde<unknown> => {
      if (!serde) {
        throw new Error(
          `topology: foreign-key join ${name}: give ${what} (the table is not materialized, so it has none)`,
        );
      }
      return serde as Serde<unknown>;
    };
    const keySerde = needed(options.keySerde ?? mine?.keySerde, 'keySerde');
    const valueSerde = needed(options.valueSerde ?? mine?.valueSerde, 'valueSerde');
    const foreignKeySerde = needed(options.otherKeySerde ?? theirs?.keySerde, 'otherKeySerde');
    const otherValueSerde = needed(options.otherValueSerde ?? theirs?.valueSerde, 'otherValueSerde');
    const registration = checkName('repartition topic', `${name}-subscription-registration`);
    const response = checkName('repartition topic', `${name}-subscription-response`);
    const node = (id: string, parents: string[]) => ({ id, parents, emitsChanges: false });

    this.graph.add({
      ...node(`${name}-subscribe`, [this.nodeId]),
      kind: 'fk-subscribe',
      extractor: foreignKey,
      keySerde,
      valueSerde,
      foreignKeySerde,
    });
    this.graph.add({
      ...node(registration, [`${name}-subscribe`]),
      kind: 'repartition',
      repartition: registration,
      keySerde: foreignKeySerde,
      valueSerde: subscriptionSerde as Serde<unknown>,
    });
    this.graph.add({
      ...node(`${name}-subscriptions`, [registration, other.nodeId]),
      kind: 'fk-subscriptions',
      store: {
        name: checkName('store', `${name}-subscription-store`),
        keySerde: foreignKeySerde,
        valueSerde: subscribersSerde as Serde<unknown>,
      },
      keySerde,
    });
    this.graph.add({
      ...node(response, [`${name}-subscriptions`]),
      kind: 'repartition',
      repartition: response,
      keySerde,
      valueSerde: responseSerde(otherValueSerde) as Serde<unknown>,
    });
    const store = storeSpec(this.graph, 'fk-join', {
      storeName: options.materialized.storeName ?? `${name}-store`,
      keySerde,
      valueSerde: options.materialized.valueSerde,
    })!;
    this.graph.add({
      id: name,
      parents: [response, this.nodeId],
      emitsChanges: true,
      kind: 'fk-resolve',
      extractor: foreignKey,
      joiner,
      leftJoin,
      valueSerde,
      store,
    });
    return new KTable(this.graph, name, store.name);
  }

  /** Outer join: a row exists when either side has one; the joiner gets null for the missing side. */
  outerJoin<V2, R>(
    other: KTable<K, V2>,
    joiner: (left: V | null, right: V2 | null) => R,
    materialized?: Materialized<K, R>,
    name?: string,
  ): KTable<K, R> {
    return this.addJoin(other, joiner, 'outer', materialized, name);
  }

  /**
   * Holds the table's changes back until their time comes (Suppressed): the final result of each
   * window, or the latest change of a key once a time limit has passed in stream time. `serdes` are
   * needed when this table keeps none (it is not materialized).
   */
  suppress(suppressed: Suppressed, serdes?: { keySerde: Serde<K>; valueSerde: Serde<V> }): KTable<K, V> {
    const id = this.graph.operatorName('suppress', suppressed.name);
    const own = serdes ?? tableSerdes(this.graph, this.nodeId);
    if (!own) throw new Error(`topology: ${id}: give the table's serdes (it is not materialized, so it has none)`);
    const { buffer } = suppressed;
    this.graph.add({
      kind: 'suppress',
      id,
      parents: [this.nodeId],
      emitsChanges: true,
      until: suppressed.until,
      waitMs: suppressed.until === 'window-close' ? graceUpstream(this.graph, this.nodeId, id) : suppressed.timeLimitMs,
      maxRecords: buffer.maxRecords,
      maxBytes: buffer.maxBytes,
      whenFull: buffer.whenFull,
      keySerde: own.keySerde as Serde<unknown>,
      valueSerde: own.valueSerde as Serde<unknown>,
      store: {
        name: checkName('store', `${id}-store`),
        keySerde: bytesSerde as Serde<unknown>,
        valueSerde: bytesSerde as Serde<unknown>,
      },
    });
    return new KTable(this.graph, id);
  }

  /** The stream of this table's updates; a deleted row becomes a record with a null value. */
  toStream(name?: string): KStream<K, V> {
    const id = this.graph.operatorName('to-stream', name);
    this.graph.add({ kind: 'to-stream', id, parents: [this.nodeId], emitsChanges: false });
    return new KStream(this.graph, id);
  }

  private addJoin<V2, R>(
    other: KTable<K, V2>,
    joiner: (left: V, right: V2) => R,
    mode: JoinMode,
    materialized: Materialized<K, R> | undefined,
    name: string | undefined,
  ): KTable<K, R> {
    const id = this.graph.operatorName(mode === 'inner' ? 'join' : `${mode}-join`, name);
    const store = storeSpec(this.graph, 'join', materialized);
    this.graph.add({
      kind: 'join',
      id,
      parents: [this.nodeId, other.nodeId],
      emitsChanges: true,
      joiner,
      mode,
      store,
    });
    return new KTable(this.graph, id, store?.name);
  }
}

export function storeSpec<K, V>(
  graph: TopologyGraph,
  prefix: string,
  materialized: Materialized<K, V> | undefined,
): StoreSpec | undefined {
  if (!materialized) return undefined;
  return {
    name: checkName('store', materialized.storeName ?? graph.nextName(`${prefix}-store`)),
    keySerde: materialized.keySerde as StoreSpec['keySerde'],
    valueSerde: materialized.valueSerde as StoreSpec['valueSerde'],
    ...(materialized.lineage ? { lineage: true } : {}),
  };
}

/** A table's serdes, where its node keeps them (a materialized table). */
function tableSerdes(graph: TopologyGraph, nodeId: string): Pick<StoreSpec, 'keySerde' | 'valueSerde'> | undefined {
  const node = graph.get(nodeId);
  // A windowed aggregate's store keeps each aggregate with its timestamp; its rows are the aggregates.
  if (node.kind === 'window-aggregate') return { keySerde: node.store.keySerde, valueSerde: node.aggregateSerde };
  if (node.kind === 'session-aggregate')
    return { keySerde: sessionWindowedSerde(node.keySerde), valueSerde: node.aggregateSerde };
  if (node.kind === 'sliding-aggregate')
    return {
      keySerde: timeWindowedSerde(node.keySerde, node.windows.timeDifferenceMs) as Serde<unknown>,
      valueSerde: node.aggregateSerde,
    };
  return 'store' in node && node.store ? node.store : undefined;
}

/**
 * The grace period of the windowed aggregation a table comes from (through table transforms), which
 * untilWindowCloses waits for; as Kafka Streams, a table not from one cannot suppress until windows close.
 */
function graceUpstream(graph: TopologyGraph, nodeId: string, suppressId: string): number {
  const node = graph.get(nodeId);
  if (node.kind === 'window-aggregate' || node.kind === 'sliding-aggregate') return node.windows.graceMs;
  if (node.kind === 'session-aggregate') return node.windows.gapMs + node.windows.graceMs;
  if (node.kind === 'map-values' || node.kind === 'filter' || node.kind === 'suppress')
    return graceUpstream(graph, node.parents[0]!, suppressId);
  throw new Error(
    `topology: ${suppressId} suppresses until windows close, but its table does not come from a windowed aggregation`,
  );
}
