/**
 * Turns the DSL's logical graph into sub-topologies: the connected parts of
 * the graph once it is cut at repartition topics. Each sub-topology runs as
 * one task per partition of its (co-partitioned) source topics.
 */
import type { GraphNode, StoreSpec, TopologyGraph } from '../dsl/graph.js';
import { bytesSerde } from '../serdes/primitive.js';
import { lineageStoreName } from './lineage.js';

export interface SourceTopic {
  readonly topic: string;
  /** Created and owned by the application (a repartition topic). */
  readonly internal: boolean;
  /** The nodes that read it: a stream source, or the aggregates of one grouping. */
  readonly nodeIds: readonly string[];
}

export interface CompiledStore extends StoreSpec {
  readonly changelogTopic: string;
}

export interface SubTopology {
  readonly id: number;
  /** Nodes in the order they were declared (parents before children). */
  readonly nodes: readonly GraphNode[];
  readonly sources: readonly SourceTopic[];
  readonly stores: readonly CompiledStore[];
  /** Topics this sub-topology writes, besides changelogs: sinks and repartition topics. */
  readonly sinkTopics: readonly string[];
}

export interface CompiledTopology {
  readonly applicationId: string;
  readonly graph: TopologyGraph;
  readonly subtopologies: readonly SubTopology[];
  /** Internal topics: repartition topics and store changelogs. */
  readonly repartitionTopics: readonly string[];
  readonly changelogTopics: readonly string[];
  repartitionTopic(groupByNodeId: string): string;
  store(name: string): CompiledStore;
}

export function repartitionTopicName(applicationId: string, name: string): string {
  return `${applicationId}-${name}-repartition`;
}

export function changelogTopicName(applicationId: string, storeName: string): string {
  return `${applicationId}-${storeName}-changelog`;
}

export function compileTopology(graph: TopologyGraph, applicationId: string): CompiledTopology {
  const nodes = [...graph.nodes.values()];
  validate(graph, nodes);

  // Union-find over nodes: every edge joins its ends, except group-by -> aggregate (a repartition topic).
  const root = new Map(nodes.map((n) => [n.id, n.id]));
  const find = (id: string): string => {
    let r = id;
    while (root.get(r) !== r) r = root.get(r)!;
    root.set(id, r);
    return r;
  };
  const firstAggregateOf = new Map<string, string>();
  for (const node of nodes) {
    if (node.kind === 'aggregate') {
      // Aggregates of one grouping read the same repartition topic, so they run in the same tasks.
      const groupBy = node.parents[0]!;
      const first = firstAggregateOf.get(groupBy);
      if (first) root.set(find(node.id), find(first));
      else firstAggregateOf.set(groupBy, node.id);
      continue;
    }
    for (const parent of node.parents) root.set(find(node.id), find(parent));
  }

  const groups = new Map<string, GraphNode[]>();
  for (const node of nodes) {
    const r = find(node.id);
    groups.set(r, [...(groups.get(r) ?? []), node]);
  }

  const repartitionOf = (groupById: string): string => {
    const node = graph.get(groupById);
    if (node.kind !== 'group-by') throw new Error(`topology: "${groupById}" is not a grouping`);
    return repartitionTopicName(applicationId, node.repartition);
  };

  const stores = new Map<string, CompiledStore>();
  const subtopologies = [...groups.values()].map((members, id): SubTopology => {
    const sources: SourceTopic[] = [];
    const subStores: CompiledStore[] = [];
    const sinkTopics: string[] = [];
    for (const node of members) {
      if (node.kind === 'stream-source') sources.push({ topic: node.topic, internal: false, nodeIds: [node.id] });
      if (node.kind === 'aggregate')
        sources.push({ topic: repartitionOf(node.parents[0]!), internal: true, nodeIds: [node.id] });
      if (node.kind === 'sink') sinkTopics.push(node.topic);
      if (node.kind === 'group-by') sinkTopics.push(repartitionOf(node.id));
      const spec = 'store' in node ? node.store : undefined;
      const specs = spec?.lineage ? [spec, lineageStoreSpec(spec)] : spec ? [spec] : [];
      for (const s of specs) {
        if (stores.has(s.name)) throw new Error(`topology: the store name "${s.name}" is used twice`);
        const compiled = { ...s, changelogTopic: changelogTopicName(applicationId, s.name) };
        stores.set(s.name, compiled);
        subStores.push(compiled);
      }
    }
    return {
      id,
      nodes: members,
      sources: dedupeSources(sources),
      stores: subStores,
      sinkTopics: [...new Set(sinkTopics)],
    };
  });

  return {
    applicationId,
    graph,
    subtopologies,
    repartitionTopics: [...new Set(nodes.filter((n) => n.kind === 'group-by').map((n) => repartitionOf(n.id)))],
    changelogTopics: [...stores.values()].map((s) => s.changelogTopic),
    repartitionTopic: repartitionOf,
    store(name) {
      const store = stores.get(name);
      if (!store) throw new Error(`topology: no store named "${name}"`);
      return store;
    },
  };
}

/** The companion store that keeps a store's lineage: raw keys (row key and input topic) and lineage bytes. */
function lineageStoreSpec(spec: StoreSpec): StoreSpec {
  return {
    name: lineageStoreName(spec.name),
    keySerde: bytesSerde as StoreSpec['keySerde'],
    valueSerde: bytesSerde as StoreSpec['valueSerde'],
  };
}

function dedupeSources(sources: SourceTopic[]): SourceTopic[] {
  const byTopic = new Map<string, SourceTopic>();
  for (const source of sources) {
    const seen = byTopic.get(source.topic);
    if (seen && !source.internal) {
      throw new Error(
        `topology: topic "${source.topic}" is read by two sources (${seen.nodeIds[0]}, ${source.nodeIds[0]})`,
      );
    }
    byTopic.set(source.topic, seen ? { ...seen, nodeIds: [...seen.nodeIds, ...source.nodeIds] } : source);
  }
  return [...byTopic.values()];
}

function validate(graph: TopologyGraph, nodes: GraphNode[]): void {
  const isTable = (id: string) => graph.get(id).emitsChanges;
  for (const node of nodes) {
    if (node.kind === 'join') {
      for (const parent of node.parents) {
        if (!isTable(parent)) throw new Error(`topology: ${node.id} joins "${parent}", which is not a table`);
      }
    }
    if (node.kind === 'aggregate' && graph.get(node.parents[0]!).kind !== 'group-by') {
      throw new Error(`topology: ${node.id} must follow a groupBy`);
    }
    if (node.kind === 'to-table' && rekeyedSinceSource(graph, node.parents[0]!)) {
      throw new Error(`topology: ${node.id} reads a stream whose key was changed by selectKey; group it instead`);
    }
  }
}

function rekeyedSinceSource(graph: TopologyGraph, id: string): boolean {
  const node = graph.get(id);
  if (node.kind === 'select-key') return true;
  if (node.kind === 'stream-source' || node.kind === 'aggregate') return false;
  return node.parents.some((p) => rekeyedSinceSource(graph, p));
}
