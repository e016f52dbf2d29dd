/**
 * The logical topology: what the user declared with the DSL, as a graph of
 * nodes. It holds no runtime state; src/processor/compile.ts turns it into
 * sub-topologies and tasks.
 */
import type { Serde } from '../serdes/serde.js';

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
}

interface NodeBase {
  readonly id: string;
  /** Parents; a join has two (left, right). */
  readonly parents: readonly string[];
  /** Does this node emit table changes (Change objects) rather than plain values? */
  readonly emitsChanges: boolean;
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
  | (NodeBase & { kind: 'to-stream' })
  | (NodeBase & {
      kind: 'group-by';
      selector: AnyFn;
      /** The internal topic the regrouped records go through (name without the application prefix). */
      repartition: string;
      keySerde: Serde<unknown>;
      valueSerde: Serde<unknown>;
    })
  | (NodeBase & { kind: 'aggregate'; initializer: AnyFn; adder: AnyFn; subtractor?: AnyFn; store: StoreSpec })
  | (NodeBase & { kind: 'join'; joiner: AnyFn; leftJoin: boolean; store?: StoreSpec })
  | (NodeBase & { kind: 'sink'; topic: string; keySerde: Serde<unknown>; valueSerde: Serde<unknown> });

export type NodeKind = GraphNode['kind'];

/** The graph under construction; nodes are kept in declaration order. */
export class TopologyGraph {
  readonly nodes = new Map<string, GraphNode>();
  private readonly counters = new Map<string, number>();

  /** A readable unique name such as "aggregate-3". */
  nextName(prefix: string): string {
    const n = (this.counters.get(prefix) ?? 0) + 1;
    this.counters.set(prefix, n);
    return `${prefix}-${n}`;
  }

  add<N extends GraphNode>(node: N): N {
    if (this.nodes.has(node.id)) throw new Error(`topology: the name "${node.id}" is used twice`);
    for (const parent of node.parents) {
      if (!this.nodes.has(parent)) throw new Error(`topology: node "${node.id}" has an unknown parent "${parent}"`);
    }
    this.nodes.set(node.id, node);
    return node;
  }

  children(id: string): GraphNode[] {
    return [...this.nodes.values()].filter((n) => n.parents.includes(id));
  }

  get(id: string): GraphNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`topology: no node "${id}"`);
    return node;
  }
}
