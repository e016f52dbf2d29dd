/**
 * The logical topology: what the user declared with the DSL, as a graph of
 * nodes. It holds no runtime state; src/processor/compile.ts turns it into
 * sub-topologies and tasks.
 */
import type { Serde } from '../serdes/serde.js';
import { checkName } from './names.js';
import type { JoinWindows, SessionWindows, SlidingWindows, TimeWindows } from './windows.js';

/** Functions stored in the graph are untyped; the DSL's generics type them at the call site. */
/* eslint-disable @typescript-eslint/no-explicit-any -- the graph erases the DSL's generic types */
export type AnyFn = (...args: any[]) => any;
/* eslint-enable @typescript-eslint/no-explicit-any */

export interface StoreSpec {
  readonly name: string;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  /** Keeps the lineage of each row (a companion store; see src/processor/lineage.ts). */
  readonly lineage?: boolean;
  /**
   * A window store's retention: windows that started this long before its aggregate's stream time
   * are deleted, and its changelog deletes records older than this (plus a day) besides compacting.
   */
  readonly retentionMs?: number;
  /** A window or session store: how its rows are laid out, for queries by key and time range. */
  readonly windows?: WindowedStoreLayout;
}

/**
 * A time-window store's keys are windowed keys (timeWindowedSerde of `keySerde`) and its values
 * aggregates with their timestamps; a session store's keys are the group's keys and its values every
 * live session of the key (windowRowsSerde of `aggregateSerde`).
 */
export type WindowedStoreLayout =
  | {
      readonly kind: 'time';
      readonly sizeMs: number;
      readonly keySerde: Serde<unknown>;
      readonly aggregateSerde: Serde<unknown>;
    }
  | { readonly kind: 'session'; readonly keySerde: Serde<unknown>; readonly aggregateSerde: Serde<unknown> }
  /** A sliding-window store: as a session store, a key's windows in one row, each `sizeMs` long. */
  | {
      readonly kind: 'sliding';
      readonly sizeMs: number;
      readonly keySerde: Serde<unknown>;
      readonly aggregateSerde: Serde<unknown>;
    };

/** How a suppression buffer holds a table's changes, and the table's serdes. */
export interface SuppressSpec {
  readonly until: 'window-close' | 'time-limit';
  /** Stream time a buffered change waits past its buffer time: the windows' grace, or the time limit. */
  readonly waitMs: number;
  readonly maxRecords: number;
  readonly maxBytes: number;
  readonly whenFull: 'emit-early' | 'shut-down';
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
}

interface NodeBase {
  readonly id: string;
  /** Parents; a join has two (left, right). */
  readonly parents: readonly string[];
  /** Does this node emit table changes (Change objects) rather than plain values? */
  readonly emitsChanges: boolean;
}

/**
 * How a global store added with addGlobalStore is kept: each record of its topic, read with these
 * serdes, goes to a processor made by `supplier`, which writes the store (on restore too, as Kafka
 * Streams does since KIP-1024's reprocessing).
 */
export interface GlobalStoreUpdater {
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  readonly supplier: AnyFn;
}

export type GraphNode =
  | (NodeBase & {
      kind: 'stream-source';
      topic: string;
      keySerde: Serde<unknown>;
      valueSerde: Serde<unknown>;
      timestampExtractor?: AnyFn;
      lineage?: AnyFn;
    })
  | (NodeBase & { kind: 'to-table'; store: StoreSpec })
  | (NodeBase & { kind: 'map-values'; fn: AnyFn; store?: StoreSpec })
  | (NodeBase & { kind: 'filter'; predicate: AnyFn; store?: StoreSpec })
  | (NodeBase & { kind: 'select-key'; fn: AnyFn })
  /** A new key and value per record; `flat-map` and `flat-map-values` give zero or more. */
  | (NodeBase & { kind: 'map' | 'flat-map' | 'flat-map-values'; fn: AnyFn })
  /** Calls `fn` on each record for its side effects; `foreach` ends the stream. */
  | (NodeBase & { kind: 'peek' | 'foreach'; fn: AnyFn })
  /** The records of all its parents, as they come. */
  | (NodeBase & { kind: 'merge' })
  /** Sends each record to the first branch whose predicate it satisfies (none: dropped). */
  | (NodeBase & { kind: 'split'; predicates: AnyFn[] })
  /** One branch of a split: the records its split sent to branch number `index`. */
  | (NodeBase & { kind: 'branch'; index: number })
  /** Writes the stream through an internal topic, partitioned by the current key; its children read that topic. */
  | (NodeBase & {
      kind: 'repartition';
      /** The internal topic's name without the application prefix. */
      repartition: string;
      keySerde: Serde<unknown>;
      valueSerde: Serde<unknown>;
    })
  | (NodeBase & { kind: 'to-stream' })
  | (NodeBase & {
      kind: 'group-by';
      selector: AnyFn;
      /**
       * The internal topic the regrouped records go through (name without the application prefix);
       * undefined when the records already are where their group is (groupByKey on an unchanged key).
       */
      repartition?: string;
      keySerde: Serde<unknown>;
      valueSerde: Serde<unknown>;
    })
  | (NodeBase & { kind: 'aggregate'; initializer: AnyFn; adder: AnyFn; subtractor?: AnyFn; store: StoreSpec })
  /**
   * A grouped stream aggregated per time window: the store's keys are windowed keys and its values
   * the aggregates with their timestamps (ValueAndTimestamp); `aggregateSerde` is the aggregates' own.
   */
  | (NodeBase & {
      kind: 'window-aggregate';
      windows: TimeWindows;
      initializer: AnyFn;
      adder: AnyFn;
      store: StoreSpec;
      aggregateSerde: Serde<unknown>;
    })
  | (NodeBase & { kind: 'join'; joiner: AnyFn; mode: JoinMode; store?: StoreSpec })
  /**
   * A grouped stream aggregated per session: the store's keys are the group's keys and its values
   * every live session of the key (windowRowsSerde); `keySerde` is the group's key serde.
   */
  | (NodeBase & {
      kind: 'session-aggregate';
      windows: SessionWindows;
      initializer: AnyFn;
      adder: AnyFn;
      merger: AnyFn;
      store: StoreSpec;
      keySerde: Serde<unknown>;
      aggregateSerde: Serde<unknown>;
    })
  /**
   * A grouped stream aggregated per sliding window: the store's keys are the group's keys and its
   * values the key's windows (windowRowsSerde); `keySerde` is the group's key serde.
   */
  | (NodeBase & {
      kind: 'sliding-aggregate';
      windows: SlidingWindows;
      initializer: AnyFn;
      adder: AnyFn;
      store: StoreSpec;
      keySerde: Serde<unknown>;
      aggregateSerde: Serde<unknown>;
    })
  /**
   * A table's changes held in a buffer until their time (see src/dsl/suppressed.ts), with the buffer's
   * store (raw bytes: the table's serialized key, and an encoded entry).
   */
  | (NodeBase & SuppressSpec & { kind: 'suppress'; store: StoreSpec })
  /** A processor of the Processor API (src/processor/api.ts), made per task by `supplier`, with its stores. */
  | (NodeBase & {
      kind: 'process';
      supplier: AnyFn;
      stores: string[];
      /** processValues: the processor forwards records with the key they came with (no repartition needed after). */
      fixedKey?: boolean;
    })
  /**
   * A global table's source: every partition of `topic` kept in the global store `store` on each
   * instance. Not part of any sub-topology (no parents, no children: joins name its store).
   */
  | (NodeBase & {
      kind: 'global-table-source';
      topic: string;
      store: StoreSpec;
      /** A store added with addGlobalStore: its records go through this processor, which writes the store. */
      updater?: GlobalStoreUpdater;
    })
  /**
   * A stream joined with a global table: each record looks up the row of the key `keySelector`
   * computes from it, in the global store `globalStore`.
   */
  | (NodeBase & {
      kind: 'stream-global-join';
      globalStore: string;
      keySelector: AnyFn;
      joiner: AnyFn;
      leftJoin: boolean;
    })
  /** Foreign-key join, left side: left changes to subscription messages (src/processor/nodes/foreign-key-join.ts). */
  | (NodeBase & {
      kind: 'fk-subscribe';
      extractor: AnyFn;
      keySerde: Serde<unknown>;
      valueSerde: Serde<unknown>;
      foreignKeySerde: Serde<unknown>;
    })
  /** Foreign-key join, right side: subscriptions (parent 0, through a topic) and right changes (parent 1). */
  | (NodeBase & { kind: 'fk-subscriptions'; store: StoreSpec; keySerde: Serde<unknown> })
  /** Foreign-key join, result: responses (parent 0, through a topic) and left changes (parent 1). */
  | (NodeBase & {
      kind: 'fk-resolve';
      extractor: AnyFn;
      joiner: AnyFn;
      leftJoin: boolean;
      valueSerde: Serde<unknown>;
      store: StoreSpec;
    })
  /** A stream (parent 0) joined with a table (parent 1) on the key: each stream record looks its row up. */
  | (NodeBase & { kind: 'stream-table-join'; joiner: AnyFn; leftJoin: boolean })
  /**
   * Two streams joined within a time window (parents: left, right): each side's records kept by key
   * (windowRowsSerde of its values), a left or outer join's waiting records (raw keys and lists),
   * and the join's times beside them; `joiner` is called with the left value, the right, the key.
   */
  | (NodeBase & {
      kind: 'stream-stream-join';
      joiner: AnyFn;
      mode: JoinMode;
      windows: JoinWindows;
      keySerde: Serde<unknown>;
      valueSerdes: readonly [Serde<unknown>, Serde<unknown>];
      stores: { readonly left: StoreSpec; readonly right: StoreSpec; readonly outer?: StoreSpec };
    })
  | (NodeBase & { kind: 'sink'; topic: string; keySerde: Serde<unknown>; valueSerde: Serde<unknown> });

export type NodeKind = GraphNode['kind'];

/** Which rows a table-table join has: both sides' keys (inner), the left side's, or either side's (outer). */
export type JoinMode = 'inner' | 'left' | 'outer';

/**
 * The graph under construction; nodes are kept in declaration order. Applications only pass it on
 * (StreamsBuilder.build to KafkaStreams or the test driver); its members are the engine's.
 */
export class TopologyGraph {
  /** @internal */
  readonly nodes = new Map<string, GraphNode>();
  /** Stores added by hand (addStateStore), for the processors connected to them. @internal */
  readonly stores = new Map<string, StoreSpec>();
  private readonly counters = new Map<string, number>();

  /** A readable unique name such as "aggregate-3". @internal */
  nextName(prefix: string): string {
    const n = (this.counters.get(prefix) ?? 0) + 1;
    this.counters.set(prefix, n);
    return `${prefix}-${n}`;
  }

  /** An operator's node id: the name the user gave it (checked), or the next one for its kind. @internal */
  operatorName(prefix: string, given: string | undefined): string {
    return given === undefined ? this.nextName(prefix) : checkName('processor', given);
  }

  /** @internal */
  addStore(spec: StoreSpec): void {
    if (this.stores.has(spec.name)) throw new Error(`topology: the store name "${spec.name}" is used twice`);
    this.stores.set(spec.name, spec);
  }

  /** @internal */
  add<N extends GraphNode>(node: N): N {
    if (this.nodes.has(node.id)) throw new Error(`topology: the name "${node.id}" is used twice`);
    for (const parent of node.parents) {
      if (!this.nodes.has(parent)) throw new Error(`topology: node "${node.id}" has an unknown parent "${parent}"`);
    }
    if (node.kind === 'process') {
      for (const store of node.stores) {
        if (!this.stores.has(store)) {
          throw new Error(
            `topology: processor "${node.id}" uses the store "${store}", which was not added (addStateStore)`,
          );
        }
      }
    }
    this.nodes.set(node.id, node);
    return node;
  }

  /** @internal */
  children(id: string): GraphNode[] {
    return [...this.nodes.values()].filter((n) => n.parents.includes(id));
  }

  /**
   * Whether the records at node `id` may have keys other than those they were partitioned by: a
   * selectKey, map, flatMap or processor since the nearest source topic, repartition or aggregate.
   * @internal
   */
  keyChanged(id: string): boolean {
    const node = this.get(id);
    switch (node.kind) {
      case 'select-key':
      case 'map':
      case 'flat-map':
        return true;
      case 'process':
        return !node.fixedKey || node.parents.some((p) => this.keyChanged(p));
      case 'stream-source':
      case 'global-table-source':
      case 'repartition':
      case 'aggregate':
      case 'window-aggregate':
      case 'session-aggregate':
      case 'sliding-aggregate':
        return false;
      default:
        return node.parents.some((p) => this.keyChanged(p));
    }
  }

  /** @internal */
  get(id: string): GraphNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`topology: no node "${id}"`);
    return node;
  }
}
