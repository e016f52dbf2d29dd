/**
 * GroupConsumer with @platformatic/kafka's group membership (join, sync,
 * heartbeats on a timer of their own, static membership) and our own fetch
 * loop: Fetch requests to each partition's leader, read_committed, the record
 * batches walked in place (record-batches.ts) rather than decoded into objects.
 * Each fetch's partitions go to the batch handler one at a time, in order.
 *
 * A batch is out of date (`stillValid` false) once the group starts a
 * rebalance, a new assignment arrives, or its partition is sought.
 */
import { Consumer, type GroupPartitionsAssignments } from '@platformatic/kafka';
import type { KafkaSecurity } from '../security.js';
import { platformaticSecurity } from './security.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { partitionLeaders } from '../admin.js';
import type {
  Broker,
  ClusterAdmin,
  ConsumedRecord,
  GroupAssignor,
  GroupConsumer,
  GroupConsumerOptions,
} from '../client.js';
import { FETCH, fetchRequest, LEADER_MOVED, parseFetchResponse, type FetchedPartition } from '../fetch-request.js';
import { walkRecordBatches } from '../record-batches.js';
import { BrokerConnection } from '../wire.js';
import type { Logger } from '../../util/logger.js';

interface PartitionState {
  topic: string;
  partition: number;
  /** Next offset to fetch. */
  position: bigint;
  /** Bumped by every seek: a batch fetched before it is out of date. */
  epoch: number;
}

/** A partition asked for in a fetch: from which offset, and as of which seek and assignment. */
interface Ask {
  state: PartitionState;
  offset: bigint;
  epoch: number;
  generation: number;
}

interface FetchResult {
  ask: Ask;
  fetched: FetchedPartition;
}

interface Batch {
  ask: Ask;
  records: ConsumedRecord[];
  firstOffset: bigint;
  nextOffset: bigint;
  highWatermark: bigint;
}

const key = (topic: string, partition: number) => `${topic}:${partition}`;

export interface PlatformaticConsumerSettings {
  clientId: string;
  brokers: string[];
  /** TLS and SASL for the group membership's connections (absent: PLAINTEXT). */
  security?: KafkaSecurity;
  logger: Logger;
  /** This consumer's own admin client (offsets, leaders): connected by `start`, disconnected by `stop`. */
  admin: ClusterAdmin;
}

export class PlatformaticGroupConsumer implements GroupConsumer {
  private readonly member: Consumer;
  private assigned = new Map<string, PartitionState>();
  private readonly paused = new Set<string>();
  /** Bumped when a rebalance starts and when an assignment arrives: older batches are out of date. */
  private generation = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly connections = new Map<number, BrokerConnection>();
  private leaders: Map<string, Broker> | undefined;
  private readonly log: Logger;

  constructor(
    private readonly options: GroupConsumerOptions,
    private readonly settings: PlatformaticConsumerSettings,
  ) {
    this.log = settings.logger.child({ component: 'group-consumer', group: options.groupId });
    this.member = new Consumer({
      clientId: settings.clientId,
      bootstrapBrokers: settings.brokers,
      ...platformaticSecurity(settings.security),
      groupId: options.groupId,
      ...(options.groupInstanceId !== undefined ? { groupInstanceId: options.groupInstanceId } : {}),
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 3_000,
      rebalanceTimeout: options.rebalanceTimeoutMs ?? 60_000,
      autocommit: false,
      retries: options.retry?.retries ?? 8,
      retryDelay: options.retry?.initialRetryTime ?? 100,
      ...(options.assignor ? membershipProtocol(options.assignor) : {}),
    });
    this.member.topics.trackAll(...options.topics);
    // As kafkajs does (eager rebalancing): nothing is fetched or delivered between a rebalance's start and
    // the next assignment, which starts every partition again where the group committed.
    this.member.on('consumer:group:rebalance', () => {
      this.generation++;
      this.assigned = new Map();
    });
    this.member.on('consumer:group:join', (payload) => void this.onJoin(payload));
    this.member.on('consumer:heartbeat:error', ({ error }: { error: unknown }) =>
      this.log.warn('heartbeat failed; the next one follows on its timer', { error }),
    );
    this.member.on('error', (error: Error) => {
      if (!this.running) return;
      this.options.onCrash?.(error, false);
    });
  }

  async start(): Promise<void> {
    this.running = true;
    await this.settings.admin.connect();
    await this.join();
    this.loop ??= this.fetchLoop();
  }

  async rejoin(): Promise<void> {
    this.generation++;
    await this.member.joinGroup({});
  }

  async restart(): Promise<void> {
    this.running = true;
    await this.join();
    this.loop ??= this.fetchLoop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.generation++;
    await this.loop?.catch(() => undefined);
    this.loop = undefined;
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
    // Closing leaves the group first; a static member does not leave (patches/@platformatic+kafka).
    await this.member.close().catch((error: unknown) => this.log.debug('leaving the group failed', { error }));
    await this.settings.admin.disconnect().catch(() => undefined);
  }

  /**
   * Joins the group, retrying what the client calls retriable for up to a minute: a topic another
   * instance has just created may not be known to every broker yet (UNKNOWN_TOPIC_OR_PARTITION).
   */
  private async join(): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.member.joinGroup({});
        return;
      } catch (error) {
        if (!this.running || !retriable(error) || Date.now() > deadline) throw error;
        this.log.debug('joining the group failed; retrying', { attempt, error });
        this.member.clearMetadata();
        await sleep(Math.min(2_000, 100 * attempt));
      }
    }
  }

  pause(topic: string, partition: number): void {
    this.paused.add(key(topic, partition));
  }

  resume(topic: string, partition: number): void {
    this.paused.delete(key(topic, partition));
  }

  seek(topic: string, partition: number, offset: bigint): void {
    const state = this.assigned.get(key(topic, partition));
    if (!state) return; // not ours: the next assignment starts it where the group committed
    state.position = offset;
    state.epoch++;
  }

  /** A new assignment: every assigned partition starts at the group's committed offset (its beginning if none). */
  private async onJoin(payload: {
    memberId: string;
    generationId?: number;
    assignments?: Array<{ topic: string; partitions: number[] }>;
  }): Promise<void> {
    const generation = ++this.generation;
    this.assigned = new Map();
    const assignment: Record<string, number[]> = {};
    const states = new Map<string, PartitionState>();
    try {
      for (const { topic, partitions } of payload.assignments ?? []) {
        assignment[topic] = partitions;
        const committed =
          partitions.length > 0 ? await this.settings.admin.groupOffsets(this.options.groupId, topic) : new Map();
        for (const partition of partitions)
          states.set(key(topic, partition), { topic, partition, position: committed.get(partition) ?? 0n, epoch: 0 });
      }
    } catch (error) {
      if (generation !== this.generation) return;
      this.log.warn('reading the committed offsets of a new assignment failed; rejoining', { error });
      void this.rejoin().catch((rejoinError: unknown) => this.options.onCrash?.(rejoinError, false));
      return;
    }
    if (generation !== this.generation) return; // a newer rebalance is under way
    this.assigned = states;
    this.options.onJoin?.({ memberId: payload.memberId, generationId: payload.generationId ?? -1, assignment });
  }

  /**
   * Fetches and delivers until stopped. Each response is walked whole first, so the positions after it
   * are known before any of its records is delivered: the next fetch is then on its way while they are
   * processed. A prefetched partition is delivered only if nothing moved it meanwhile (a seek, a new
   * assignment, or its previous records not all delivered).
   */
  private async fetchLoop(): Promise<void> {
    let failures = 0;
    let prefetched: Promise<FetchResult[]> | undefined;
    while (this.running) {
      try {
        const results = await (prefetched ?? this.fetch(this.asks()));
        prefetched = undefined;
        const batches = results.map((result) => this.walk(result)).filter((batch) => batch !== undefined);
        if (this.running) {
          prefetched = this.fetch(this.asks(new Map(batches.map((batch) => [batch.ask.state, batch.nextOffset]))));
          prefetched.catch(() => undefined); // awaited, and its failure handled, on the next turn
        }
        for (const batch of batches) {
          await this.deliver(batch);
          if (!this.running) return;
        }
        if (results.length > 0) this.options.onFetch?.();
        failures = 0;
      } catch (error) {
        prefetched = undefined;
        failures++;
        this.leaders = undefined;
        for (const connection of this.connections.values()) connection.close();
        this.connections.clear();
        if (!this.running) return;
        // A broker restarting, a leader moving: retried here, as the group membership is by the client.
        this.log.warn('fetching failed; retrying', { attempt: failures, error });
        await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  /** What to fetch: every assigned partition not paused, from its position (or where `after` says its records end). */
  private asks(after: ReadonlyMap<PartitionState, bigint> = new Map()): Ask[] {
    const asks: Ask[] = [];
    for (const state of this.assigned.values()) {
      if (this.paused.has(key(state.topic, state.partition))) continue;
      asks.push({ state, offset: after.get(state) ?? state.position, epoch: state.epoch, generation: this.generation });
    }
    return asks;
  }

  /** One Fetch to each leader of the asked partitions, at once; nothing asked: a short pause. */
  private async fetch(asks: Ask[]): Promise<FetchResult[]> {
    if (asks.length === 0) {
      await sleep(Math.min(50, this.options.fetchMaxWaitMs));
      return [];
    }
    this.leaders ??= await partitionLeaders(this.settings.admin, this.options.topics);
    const byLeader = new Map<number, { broker: Broker; asks: Ask[] }>();
    for (const ask of asks) {
      const leader = this.leaders.get(key(ask.state.topic, ask.state.partition));
      if (!leader) throw new Error(`no live leader for ${ask.state.topic}-${ask.state.partition}`);
      const entry = byLeader.get(leader.nodeId) ?? { broker: leader, asks: [] };
      entry.asks.push(ask);
      byLeader.set(leader.nodeId, entry);
    }
    const responses = await Promise.all(
      [...byLeader].map(async ([nodeId, { broker, asks: led }]) => {
        const response = await this.connection(nodeId, broker).request(
          FETCH.key,
          FETCH.version,
          fetchRequest(
            led.map((a) => ({ topic: a.state.topic, partition: a.state.partition, offset: a.offset })),
            { maxWaitMs: this.options.fetchMaxWaitMs, maxBytes: 8 * 1024 * 1024, partitionMaxBytes: 1024 * 1024 },
          ),
          this.options.fetchMaxWaitMs + 30_000,
        );
        const byPartition = new Map(led.map((a) => [key(a.state.topic, a.state.partition), a]));
        const results: FetchResult[] = [];
        for (const fetched of parseFetchResponse(response.b, response.at)) {
          const ask = byPartition.get(key(fetched.topic, fetched.partition));
          if (ask) results.push({ ask, fetched });
        }
        return results;
      }),
    );
    return responses.flat();
  }

  /** True while nothing has moved the asked partition since it was asked for. */
  private current(ask: Ask): boolean {
    const { state } = ask;
    return (
      this.running &&
      ask.generation === this.generation &&
      state.epoch === ask.epoch &&
      state.position === ask.offset &&
      this.assigned.get(key(state.topic, state.partition)) === state
    );
  }

  /** A fetched partition's committed records (views into the response), or undefined when there is nothing to deliver. */
  private walk({ ask, fetched }: FetchResult): Batch | undefined {
    if (!this.current(ask)) return undefined;
    if (fetched.errorCode !== 0) {
      if (LEADER_MOVED.has(fetched.errorCode)) {
        this.leaders = undefined;
        return undefined;
      }
      if (fetched.errorCode === 1) {
        // OFFSET_OUT_OF_RANGE: the records were deleted (retention); start from the earliest kept.
        this.log.warn('fetch position out of range; reading from the earliest offset', {
          topic: fetched.topic,
          partition: fetched.partition,
        });
        ask.state.position = 0n;
        return undefined;
      }
      throw new Error(`fetching ${fetched.topic}-${fetched.partition} failed with error ${fetched.errorCode}`);
    }
    if (!fetched.records) return undefined;
    const { topic, partition } = ask.state;
    const records: ConsumedRecord[] = [];
    const from = Number(ask.offset);
    let firstOffset: number | undefined;
    const next = walkRecordBatches(fetched.records, fetched.aborted, (offset, recordKey, value, timestamp, headers) => {
      if (offset < from) return; // a batch starts before the position asked for
      firstOffset ??= offset;
      // Every record has the same fields (and so one hidden class in V8), headers or not.
      records.push({
        topic,
        partition,
        offset: String(offset),
        timestamp,
        key: recordKey,
        value,
        headers,
        lineage: undefined,
      });
    });
    if (next === undefined || next <= ask.offset) return undefined;
    return {
      ask,
      records,
      firstOffset: firstOffset === undefined ? ask.offset : BigInt(firstOffset),
      nextOffset: next,
      highWatermark: fetched.highWatermark,
    };
  }

  private async deliver(batch: Batch): Promise<void> {
    const { ask, records, nextOffset } = batch;
    const { topic, partition } = ask.state;
    if (!this.current(ask)) return;
    if (records.length > 0) {
      await this.options.eachBatch({
        topic,
        partition,
        records,
        fetchedOffset: ask.offset,
        nextOffset,
        stillValid: () => this.current(ask),
        resolve: () => undefined,
        heartbeat: async () => undefined, // heartbeats run on their own timer
      });
      if (!this.current(ask)) return;
    }
    ask.state.position = nextOffset;
    this.options.onBatchDone?.({
      topic,
      partition,
      records: records.length,
      firstOffset: batch.firstOffset,
      nextOffset,
      highWatermark: batch.highWatermark,
      lag: batch.highWatermark > nextOffset ? batch.highWatermark - nextOffset : 0n,
    });
  }

  private connection(nodeId: number, broker: Broker): BrokerConnection {
    let connection = this.connections.get(nodeId);
    if (!connection) {
      connection = new BrokerConnection(broker, this.settings.clientId);
      this.connections.set(nodeId, connection);
    }
    return connection;
  }
}

/**
 * The group protocol for our assignor. The subscription's user data are read anew for every join
 * (a getter: the client reads `metadata` each time it joins); the assignor may answer with a
 * promise and hand each member user data (both added by patches/@platformatic+kafka).
 */
function membershipProtocol(assignor: GroupAssignor) {
  return {
    protocols: [
      {
        name: assignor.name,
        version: 2,
        get metadata() {
          return assignor.userData();
        },
      },
    ],
    partitionAssigner: ((
      _self: string,
      members: Map<string, { memberId: string; metadata?: Buffer | null }>,
      _topics: Set<string>,
      metadata: { topics: Map<string, { partitionsCount: number }> },
    ) =>
      assignor
        .assign({
          members: [...members.values()].map((m) => ({ memberId: m.memberId, userData: m.metadata ?? null })),
          partitionCount: (topic) => metadata.topics.get(topic)?.partitionsCount ?? 0,
        })
        .then((assigned) =>
          assigned.map(({ memberId, partitions, userData }) => ({
            memberId,
            userData,
            assignments: new Map(Object.entries(partitions).map(([topic, ids]) => [topic, { topic, partitions: ids }])),
          })),
        )) as unknown as (...args: unknown[]) => GroupPartitionsAssignments[], // patched to take a promise
  };
}

/** True when the client says the error (or any error it aggregates) is worth retrying. */
function retriable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as { canRetry?: boolean }).canRetry === true) return true;
  const nested = (error as { errors?: unknown[] }).errors;
  return Array.isArray(nested) && nested.some(retriable);
}
