/**
 * The application reset (Kafka Streams' kafka-streams-application-reset, plus its cleanUp()): so that
 * the next start processes every input topic again from the beginning, it deletes the application's
 * internal topics (repartition and changelog), its consumer group (and so its committed offsets), and
 * this machine's state directory of the application. Input, output and dead-letter topics are kept.
 * Every instance must be stopped first: a group with members is refused. Run it with `dryRun` to see
 * what it would delete.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopologyGraph } from '../dsl/graph.js';
import { withRetries } from '../kafka/admin.js';
import { createKafkaClient } from '../kafka/client.js';
import { compileTopology } from '../processor/compile.js';
import type { Logger } from '../util/logger.js';
import { streamsConfig, type StreamsSettings } from './config.js';

export interface ResetPlan {
  /** Internal topics of the application that exist now. */
  topics: string[];
  /** The consumer group (= application id), when it exists. */
  group: string | undefined;
  /** This machine's state directory of the application, when it exists. */
  stateDirectory: string | undefined;
}

export class ResetRefusedError extends Error {
  override name = 'ResetRefusedError';
}

/** Works out what a reset deletes and, unless `dryRun`, deletes it. Returns the plan. */
export async function resetApplication(
  graph: TopologyGraph,
  settings: StreamsSettings,
  logger: Logger,
  options: { dryRun: boolean },
): Promise<ResetPlan> {
  const config = streamsConfig(settings);
  const topology = compileTopology(graph, config.applicationId);
  const internal = new Set([
    ...topology.repartitionTopics,
    ...topology.subtopologies.flatMap((s) => s.stores.map((store) => store.changelogTopic)),
  ]);
  const kafka = createKafkaClient({
    brokers: config.brokers,
    clientId: `${config.applicationId}-reset`,
    logger,
    kind: config.kafkaClient,
    security: config.security,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const group = await withRetries(() => admin.describeGroup(config.applicationId));
    if (group && group.members.length > 0) {
      throw new ResetRefusedError(
        `the group ${config.applicationId} has ${group.members.length} member(s) (state ${group.state}): ` +
          'stop every instance of the application, then reset',
      );
    }
    const existing = new Set(await withRetries(() => admin.listTopics()));
    const stateDirectory = join(config.stateDir, config.applicationId);
    const plan: ResetPlan = {
      topics: [...internal].filter((t) => existing.has(t)).sort(),
      group: group && group.state !== 'Dead' ? config.applicationId : undefined,
      stateDirectory: existsSync(stateDirectory) ? stateDirectory : undefined,
    };
    if (options.dryRun) return plan;
    if (plan.group) await withRetries(() => admin.deleteGroups([plan.group!]));
    if (plan.topics.length > 0) {
      await withRetries(() => admin.deleteTopics(plan.topics));
      // Deletion finishes in the background; a start before it has would find them half gone.
      const deadline = Date.now() + 60_000;
      logger.info('waiting for the brokers to finish deleting the topics', { topics: plan.topics.length });
      for (;;) {
        const left = new Set(await withRetries(() => admin.listTopics()));
        const remaining = plan.topics.filter((t) => left.has(t));
        if (remaining.length === 0) break;
        if (Date.now() > deadline) throw new Error(`topics still not deleted after 60 s: ${remaining.join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    if (plan.stateDirectory) await rm(plan.stateDirectory, { recursive: true, force: true });
    return plan;
  } finally {
    await admin.disconnect();
  }
}
