/**
 * Partition counts of every topic the application touches, checked for
 * co-partitioning, and the internal topics (repartition, changelog,
 * dead-letter) created with the right counts and configs.
 */
import { ensureTopics, partitionCounts } from '../kafka/admin.js';
import type { ClusterAdmin, TopicSpec } from '../kafka/client.js';
import type { CompiledTopology } from '../processor/compile.js';
import type { StoreSpec } from '../dsl/graph.js';
import type { StreamsConfig } from './config.js';

export interface TopicLayout {
  /** Partitions of each sub-topology (its number of tasks). */
  subtopologyPartitions: Map<number, number>;
  partitionsOf(topic: string): number;
}

export async function prepareTopics(
  admin: ClusterAdmin,
  topology: CompiledTopology,
  config: StreamsConfig,
  sinkTopicConfigs: Record<string, Record<string, string>>,
): Promise<{ layout: TopicLayout; created: string[] }> {
  const external = topology.subtopologies.flatMap((s) =>
    s.sources.filter((src) => !src.internal).map((src) => src.topic),
  );
  const globalTopics = topology.globalStores.map((store) => store.topic);
  const counts = await partitionCounts(admin, [...new Set([...external, ...globalTopics])]);
  const missing = [...external, ...globalTopics].filter((t) => !counts.has(t));
  if (missing.length) {
    throw new Error(
      `source topics do not exist: ${[...new Set(missing)].join(', ')}. Create them (or start the producer that does) first.`,
    );
  }

  // A repartition topic read together with external topics (a join after a key change) takes their
  // partition count, so the two are co-partitioned, as Kafka Streams sizes it; others internalPartitions.
  const internalCounts = new Map<string, number>();
  for (const sub of topology.subtopologies) {
    const external = sub.sources.filter((s) => !s.internal).map((s) => counts.get(s.topic)!);
    const size = external.length > 0 ? Math.max(...external) : config.internalPartitions;
    for (const source of sub.sources) if (source.internal) internalCounts.set(source.topic, size);
  }
  const internalCount = (topic: string) => internalCounts.get(topic) ?? config.internalPartitions;

  const subtopologyPartitions = new Map<number, number>();
  for (const sub of topology.subtopologies) {
    const sizes = sub.sources.map((s) => ({
      topic: s.topic,
      partitions: s.internal ? internalCount(s.topic) : counts.get(s.topic)!,
    }));
    const distinct = new Set(sizes.map((s) => s.partitions));
    if (distinct.size > 1) {
      throw new Error(
        `sub-topology ${sub.id} joins topics that are not co-partitioned: ${sizes.map((s) => `${s.topic} has ${s.partitions}`).join(', ')} partitions. ` +
          'Topics read together must have the same number of partitions.',
      );
    }
    subtopologyPartitions.set(sub.id, sizes[0]!.partitions);
  }

  const specs: TopicSpec[] = [];
  const add = (topic: string, partitions: number, configs: Record<string, string>) =>
    specs.push({ topic, partitions, replicationFactor: config.replicationFactor, configs });
  for (const topic of topology.repartitionTopics) add(topic, internalCount(topic), REPARTITION_TOPIC_CONFIGS);
  for (const sub of topology.subtopologies) {
    for (const store of sub.stores)
      add(store.changelogTopic, subtopologyPartitions.get(sub.id)!, changelogConfigs(store));
  }
  add(config.deadLetterTopic, 1, { 'cleanup.policy': 'delete', 'retention.ms': '2592000000' });

  const sinkTopics = new Set(
    topology.subtopologies.flatMap((s) => s.sinkTopics).filter((t) => !topology.repartitionTopics.includes(t)),
  );
  const existingSinks = await partitionCounts(admin, [...sinkTopics]);
  for (const sub of topology.subtopologies) {
    for (const topic of sub.sinkTopics) {
      if (sinkTopics.has(topic) && !existingSinks.has(topic))
        add(topic, subtopologyPartitions.get(sub.id)!, sinkTopicConfigs[topic] ?? {});
    }
  }
  const created = await ensureTopics(admin, dedupe(specs));

  const all = await partitionCounts(admin, [...new Set([...external, ...specs.map((s) => s.topic), ...sinkTopics])]);
  return {
    created,
    layout: {
      subtopologyPartitions,
      partitionsOf(topic) {
        const n = all.get(topic);
        if (n === undefined) throw new Error(`unknown topic ${topic}`);
        return n;
      },
    },
  };
}

function dedupe(specs: TopicSpec[]): TopicSpec[] {
  return [...new Map(specs.map((s) => [s.topic, s])).values()];
}

/**
 * As Kafka Streams makes them: records are deleted once processed (runtime/repartition-purge.ts), never
 * for their age (an application stopped for longer than a retention would lose what it had not read),
 * and in 50 MiB segments, since Kafka removes a partition's records only a whole segment at a time.
 */
export const REPARTITION_TOPIC_CONFIGS: Readonly<Record<string, string>> = {
  'cleanup.policy': 'delete',
  'retention.ms': '-1',
  'segment.bytes': String(50 * 1024 * 1024),
};

/** A window store's changelog also deletes what is older than its retention, plus a day (as Kafka Streams'). */
export const WINDOW_CHANGELOG_EXTRA_RETENTION_MS = 86_400_000;

export function changelogConfigs(store: StoreSpec): Record<string, string> {
  if (store.retentionMs === undefined) return { 'cleanup.policy': 'compact' };
  return {
    'cleanup.policy': 'compact,delete',
    'retention.ms': String(store.retentionMs + WINDOW_CHANGELOG_EXTRA_RETENTION_MS),
  };
}
