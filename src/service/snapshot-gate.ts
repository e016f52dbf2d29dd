/**
 * Readiness waits for the initial Debezium snapshot to be applied, all the
 * way through the topology: until the connector's offset (Kafka Connect REST,
 * GET /connectors/<name>/offsets) shows it has finished snapshotting, then
 * until the application's group has processed the CDC topics up to where they
 * ended at that moment, then each repartition topic in turn, in the order the
 * data flows, up to where it ended once everything feeding it was processed.
 * Before that, a user missing from the view, or a count too low, may only not
 * have been processed yet.
 */
import { committedOffsets, endOffsets, partitionCounts } from '../kafka/admin.js';
import type { ClusterAdmin } from '../kafka/client.js';
import { committedRecordsEnd } from '../kafka/record-finder.js';
import type { SubTopology } from '../processor/compile.js';
import type { Logger } from '../util/logger.js';
import type { ConnectorPosition, PositionSource } from './view-positions.js';

/** Where the gate reads positions from: Kafka in the service, a table in unit tests. */
export interface GatePositions {
  /** The connector has finished its initial snapshot. */
  snapshotFinished(): Promise<boolean>;
  /** Last stable offset per partition (read_committed: the end of what a consumer can read). */
  endOffsets(topic: string): Promise<Map<number, bigint>>;
  /** The group's committed offset per partition. */
  committedOffsets(topic: string): Promise<Map<number, bigint>>;
  /** Number of partitions of a topic. */
  partitions(topic: string): Promise<number>;
}

export interface SnapshotGateOptions {
  /** The Debezium connector's name, for the reason readiness gives. */
  connector: string;
  cdcTopics: string[];
  /** The topology's sub-topologies: which repartition topics each reads and writes. */
  subtopologies: readonly Pick<SubTopology, 'sources' | 'sinkTopics'>[];
  positions: GatePositions;
  logger: Logger;
}

interface Stage {
  topic: string;
  /** Offsets the group has to reach, per partition. */
  targets: Map<number, bigint>;
  /**
   * Offsets at the end of each partition that may be transaction markers, which a consumer skips and never
   * commits past: 0 for a CDC topic, and for a repartition topic one per task writing to it.
   */
  trailingMarkers: bigint;
}

export class SnapshotGate {
  private snapshotDone = false;
  private applied = false;
  /** Topics whose stage is done: every record up to its target processed. */
  private readonly done = new Set<string>();
  private readonly stages = new Map<string, Stage>();
  private remaining = new Map<string, bigint>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  /** Sub-topologies writing each topic. */
  private readonly writers = new Map<string, Array<Pick<SubTopology, 'sources'>>>();
  /** Repartition topics: the stages after the CDC topics. */
  private readonly repartitionTopics: Set<string>;

  constructor(private readonly options: SnapshotGateOptions) {
    for (const sub of options.subtopologies)
      for (const topic of sub.sinkTopics) this.writers.set(topic, [...(this.writers.get(topic) ?? []), sub]);
    this.repartitionTopics = new Set(
      options.subtopologies.flatMap((s) => s.sources.filter((x) => x.internal).map((x) => x.topic)),
    );
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), 1000);
    this.timer.unref();
    void this.check();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  status(): { ready: boolean; reason?: string } {
    if (this.applied) return { ready: true };
    if (!this.snapshotDone)
      return {
        ready: false,
        reason: `the Debezium connector ${this.options.connector} has not finished its initial snapshot`,
      };
    const left = [...this.remaining].map(([topic, records]) => `${topic}: ${records}`).join(', ');
    return {
      ready: false,
      reason: `the initial snapshot is not yet fully processed${left ? ` (records left: ${left})` : ''}`,
    };
  }

  /** One step forward; public so tests can drive it without a timer. */
  async check(): Promise<void> {
    if (this.checking || this.applied) return;
    this.checking = true;
    try {
      if (!this.snapshotDone) {
        if (!(await this.options.positions.snapshotFinished())) return;
        for (const topic of this.options.cdcTopics) if (!this.stages.has(topic)) await this.open(topic, 0n);
        this.snapshotDone = true;
      }
      await this.advance();
    } catch (error) {
      this.options.logger.warn('checking the snapshot state failed; retrying', { error });
    } finally {
      this.checking = false;
    }
  }

  /** Closes the stages the group has caught up with, and opens the topics they fed. */
  private async advance(): Promise<void> {
    for (let progressed = true; progressed;) {
      progressed = false;
      for (const stage of this.stages.values()) {
        if (!(await this.caughtUp(stage))) continue;
        this.stages.delete(stage.topic);
        this.remaining.delete(stage.topic);
        this.done.add(stage.topic);
        progressed = true;
      }
      for (const topic of this.readyToOpen()) {
        await this.open(topic, await this.writerTasks(topic));
        progressed = true;
      }
    }
    if (this.stages.size === 0) {
      this.applied = true;
      clearInterval(this.timer);
      this.options.logger.info('the initial snapshot is applied');
    }
  }

  /** Repartition topics not yet opened whose every writer has processed all its input. */
  private readyToOpen(): string[] {
    return [...this.repartitionTopics].filter(
      (topic) =>
        !this.done.has(topic) &&
        !this.stages.has(topic) &&
        (this.writers.get(topic) ?? []).every((sub) => sub.sources.every((source) => this.done.has(source.topic))),
    );
  }

  private async open(topic: string, trailingMarkers: bigint): Promise<void> {
    this.stages.set(topic, { topic, targets: await this.options.positions.endOffsets(topic), trailingMarkers });
  }

  /** Tasks writing to a repartition topic: each has its own producer, so its own transaction markers. */
  private async writerTasks(topic: string): Promise<bigint> {
    let tasks = 0;
    for (const sub of this.writers.get(topic) ?? [])
      tasks += await this.options.positions.partitions(sub.sources[0]!.topic);
    return BigInt(tasks);
  }

  /**
   * Every record before the target is processed. In a topic written only in
   * transactions, the last stable offset follows transaction markers, which a
   * consumer skips and never "processes": after the last record come at most
   * one marker per writing task (the transactions of concurrent writers end
   * one after the other), so the committed offset may stop that many short.
   * Where fewer markers end a partition, up to that many of its last records
   * may still be in flight when the gate opens: readiness is exact to within
   * a commit interval. (An aborted transaction is not the end either: the
   * task that failed redoes the same input, which writes the same keys to the
   * same partitions and commits.)
   */
  private async caughtUp(stage: Stage): Promise<boolean> {
    const committed = await this.options.positions.committedOffsets(stage.topic);
    let left = 0n;
    for (const [partition, end] of stage.targets) {
      const behind = end - stage.trailingMarkers - (committed.get(partition) ?? 0n);
      if (end > 0n && behind > 0n) left += behind;
    }
    this.remaining.set(stage.topic, left);
    return left === 0n;
  }
}

/** The gate's positions from Kafka Connect's REST API and a Kafka admin client. */
export function kafkaGatePositions(options: {
  connectUrl: string;
  connector: string;
  groupId: string;
  admin: ClusterAdmin;
}): GatePositions & PositionSource {
  /** The connector's stored source offsets (Kafka Connect stores them once the records before are in Kafka). */
  const connectorOffsets = async (): Promise<Array<Record<string, unknown>>> => {
    const url = `${options.connectUrl}/connectors/${encodeURIComponent(options.connector)}/offsets`;
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) throw new Error(`Kafka Connect answered ${response.status} for the connector's offsets`);
    const body = (await response.json()) as { offsets?: Array<{ offset?: Record<string, unknown> }> };
    return (body.offsets ?? []).map((o) => o.offset ?? {});
  };
  return {
    async snapshotFinished() {
      const offsets = await connectorOffsets();
      return offsets.length > 0 && offsets.every((o) => Object.keys(o).length > 0 && !('snapshot' in o));
    },
    async connectorPosition() {
      const [offset] = await connectorOffsets();
      if (!offset) throw new Error(`the connector ${options.connector} has stored no offsets yet`);
      return debeziumPosition(offset);
    },
    endOffsets: (topic) => endOffsets(options.admin, topic),
    committedOffsets: (topic) => committedOffsets(options.admin, options.groupId, topic),
    partitions: async (topic) => (await partitionCounts(options.admin, [topic])).get(topic) ?? 0,
    recordsEnd: (topic, partition, end, lookback) =>
      committedRecordsEnd(options.admin, `${options.groupId}-positions`, { topic, partition, end, lookback }),
  };
}

/**
 * Debezium's PostgreSQL source offset as a position: `lsn` is the last change it read, `lsn_commit`
 * the end of the last transaction it finished (exactly `pg_current_wal_lsn()` after that commit, in
 * a database that wrote nothing else). PostgreSQL sends transactions in commit order, so every
 * transaction that ended at or before the larger of the two has been read whole.
 */
export function debeziumPosition(offset: Record<string, unknown>): ConnectorPosition {
  const lsns = [offset.lsn, offset.lsn_commit].filter((v) => typeof v === 'number' || typeof v === 'string');
  if (lsns.length === 0) throw new Error("the connector's offset has no lsn");
  const lsn = lsns.map((v) => BigInt(v as number | string)).reduce((a, b) => (a > b ? a : b));
  const usec = Number(offset.ts_usec);
  return { lsn, committedAt: Number.isFinite(usec) && usec > 0 ? Math.floor(usec / 1000) : undefined };
}
