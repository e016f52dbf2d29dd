/**
 * The User Information Service, assembled: the topology run by the engine,
 * the HTTP server in front of its view store, and the snapshot gate for
 * readiness. `startReplica` serves the view from the output topic instead.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createKafka } from '../kafka/client.js';
import { KafkaStreams } from '../runtime/kafka-streams.js';
import { rebuildLocalState } from '../runtime/rebuild.js';
import { TopicReplica } from '../runtime/topic-replica.js';
import { UnknownSchemaIdError } from '../serdes/avro.js';
import { ReplicaViewSource } from '../serving/replica-view-source.js';
import { buildServer } from '../serving/server.js';
import { StreamsViewSource } from '../serving/streams-view-source.js';
import type { Logger } from '../util/logger.js';
import { userInformationTopology, viewSerde, VIEW_STORE } from '../../topology/user-information.js';
import type { ServiceConfig } from './config.js';
import { userInformationAvro } from './output-serde.js';
import { kafkaGatePositions, SnapshotGate } from './snapshot-gate.js';

export interface RunningService {
  server: FastifyInstance;
  streams?: KafkaStreams;
  /** The configuration in effect (with --port 0: the port the OS chose). */
  config: ServiceConfig;
  stop(): Promise<void>;
}

export function topologyFor(config: ServiceConfig) {
  return userInformationTopology({
    cdcTopicPrefix: config.cdcTopicPrefix,
    outputTopic: config.outputTopic,
    outputValueSerde: userInformationAvro(config.schemaRegistryUrl, config.outputTopic),
  });
}

function streamsSettings(config: ServiceConfig) {
  return {
    applicationId: config.applicationId,
    brokers: config.brokers,
    stateDir: config.stateDir,
    endpoint: config.advertisedEndpoint,
    commitIntervalMs: config.commitIntervalMs,
    cacheMaxEntries: config.cacheMaxEntries,
    numStandbyReplicas: config.numStandbyReplicas,
    sessionTimeoutMs: config.sessionTimeoutMs,
    internalPartitions: config.partitions,
    storeCacheBytes: config.storeCacheMiB * 1024 * 1024,
    storeWriteBufferBytes: config.storeWriteBufferMiB * 1024 * 1024,
    processingGuarantee: config.processingGuarantee,
  };
}

function metricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * With --port 0 the OS chose the port: the config (and the endpoint advertised to the group, unless
 * one was given) takes the port the server is listening on.
 */
function withBoundPort(config: ServiceConfig, server: FastifyInstance): ServiceConfig {
  if (config.port !== 0) return config;
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const advertisedEndpoint = config.advertisedEndpoint.endsWith(':0')
    ? `${config.advertisedEndpoint.slice(0, -2)}:${port}`
    : config.advertisedEndpoint;
  return { ...config, port, advertisedEndpoint };
}

export async function startService(config: ServiceConfig, logger: Logger): Promise<RunningService> {
  const registry = metricsRegistry();
  const streams = new KafkaStreams(topologyFor(config), streamsSettings(config), {
    logger,
    registry,
    sinkTopicConfigs: { [config.outputTopic]: { 'cleanup.policy': 'compact' } },
  });
  let gate: SnapshotGate | undefined;
  const source = new StreamsViewSource(streams, VIEW_STORE, () => gate?.status() ?? { ready: true });
  const server = await buildServer({
    source,
    registry,
    corsOrigins: config.corsOrigins,
    standbyMaxStalenessMs: config.standbyMaxStalenessMs,
  });
  await server.listen({ host: config.host, port: config.port });
  config = withBoundPort(config, server);
  streams.advertise(config.advertisedEndpoint);
  const admin = createKafka({ brokers: config.brokers, clientId: `${config.applicationId}-gate`, logger }).admin();
  try {
    await streams.start();
    if (config.connectUrl) {
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
    await server.close();
    await streams.stop().catch(() => undefined);
    throw error;
  }
  logger.info('serving', { url: `http://${config.host}:${config.port}`, endpoint: config.advertisedEndpoint });
  return {
    server,
    streams,
    config,
    async stop() {
      gate?.stop();
      await server.close();
      await streams.stop();
      await admin.disconnect().catch(() => undefined);
    },
  };
}

export async function startReplica(config: ServiceConfig, logger: Logger): Promise<RunningService> {
  const registry = metricsRegistry();
  const avro = userInformationAvro(config.schemaRegistryUrl, config.outputTopic);
  const replica = new TopicReplica({
    kafka: createKafka({ brokers: config.brokers, clientId: `${config.applicationId}-replica`, logger }),
    topic: config.outputTopic,
    // Read when the replica starts, after listening: with --port 0 the endpoint is known only then.
    groupId: () => `${config.applicationId}-replica-${config.advertisedEndpoint.replace(/[^A-Za-z0-9]/g, '_')}`,
    directory: join(config.stateDir, `${config.applicationId}-replica`),
    logger,
    convert: (value) => viewSerde.serialize({ ...avro.deserialize(value) }),
    prepare: async (value, error) => {
      if (!(error instanceof UnknownSchemaIdError)) return false;
      await avro.resolve(value);
      return true;
    },
  });
  const source = new ReplicaViewSource(replica, config.advertisedEndpoint);
  const server = await buildServer({ source, registry, corsOrigins: config.corsOrigins });
  await server.listen({ host: config.host, port: config.port });
  config = withBoundPort(config, server);
  source.endpoint = config.advertisedEndpoint;
  try {
    await replica.start();
  } catch (error) {
    await server.close();
    throw error;
  }
  logger.info('serving a read replica', { url: `http://${config.host}:${config.port}`, topic: config.outputTopic });
  return {
    server,
    config,
    async stop() {
      await server.close();
      await replica.stop();
    },
  };
}

export async function rebuildState(config: ServiceConfig, logger: Logger): Promise<number> {
  return rebuildLocalState(topologyFor(config), streamsSettings(config), logger);
}
