/**
 * The service's engine: the user-information topology run by KafkaStreams,
 * and the snapshot gate that holds readiness until the database's initial
 * snapshot is applied. It runs in a worker thread (engine-worker.ts) or, with
 * --engine-thread main, on the serving thread.
 */
import type { Registry } from 'prom-client';
import { createKafkaClient, type ClusterAdmin } from '../kafka/client.js';
import { KafkaStreams } from '../runtime/kafka-streams.js';
import type { Logger } from '../util/logger.js';
import { userInformationTopology } from '../../topology/user-information.js';
import type { ServiceConfig } from './config.js';
import { userInformationAvro } from './output-serde.js';
import { kafkaGatePositions, SnapshotGate } from './snapshot-gate.js';

export interface Engine {
  readonly streams: KafkaStreams;
  gateStatus(): { ready: boolean; reason?: string };
  stop(): Promise<void>;
}

export function topologyFor(config: ServiceConfig) {
  return userInformationTopology({
    cdcTopicPrefix: config.cdcTopicPrefix,
    outputTopic: config.outputTopic,
    outputValueSerde: userInformationAvro(config),
    lineage: config.lineage,
  });
}

export function streamsSettings(config: ServiceConfig) {
  return {
    applicationId: config.applicationId,
    brokers: config.brokers,
    stateDir: config.stateDir,
    endpoint: config.advertisedEndpoint,
    commitIntervalMs: config.commitIntervalMs,
    catchUpCommitIntervalMs: config.catchUpCommitIntervalMs,
    cacheMaxEntries: config.cacheMaxEntries,
    numStandbyReplicas: config.numStandbyReplicas,
    sessionTimeoutMs: config.sessionTimeoutMs,
    internalPartitions: config.partitions,
    storeCacheBytes: config.storeCacheMiB * 1024 * 1024,
    storeCompression: config.storeCompression,
    restoreCompression: config.restoreCompression,
    errorPolicies: config.errorPolicies,
    storeRowCacheBytes: config.storeRowCacheMiB * 1024 * 1024,
    storeWriteBufferBytes: config.storeWriteBufferMiB * 1024 * 1024,
    bulkRestoreWriteBufferBytes: config.bulkRestoreMiB * 1024 * 1024,
    bulkRestoreTasks: config.bulkRestoreTasks,
    restoreFetchBytes: config.restoreFetchMiB * 1024 * 1024,
    processingGuarantee: config.processingGuarantee,
    kafkaClient: config.kafkaClient,
    security: config.kafkaSecurity,
    ...(config.groupInstanceId !== undefined ? { groupInstanceId: config.groupInstanceId } : {}),
  };
}

/** Starts the engine; `config.advertisedEndpoint` must be final (the HTTP server listens already). */
export async function startEngine(
  config: ServiceConfig,
  logger: Logger,
  registry: Registry,
  onFatal?: (error: Error) => void,
): Promise<Engine> {
  const streams = new KafkaStreams(topologyFor(config), streamsSettings(config), {
    logger,
    registry,
    ...(onFatal ? { onFatal } : {}),
    sinkTopicConfigs: { [config.outputTopic]: { 'cleanup.policy': 'compact' } },
  });
  let gate: SnapshotGate | undefined;
  let admin: ClusterAdmin | undefined;
  try {
    await streams.start();
    if (config.connectUrl) {
      admin = createKafkaClient({
        brokers: config.brokers,
        clientId: `${config.applicationId}-gate`,
        logger,
        kind: config.kafkaClient,
        security: config.kafkaSecurity,
      }).admin();
      await admin.connect();
      gate = new SnapshotGate({
        connector: config.connector,
        cdcTopics: ['users', 'tweets', 'follows', 'likes'].map((t) => `${config.cdcTopicPrefix}.public.${t}`),
        subtopologies: streams.topology.subtopologies,
        positions: kafkaGatePositions({
          connectUrl: config.connectUrl,
          connector: config.connector,
          groupId: config.applicationId,
          admin,
        }),
        logger,
      });
      gate.start();
    }
  } catch (error) {
    await streams.stop().catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
    throw error;
  }
  return {
    streams,
    gateStatus: () => gate?.status() ?? { ready: true },
    async stop() {
      gate?.stop();
      await streams.stop();
      await admin?.disconnect().catch(() => undefined);
    },
  };
}
