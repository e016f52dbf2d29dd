/**
 * The User Information Service, assembled: the HTTP server in front of the
 * view store the engine (engine.ts) keeps. `startReplica` serves the view
 * from the output topic instead.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createKafkaClient, type ClusterAdmin } from '../kafka/client.js';
import { describeSecurity } from '../kafka/security.js';
import { compileTopology, type CompiledTopology, type SubTopology } from '../processor/compile.js';
import type { KafkaStreams } from '../runtime/kafka-streams.js';
import { rebuildLocalState } from '../runtime/rebuild.js';
import { resetApplication, type ResetPlan } from '../runtime/reset.js';
import { TopicReplica } from '../runtime/topic-replica.js';
import { UnknownSchemaIdError } from '../serdes/avro.js';
import { ReplicaViewSource } from '../serving/replica-view-source.js';
import { buildAdminServer, buildServer } from '../serving/server.js';
import { positionRoundMetric, registerFreshnessMetrics } from '../serving/freshness.js';
import { storeViewOf, StreamsViewSource, type StoreView } from '../serving/streams-view-source.js';
import { viewStores } from '../serving/view-stores.js';
import type { Logger } from '../util/logger.js';
import { viewSerde, VIEW_STORE } from '../../topology/user-information.js';
import type { ServiceConfig } from './config.js';
import { replayDeadLetters, type ReplayOptions, type ReplayResult } from '../runtime/dead-letter-replay.js';
import { startEngine, streamsSettings, topologyFor } from './engine.js';
import { EngineThread } from './engine-thread.js';
import { userInformationAvro } from './output-serde.js';
import { kafkaGatePositions } from './snapshot-gate.js';
import { ViewPositions, type ViewPositionsOptions } from './view-positions.js';

import { viewLineage } from './view-lineage.js';

export { topologyFor } from './engine.js';

export interface RunningService {
  server: FastifyInstance;
  /** The server of /health/* and /metrics, when they have a port of their own (--admin-port). */
  admin?: FastifyInstance;
  /** The engine, when it runs on this thread (--engine-thread main). */
  streams?: KafkaStreams;
  /** The configuration in effect (with --port 0: the port the OS chose). */
  config: ServiceConfig;
  stop(): Promise<void>;
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

/**
 * Serves the view while the engine keeps it: the engine on a worker thread (the default), so that
 * processing never delays an answer, or on this thread.
 */
export async function startService(
  config: ServiceConfig,
  logger: Logger,
  /** The engine stopped for good after the start (e.g. the group refused this instance): stop the service. */
  onFatal?: (error: Error) => void,
): Promise<RunningService> {
  const registry = metricsRegistry();
  let engineMetrics = async () => '';
  const source = new StreamsViewSource(() => config.advertisedEndpoint);
  let view: StoreView | undefined;
  const lineageAdmin = lazyAdmin(config, logger, 'lineage');
  const compiled = compiledView(config);
  const positions = config.connectUrl
    ? await viewPositions(config, compiled, config.connectUrl, logger, registry, {
        local: (partition) => view?.position(partition),
        standby: (partition) => view?.standbyPosition(partition),
      })
    : undefined;
  if (positions) registerFreshnessMetrics(registry, positions.tracker, () => view?.partitionCount ?? 0);
  const server = await buildServer({
    source,
    registry,
    moreMetrics: () => engineMetrics(),
    corsOrigins: config.corsOrigins,
    standbyMaxStalenessMs: config.standbyMaxStalenessMs,
    batchMaxIds: config.batchMaxIds,
    ...(config.forwardSecret !== undefined ? { forwardSecret: config.forwardSecret } : {}),
    ...rateLimitOf(config),
    adminApart: config.adminPort !== undefined,
    ...(positions ? { freshness: positions.tracker } : {}),
    maxReadWaitMs: config.maxReadWaitMs,
    stores: viewStores(
      () => view,
      () => config.advertisedEndpoint,
      new Map(
        compiled.view.stores.map(({ name, keySerde, valueSerde, windows }) => [
          name,
          { keySerde, valueSerde, global: false, ...(windows ? { windows } : {}) },
        ]),
      ),
    ),
    ...(config.lineage
      ? {
          lineage: viewLineage(
            config.applicationId,
            compiled.view.sources.map((s) => s.topic),
            () => view,
            lineageAdmin.get,
          ),
        }
      : {}),
  });
  const admin =
    config.adminPort === undefined
      ? undefined
      : await buildAdminServer({ source, registry, moreMetrics: () => engineMetrics() });
  if (config.forwardSecret === undefined)
    logger.warn(
      'requests forwarded between instances are not authenticated: a client can send the forwarded marker (set --forward-secret-file)',
    );
  let stopEngine: () => Promise<void> = async () => undefined;
  let streams: KafkaStreams | undefined;
  let adminUrl: string | undefined;
  const release = async () => {
    await server.close();
    await admin?.close();
    await positions?.stop();
    await lineageAdmin.stop();
    await stopEngine();
  };
  try {
    await server.listen({ host: config.host, port: config.port });
    config = withBoundPort(config, server);
    adminUrl = admin ? await admin.listen({ host: config.host, port: config.adminPort ?? 0 }) : undefined;
    if (config.engineThread === 'worker') {
      const thread = await EngineThread.start(config, logger, onFatal);
      view = thread;
      source.attach(thread, () => thread.gateStatus());
      engineMetrics = () => thread.metrics();
      stopEngine = () => thread.stop();
    } else {
      const engine = await startEngine(config, logger, registry, onFatal);
      streams = engine.streams;
      view = storeViewOf(engine.streams, VIEW_STORE);
      source.attach(view, () => engine.gateStatus());
      stopEngine = () => engine.stop();
    }
    positions?.tracker.start();
  } catch (error) {
    await release();
    throw error;
  }
  logger.info('serving', {
    url: `http://${config.host}:${config.port}`,
    ...(adminUrl ? { adminUrl } : {}),
    endpoint: config.advertisedEndpoint,
    engineThread: config.engineThread,
    kafka: describeSecurity(config.kafkaSecurity),
  });
  return {
    server,
    ...(admin ? { admin } : {}),
    streams,
    config,
    stop: release,
  };
}

/** The per-client rate limit of the public server, when configured (a processor's and a replica's alike). */
function rateLimitOf(config: ServiceConfig): { rateLimit?: { max: number; windowMs: number } } {
  return config.rateLimitMax > 0 ? { rateLimit: { max: config.rateLimitMax, windowMs: config.rateLimitWindowMs } } : {};
}

/** The compiled topology, and the sub-topology whose tasks keep the view. */
function compiledView(config: ServiceConfig): { topology: CompiledTopology; view: SubTopology } {
  const topology = compileTopology(topologyFor(config), config.applicationId);
  return { topology, view: topology.subtopologies.find((s) => s.stores.some((store) => store.name === VIEW_STORE))! };
}

/** A Kafka client of this instance for one purpose (its client id says which), with the instance's security. */
function kafkaClientFor(config: ServiceConfig, logger: Logger, purpose: string) {
  return createKafkaClient({
    brokers: config.brokers,
    clientId: `${config.applicationId}-${purpose}`,
    logger,
    kind: config.kafkaClient,
    security: config.kafkaSecurity,
  });
}

/** An admin client for occasional requests, connected on first use (again after a failed connect). */
function lazyAdmin(
  config: ServiceConfig,
  logger: Logger,
  purpose: string,
): { get: () => Promise<ClusterAdmin>; stop: () => Promise<void> } {
  let connected: Promise<ClusterAdmin> | undefined;
  return {
    get: () =>
      (connected ??= (async () => {
        const admin = kafkaClientFor(config, logger, purpose).admin();
        await admin.connect();
        return admin;
      })().catch((error: unknown) => {
        connected = undefined;
        throw error;
      })),
    async stop() {
      const admin = await connected?.catch(() => undefined);
      await admin?.disconnect().catch(() => undefined);
    },
  };
}

/** The view's positions against the source database, from Kafka Connect's offsets and the group's. */
async function viewPositions(
  config: ServiceConfig,
  { topology, view: viewSub }: { topology: CompiledTopology; view: SubTopology },
  connectUrl: string,
  logger: Logger,
  registry: Registry,
  copies: Pick<ViewPositionsOptions, 'local' | 'standby'>,
): Promise<{ tracker: ViewPositions; stop(): Promise<void> }> {
  const admin = kafkaClientFor(config, logger, 'positions').admin();
  await admin.connect();
  const tracker = new ViewPositions({
    subtopologies: topology.subtopologies,
    viewSubtopology: viewSub.id,
    positions: kafkaGatePositions({ connectUrl, connector: config.connector, groupId: config.applicationId, admin }),
    ...copies,
    intervalMs: config.positionIntervalMs,
    onRound: positionRoundMetric(registry),
    logger,
  });
  return {
    tracker,
    async stop() {
      await tracker.stop();
      await admin.disconnect().catch(() => undefined);
    },
  };
}

export async function startReplica(config: ServiceConfig, logger: Logger): Promise<RunningService> {
  const registry = metricsRegistry();
  const avro = userInformationAvro(config);
  const compiled = compiledView(config);
  const replica = new TopicReplica({
    kafka: kafkaClientFor(config, logger, 'replica'),
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
    // The view tasks' records carry the input offsets of their commits: the replica's positions.
    inputTopics: compiled.view.sources.map((s) => s.topic),
    applicationGroupId: config.applicationId,
  });
  const positions = config.connectUrl
    ? await viewPositions(config, compiled, config.connectUrl, logger, registry, {
        local: (partition) => replica.position(partition),
        standby: () => undefined,
      })
    : undefined;
  if (positions) registerFreshnessMetrics(registry, positions.tracker, () => replica.partitionCount);
  const source = new ReplicaViewSource(replica, config.advertisedEndpoint);
  const server = await buildServer({
    source,
    registry,
    corsOrigins: config.corsOrigins,
    batchMaxIds: config.batchMaxIds,
    ...rateLimitOf(config),
    adminApart: config.adminPort !== undefined,
    ...(positions ? { freshness: positions.tracker } : {}),
    maxReadWaitMs: config.maxReadWaitMs,
  });
  const admin = config.adminPort === undefined ? undefined : await buildAdminServer({ source, registry });
  let adminUrl: string | undefined;
  const release = async () => {
    await server.close();
    await admin?.close();
    await positions?.stop();
    await replica.stop();
  };
  try {
    await server.listen({ host: config.host, port: config.port });
    config = withBoundPort(config, server);
    adminUrl = admin ? await admin.listen({ host: config.host, port: config.adminPort ?? 0 }) : undefined;
    source.endpoint = config.advertisedEndpoint;
    await replica.start();
    positions?.tracker.start();
  } catch (error) {
    await release();
    throw error;
  }
  logger.info('serving a read replica', {
    url: `http://${config.host}:${config.port}`,
    ...(adminUrl ? { adminUrl } : {}),
    topic: config.outputTopic,
    kafka: describeSecurity(config.kafkaSecurity),
  });
  return {
    server,
    ...(admin ? { admin } : {}),
    config,
    stop: release,
  };
}

export async function rebuildState(config: ServiceConfig, logger: Logger): Promise<number> {
  return rebuildLocalState(topologyFor(config), streamsSettings(config), logger);
}

export async function resetState(config: ServiceConfig, logger: Logger, dryRun: boolean): Promise<ResetPlan> {
  return resetApplication(topologyFor(config), streamsSettings(config), logger, { dryRun });
}

export async function replayDeadLetterTopic(
  config: ServiceConfig,
  logger: Logger,
  options: ReplayOptions,
): Promise<ReplayResult> {
  return replayDeadLetters(streamsSettings(config), logger, options);
}
