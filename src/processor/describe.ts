/** The topology as text and as a Mermaid flowchart, for `describe()` and the CLI; and its fingerprint. */
import { createHash } from 'node:crypto';
import type { GraphNode } from '../dsl/graph.js';
import type { CompiledTopology } from './compile.js';

function label(node: GraphNode, topology: CompiledTopology): string {
  const store = 'store' in node && node.store ? ` [store: ${node.store.name}]` : '';
  switch (node.kind) {
    case 'stream-source':
      return `${node.id} <- topic ${node.topic}`;
    case 'sink':
      return `${node.id} -> topic ${node.topic}`;
    case 'group-by':
    case 'repartition':
      return node.repartition === undefined
        ? `${node.id} (grouped in place)`
        : `${node.id} -> topic ${topology.repartitionTopic(node.id)}`;
    case 'join':
      return `${node.id} (${node.mode === 'inner' ? 'join' : `${node.mode} join`} of ${node.parents.join(' and ')})${read(node, topology)}${store}`;
    case 'stream-table-join':
      return `${node.id} (stream ${node.leftJoin ? 'left join' : 'join'} of ${node.parents.join(' and ')})${read(node, topology)}`;
    case 'stream-global-join':
      return `${node.id} (stream ${node.leftJoin ? 'left join' : 'join'} of ${node.parents[0]} with global store ${node.globalStore})${read(node, topology)}`;
    case 'window-aggregate': {
      const { sizeMs, advanceMs, graceMs } = node.windows;
      return `${node.id} (time windows: size ${sizeMs} ms, advance ${advanceMs} ms, grace ${graceMs} ms)${read(node, topology)}${store}`;
    }
    case 'stream-stream-join': {
      const { beforeMs, afterMs, graceMs } = node.windows;
      const kind = node.mode === 'inner' ? 'join' : `${node.mode} join`;
      return `${node.id} (stream-stream ${kind} of ${node.parents.join(' and ')}: ${beforeMs} ms before, ${afterMs} ms after, grace ${graceMs} ms)`;
    }
    case 'sliding-aggregate': {
      const { timeDifferenceMs, graceMs } = node.windows;
      return `${node.id} (sliding windows: time difference ${timeDifferenceMs} ms, grace ${graceMs} ms)${read(node, topology)}${store}`;
    }
    case 'session-aggregate': {
      const { gapMs, graceMs } = node.windows;
      return `${node.id} (session windows: gap ${gapMs} ms, grace ${graceMs} ms)${read(node, topology)}${store}`;
    }
    default:
      return `${node.id}${read(node, topology)}${store}`;
  }
}

/** " <- topic X" for a node that reads repartition topics. */
function read(node: GraphNode, topology: CompiledTopology): string {
  const topics = topology.inputTopicsOf(node.id);
  return topics.length ? ` <- topic ${topics.join(', ')}` : '';
}

/** The parents whose records a node gets straight from them (not through a repartition topic). */
function directParents(node: GraphNode, topology: CompiledTopology): string[] {
  return node.parents.filter((p) => !topology.throughTopic(node.id, p));
}

export function describeText(topology: CompiledTopology): string {
  const lines = [`Topology of application "${topology.applicationId}"`];
  for (const sub of topology.subtopologies) {
    lines.push(`  Sub-topology ${sub.id}: one task per partition of ${sub.sources.map((s) => s.topic).join(', ')}`);
    for (const node of sub.nodes) {
      const direct = directParents(node, topology);
      const parents = direct.length ? `  (from ${direct.join(', ')})` : '';
      lines.push(`    ${label(node, topology)}${parents}`);
    }
    for (const store of sub.stores) lines.push(`    store ${store.name}, changelog ${store.changelogTopic}`);
  }
  for (const store of topology.globalStores) {
    lines.push(`  Global store ${store.name} <- topic ${store.topic} (every partition, on every instance)`);
  }
  return lines.join('\n');
}

/**
 * A short hash of the topology's description (its processors, topics and stores): instances of one
 * application must run the same one, or their tasks would read and write each other's stores and
 * topics differently.
 */
export function topologyFingerprint(topology: CompiledTopology): string {
  return createHash('sha256').update(describeText(topology)).digest('hex').slice(0, 16);
}

export function describeMermaid(topology: CompiledTopology): string {
  const id = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, '_');
  const lines = ['flowchart TD'];
  const topics = new Set<string>();
  const edges: string[] = [];
  for (const sub of topology.subtopologies) {
    lines.push(`  subgraph sub${sub.id}["Sub-topology ${sub.id}"]`);
    for (const node of sub.nodes) {
      lines.push(`    ${id(node.id)}["${node.id}"]`);
      for (const p of directParents(node, topology)) edges.push(`  ${id(p)} --> ${id(node.id)}`);
      const store = 'store' in node ? node.store : undefined;
      if (store) {
        lines.push(`    ${id(`store_${store.name}`)}[("${store.name}")]`);
        edges.push(`  ${id(node.id)} -.- ${id(`store_${store.name}`)}`);
      }
      const written =
        node.kind === 'sink'
          ? node.topic
          : (node.kind === 'group-by' || node.kind === 'repartition') && node.repartition !== undefined
            ? topology.repartitionTopic(node.id)
            : undefined;
      if (node.kind === 'stream-global-join') edges.push(`  ${id(`global_${node.globalStore}`)} -.- ${id(node.id)}`);
      for (const read of topology.inputTopicsOf(node.id)) {
        topics.add(read);
        edges.push(`  ${id(`topic_${read}`)} --> ${id(node.id)}`);
      }
      if (written) {
        topics.add(written);
        edges.push(`  ${id(node.id)} --> ${id(`topic_${written}`)}`);
      }
    }
    lines.push('  end');
  }
  for (const store of topology.globalStores) {
    lines.push(`  ${id(`global_${store.name}`)}[("${store.name} (global)")]`);
    topics.add(store.topic);
    edges.push(`  ${id(`topic_${store.topic}`)} --> ${id(`global_${store.name}`)}`);
  }
  for (const topic of topics) lines.push(`  ${id(`topic_${topic}`)}[/"${topic}"/]`);
  return [...lines, ...edges].join('\n');
}
