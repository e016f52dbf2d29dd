/**
 * Turns the DSL's logical graph into sub-topologies: the connected parts of
 * the graph once it is cut at repartition topics. Each sub-topology runs as
 * one task per partition of its (co-partitioned) source topics.
 */
import type { GlobalStoreUpdater, GraphNode, StoreSpec, TopologyGraph } from '../dsl/graph.js';
import { bytesSerde } from '../serdes/primitive.js';
import { lineageStoreName } from './lineage.js';
import { streamTimeStoreName } from './nodes/stream-time.js';

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

/** A global table's store: the whole of `topic` on every instance, restored from the topic itself. */
export interface CompiledGlobalStore extends StoreSpec {
  readonly topic: string;
  /** Set for a store added with addGlobalStore: the processor that writes it. */
  readonly updater?: GlobalStoreUpdater;
}

/** A topology compiled for an application: what `describeText` and `describeMermaid` take. */
export interface CompiledTopology {
  readonly applicationId: string;
  /** Internal topics: repartition topics and store changelogs. */
  readonly repartitionTopics: readonly string[];
  readonly changelogTopics: readonly string[];
  /** @internal */
  readonly graph: TopologyGraph;
  /** @internal */
  readonly subtopologies: readonly SubTopology[];
  /** The global tables' stores, kept apart from every task. @internal */
  readonly globalStores: readonly CompiledGlobalStore[];
  /** The internal topic a group-by or repartition node writes (throws for a grouping kept in place). @internal */
  repartitionTopic(nodeId: string): string;
  /** The topics a node reads records from: a source's, or those of the repartitions before it. @internal */
  inputTopicsOf(nodeId: string): string[];
  /** Whether a node gets its parent's records through a repartition topic (else straight from it, in its task). @internal */
  throughTopic(nodeId: string, parentId: string): boolean;
  /** @internal */
  store(name: string): CompiledStore;
  /** @internal */
  globalStore(name: string): CompiledGlobalStore;
}

export function repartitionTopicName(applicationId: string, name: string): string {
  return `${applicationId}-${name}-repartition`;
}

export function changelogTopicName(applicationId: string, storeName: string): string {
  return `${applicationId}-${storeName}-changelog`;
}

export function compileTopology(graph: TopologyGraph, applicationId: string): CompiledTopology {
  const globalStores = new Map<string, CompiledGlobalStore>();
  for (const node of graph.nodes.values()) {
    if (node.kind === 'global-table-source')
      globalStores.set(node.store.name, {
        ...node.store,
        topic: node.topic,
        ...(node.updater ? { updater: node.updater } : {}),
      });
  }
  // Global tables run in no task: they are read apart, into stores every task may read.
  const nodes = [...graph.nodes.values()].filter((n) => n.kind !== 'global-table-source');
  validate(graph, nodes, globalStores);

  const repartitionOf = (nodeId: string): string => {
    const node = graph.get(nodeId);
    if ((node.kind !== 'group-by' && node.kind !== 'repartition') || node.repartition === undefined) {
      throw new Error(`topology: "${nodeId}" writes no repartition topic`);
    }
    return repartitionTopicName(applicationId, node.repartition);
  };
  const writesRepartition = (node: GraphNode) =>
    (node.kind === 'group-by' || node.kind === 'repartition') && node.repartition !== undefined;
  /** A node's parents whose records reach it through a repartition topic. */
  const acrossTopic = (node: GraphNode): string[] =>
    node.parents.filter((p) => {
      const parent = graph.get(p);
      return parent.kind === 'repartition' || (isAggregate(node) && writesRepartition(parent));
    });
  const inputTopicsOf = (node: GraphNode): string[] =>
    node.kind === 'stream-source' ? [node.topic] : acrossTopic(node).map(repartitionOf);

  // Union-find over nodes: every edge joins its ends, except those through a repartition topic; and
  // the nodes reading one repartition topic (say the aggregates of one grouping) run in the same tasks.
  const root = new Map(nodes.map((n) => [n.id, n.id]));
  const find = (id: string): string => {
    let r = id;
    while (root.get(r) !== r) r = root.get(r)!;
    root.set(id, r);
    return r;
  };
  const union = (a: string, b: string) => root.set(find(a), find(b));
  const firstReaderOf = new Map<string, string>();
  for (const node of nodes) {
    const across = acrossTopic(node);
    for (const parent of node.parents) if (!across.includes(parent)) union(node.id, parent);
    for (const topic of across.map(repartitionOf)) {
      const first = firstReaderOf.get(topic);
      if (first) union(node.id, first);
      else firstReaderOf.set(topic, node.id);
    }
  }

  const groups = new Map<string, GraphNode[]>();
  for (const node of nodes) {
    const r = find(node.id);
    groups.set(r, [...(groups.get(r) ?? []), node]);
  }

  const stores = new Map<string, CompiledStore>();
  const subtopologies = [...groups.values()].map((members, id): SubTopology => {
    const sources: SourceTopic[] = [];
    const subStores: CompiledStore[] = [];
    const sinkTopics: string[] = [];
    for (const node of members) {
      for (const topic of inputTopicsOf(node))
        sources.push({ topic, internal: node.kind !== 'stream-source', nodeIds: [node.id] });
      if (node.kind === 'sink') sinkTopics.push(node.topic);
      if (writesRepartition(node)) sinkTopics.push(repartitionOf(node.id));
      const spec = 'store' in node ? node.store : undefined;
      const specs = spec?.lineage ? [spec, lineageStoreSpec(spec)] : spec ? [spec] : [];
      if (spec && keepsStreamTime(node)) specs.push(bytesStoreSpec(streamTimeStoreName(spec.name)));
      if (node.kind === 'stream-stream-join') {
        const { left, right, outer } = node.stores;
        specs.push(left, right, ...(outer ? [outer] : []), bytesStoreSpec(streamTimeStoreName(left.name)));
      }
      if (node.kind === 'process') {
        for (const name of node.stores) {
          const added = graph.stores.get(name)!;
          // Processors of one sub-topology may share a store; those of two cannot (their tasks differ).
          if (subStores.some((s) => s.name === name)) continue;
          if (stores.has(name)) {
            throw new Error(`topology: the store "${name}" is used by processors in different sub-topologies`);
          }
          specs.push(...(added.lineage ? [added, lineageStoreSpec(added)] : [added]));
        }
      }
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

  for (const global of globalStores.values()) {
    if (stores.has(global.name)) throw new Error(`topology: the store name "${global.name}" is used twice`);
    const reader = subtopologies.find((sub) => sub.sources.some((s) => s.topic === global.topic));
    if (reader) throw new Error(`topology: topic "${global.topic}" is read both as a global table and by a stream`);
  }

  return {
    applicationId,
    graph,
    subtopologies,
    repartitionTopics: [...new Set(nodes.filter(writesRepartition).map((n) => repartitionOf(n.id)))],
    changelogTopics: [...stores.values()].map((s) => s.changelogTopic),
    repartitionTopic: repartitionOf,
    inputTopicsOf: (nodeId) => inputTopicsOf(graph.get(nodeId)),
    throughTopic: (nodeId, parentId) => acrossTopic(graph.get(nodeId)).includes(parentId),
    store(name) {
      const store = stores.get(name);
      if (!store) throw new Error(`topology: no store named "${name}"`);
      return store;
    },
    globalStores: [...globalStores.values()],
    globalStore(name) {
      const store = globalStores.get(name);
      if (!store) throw new Error(`topology: no global store named "${name}"`);
      return store;
    },
  };
}

/** The companion store that keeps a store's lineage: raw keys (row key and input topic) and lineage bytes. */
function lineageStoreSpec(spec: StoreSpec): StoreSpec {
  return bytesStoreSpec(lineageStoreName(spec.name));
}

function bytesStoreSpec(name: string): StoreSpec {
  return { name, keySerde: bytesSerde as StoreSpec['keySerde'], valueSerde: bytesSerde as StoreSpec['valueSerde'] };
}

/** Nodes whose stream time decides what they do: it is kept in a companion store (see StreamTime). */
function keepsStreamTime(node: GraphNode): boolean {
  return isWindowedAggregate(node) || node.kind === 'suppress';
}

/** The nodes that fold a grouping's records into a store: they read the grouping's repartition topic. */
export function isAggregate(node: GraphNode): boolean {
  return node.kind === 'aggregate' || isWindowedAggregate(node);
}

/** A grouped stream aggregated per window: time, session or sliding windows. */
export function isWindowedAggregate(node: GraphNode): boolean {
  return node.kind === 'window-aggregate' || node.kind === 'session-aggregate' || node.kind === 'sliding-aggregate';
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

function validate(graph: TopologyGraph, nodes: GraphNode[], globalStores: ReadonlyMap<string, unknown>): void {
  const isTable = (id: string) => graph.get(id).emitsChanges;
  const readers = new Map<string, string>();
  for (const node of nodes) {
    if (node.kind !== 'stream-source') continue;
    const first = readers.get(node.topic);
    // As Kafka Streams: one source per topic, whose stream the application branches as it needs.
    if (first) {
      throw new Error(
        `topology: topic "${node.topic}" is read by two sources (${first} and ${node.id}); read it once and use that stream for both`,
      );
    }
    readers.set(node.topic, node.id);
  }
  for (const node of nodes) {
    if (node.kind === 'stream-global-join') {
      if (isTable(node.parents[0]!))
        throw new Error(`topology: ${node.id} joins a table with a global table; use toStream() first`);
      if (!globalStores.has(node.globalStore))
        throw new Error(`topology: ${node.id} joins an unknown global store "${node.globalStore}"`);
    }
    if (node.kind === 'join') {
      for (const parent of node.parents) {
        if (!isTable(parent)) throw new Error(`topology: ${node.id} joins "${parent}", which is not a table`);
      }
    }
    if (node.kind === 'stream-table-join') {
      const [stream, table] = node.parents as [string, string];
      if (isTable(stream)) throw new Error(`topology: ${node.id} joins "${stream}" as a stream, but it is a table`);
      if (!isTable(table)) throw new Error(`topology: ${node.id} joins "${table}" as a table, but it is a stream`);
      if (graph.keyChanged(stream)) {
        throw new Error(
          `topology: ${node.id} joins a stream whose key was changed (selectKey, map or flatMap) with a table; repartition the stream first`,
        );
      }
    }
    if (node.kind === 'stream-stream-join') {
      for (const parent of node.parents) {
        if (isTable(parent))
          throw new Error(`topology: ${node.id} joins "${parent}", a table, as a stream; use toStream() first`);
        if (graph.keyChanged(parent)) {
          throw new Error(
            `topology: ${node.id} joins a stream whose key was changed (selectKey, map or flatMap); repartition it first`,
          );
        }
      }
    }
    if (node.kind === 'merge' || node.kind === 'repartition') {
      for (const parent of node.parents) {
        if (isTable(parent)) throw new Error(`topology: ${node.id} reads "${parent}", a table; use toStream() first`);
      }
    }
    if (isAggregate(node) && graph.get(node.parents[0]!).kind !== 'group-by') {
      throw new Error(`topology: ${node.id} must follow a groupBy`);
    }
    if (node.kind === 'to-table' && graph.keyChanged(node.parents[0]!)) {
      throw new Error(
        `topology: ${node.id} reads a stream whose key was changed (selectKey, map or flatMap); repartition or group it first`,
      );
    }
  }
}
