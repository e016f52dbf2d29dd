/**
 * Where each partition of the view stands against the source database, as a
 * PostgreSQL LSN every transaction before which it provably reflects.
 *
 * A round establishes one such position for every partition at once, the way
 * the snapshot gate follows the initial snapshot through the topology: it reads
 * how far the Debezium connector has written (Kafka Connect's offsets, which it
 * stores only once the records before them are in Kafka), takes the CDC
 * topics' ends, waits until the group has committed past them, takes the ends
 * of the repartition topics those tasks write, and so on down to the topics
 * the view's own tasks read. A partition has reached the round once its task
 * on this instance has committed (and so made readable) every record before
 * those last ends. Committed offsets are the consumer's positions, past the
 * transaction markers (StreamTask.markRead), so the comparisons are exact.
 * A copy of a partition (a standby, a replica) knows only the offsets its
 * task's last commit that changed a row carried, which stop short of the
 * markers that close a topic's transactions; when it is a few offsets short
 * of a round's end, the partition's tail is read once for that round: if only
 * markers lie between, the copy has applied every record before the end.
 *
 * Rounds run every `intervalMs`, and at once when a request waits for more
 * than the newest round gives.
 */
import { MARKER_LOOKBACK } from '../kafka/record-finder.js';
import type { SubTopology } from '../processor/compile.js';
import type { TaskPosition } from '../runtime/kafka-streams.js';
import {
  satisfies,
  type Freshness,
  type FreshnessWant,
  type PartitionFreshness,
  type ViewPosition,
} from '../serving/freshness.js';
import type { Logger } from '../util/logger.js';
import type { GatePositions } from './snapshot-gate.js';

/** Where the connector stands: every transaction committed before `lsn` is in the CDC topics. */
export interface ConnectorPosition {
  lsn: bigint;
  /** Source commit time (ms) of the newest transaction it has read, when known. */
  committedAt: number | undefined;
}

export interface PositionSource extends Pick<GatePositions, 'endOffsets' | 'committedOffsets'> {
  connectorPosition(): Promise<ConnectorPosition>;
  /**
   * The offset after the partition's last committed record before `end`, looking at most
   * `lookback` offsets back (see record-finder's committedRecordsEnd).
   */
  recordsEnd(topic: string, partition: number, end: bigint, lookback: number): Promise<bigint>;
}

export interface ViewPositionsOptions {
  /** The topology's sub-topologies, and which one keeps the view store. */
  subtopologies: readonly Pick<SubTopology, 'id' | 'sources' | 'sinkTopics'>[];
  viewSubtopology: number;
  positions: PositionSource;
  /** The view task of a partition on this instance: what its reads reflect. */
  local(partition: number): TaskPosition | undefined;
  /** This instance's standby copy of a partition: what its rows are proven to reflect, if anything. */
  standby(partition: number): TaskPosition | undefined;
  intervalMs: number;
  /** How long a round may wait for the group to commit before it gives up. */
  roundTimeoutMs?: number;
  logger: Logger;
  /** Each round's duration (s), and whether it established a position. */
  onRound?(seconds: number, ok: boolean): void;
}

interface Round extends ViewPosition {
  /** Per topic the view's tasks read, per partition: the offset to have applied. */
  targets: Map<string, Map<number, bigint>>;
  /** Per `topic:partition` looked up: where its records end before the target's markers, or the lookup's state. */
  recordsEnds: Map<string, bigint | 'pending' | 'failed'>;
}

interface Waiter {
  partition: number;
  want: FreshnessWant;
  resolve(met: boolean): void;
  timer: NodeJS.Timeout;
}

/** Rounds kept: the oldest one a partition has reached is its position; newer ones are on their way. */
const ROUNDS_KEPT = 16;
const COMMIT_POLL_MS = 10;
const WAITER_CHECK_MS = 5;

export class ViewPositions implements Freshness {
  private rounds: Round[] = [];
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private waiterTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<Waiter>();
  private stopped = false;
  /** Per partition, the newest round its task here was seen to have reached; and its standby copy here. */
  private readonly reached = new Map<number, Round>();
  private readonly standbyReached = new Map<number, Round>();
  /** Topics in the order a round visits them, with the topics whose commits must come first. */
  private readonly plan: Array<{ topic: string; after: string[] }>;
  private readonly viewTopics: string[];

  constructor(private readonly options: ViewPositionsOptions) {
    const subs = options.subtopologies;
    const writers = (topic: string) => subs.filter((s) => s.sinkTopics.includes(topic));
    const view = subs.find((s) => s.id === options.viewSubtopology);
    if (!view) throw new Error(`no sub-topology ${options.viewSubtopology}`);
    this.viewTopics = view.sources.map((s) => s.topic);
    // Depth-first from the view's inputs up to the external topics; each topic after those feeding it.
    const plan: Array<{ topic: string; after: string[] }> = [];
    const visit = (topic: string, path: Set<string>) => {
      if (plan.some((p) => p.topic === topic)) return;
      if (path.has(topic)) throw new Error(`the topology has a cycle through ${topic}`);
      const after = writers(topic).flatMap((w) => w.sources.map((s) => s.topic));
      for (const upstream of after) visit(upstream, new Set([...path, topic]));
      plan.push({ topic, after });
    };
    for (const topic of this.viewTopics) visit(topic, new Set());
    this.plan = plan;
  }

  start(): void {
    const tick = () => {
      this.timer = setTimeout(() => void this.round().finally(tick), this.options.intervalMs);
      this.timer.unref();
    };
    void this.round().finally(tick);
  }

  /** Resolves once no round uses the Kafka and Connect clients any more (one in flight ends at its next step). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.waiterTimer);
    for (const waiter of this.waiters) this.settle(waiter, false);
    await this.running;
  }

  of(partition: number): PartitionFreshness {
    const local = this.options.local(partition);
    return { position: local && this.positionOf(partition, local, this.reached), lagRecords: local?.lagRecords };
  }

  ofStandby(partition: number): ViewPosition | undefined {
    const copy = this.options.standby(partition);
    if (!copy) {
      this.standbyReached.delete(partition); // a new copy starts from nothing proven
      return undefined;
    }
    return this.positionOf(partition, copy, this.standbyReached);
  }

  waitFor(partition: number, want: FreshnessWant, timeoutMs: number): Promise<boolean> {
    if (satisfies(this.of(partition).position, want)) return Promise.resolve(true);
    if (timeoutMs <= 0 || this.stopped) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        partition,
        want,
        resolve,
        timer: setTimeout(() => this.settle(waiter, false), timeoutMs),
      };
      this.waiters.add(waiter);
      this.waiterTimer ??= setInterval(() => this.checkWaiters(), WAITER_CHECK_MS);
      this.requestRound();
    });
  }

  /** The newest round a copy of the partition has applied; rounds only grow, so later ones are tried first. */
  private positionOf(partition: number, copy: TaskPosition, reached: Map<number, Round>): ViewPosition | undefined {
    const known = reached.get(partition);
    for (let i = this.rounds.length - 1; i >= 0; i--) {
      const round = this.rounds[i]!;
      if (known && round.observedAt <= known.observedAt) break;
      if (this.hasApplied(partition, copy, round)) {
        reached.set(partition, round);
        return round;
      }
    }
    return known;
  }

  private hasApplied(partition: number, copy: TaskPosition, round: Round): boolean {
    for (const topic of this.viewTopics) {
      const target = round.targets.get(topic)?.get(partition) ?? 0n;
      const applied = copy.applied.get(topic) ?? 0n;
      if (applied >= target) continue;
      if (target - applied > BigInt(MARKER_LOOKBACK)) return false;
      const recordsEnd = this.recordsEnd(round, topic, partition, target);
      if (recordsEnd === undefined || applied < recordsEnd) return false;
    }
    return true;
  }

  /** Where the partition's records end before the round's target, once looked up (asked for on first use). */
  private recordsEnd(round: Round, topic: string, partition: number, target: bigint): bigint | undefined {
    const key = `${topic}:${partition}`;
    const known = round.recordsEnds.get(key);
    if (known === 'failed') return target; // the copy must reach the target itself
    if (known !== undefined) return known === 'pending' ? undefined : known;
    // A quiet partition has the same end round after round: looked up once.
    for (const other of this.rounds) {
      const end = other.recordsEnds.get(key);
      if (end === undefined || end === 'failed' || other.targets.get(topic)?.get(partition) !== target) continue;
      if (end === 'pending') return undefined;
      round.recordsEnds.set(key, end);
      return end;
    }
    round.recordsEnds.set(key, 'pending');
    this.options.positions.recordsEnd(topic, partition, target, MARKER_LOOKBACK).then(
      (end) => round.recordsEnds.set(key, end),
      (error: unknown) => {
        round.recordsEnds.set(key, 'failed');
        if (!this.stopped) this.failed(error);
      },
    );
    return undefined;
  }

  private checkWaiters(): void {
    const now = Date.now();
    let needRound = false;
    for (const waiter of this.waiters) {
      if (satisfies(this.of(waiter.partition).position, waiter.want, now)) this.settle(waiter, true);
      else if (!this.roundCouldMeet(waiter.want, now)) needRound = true;
    }
    if (needRound) this.requestRound();
    if (this.waiters.size === 0) {
      clearInterval(this.waiterTimer);
      this.waiterTimer = undefined;
    }
  }

  /** Some round the task may still reach meets the want: a new one would not help. */
  private roundCouldMeet(want: FreshnessWant, now: number): boolean {
    const newest = this.rounds[this.rounds.length - 1];
    return newest !== undefined && satisfies(newest, want, now);
  }

  private settle(waiter: Waiter, met: boolean): void {
    if (!this.waiters.delete(waiter)) return;
    clearTimeout(waiter.timer);
    waiter.resolve(met);
  }

  /** A round now, or right after the one running. */
  private requestRound(): void {
    if (this.running) this.again = true;
    else void this.round();
  }

  private round(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) return this.running;
    const started = performance.now();
    const took = () => (performance.now() - started) / 1000;
    this.running = this.runRound()
      .then((round) => {
        this.rounds.push(round);
        if (this.rounds.length > ROUNDS_KEPT) this.rounds.shift();
        this.options.onRound?.(took(), true);
      })
      .catch((error: unknown) => {
        if (this.stopped) return;
        this.options.onRound?.(took(), false);
        this.failed(error);
      })
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          // Kafka Connect stores its position every offset flush: asking again at once would mostly find the same.
          setTimeout(() => this.requestRound(), 50).unref();
        }
      });
    return this.running;
  }

  private async runRound(): Promise<Round> {
    const { positions } = this.options;
    const observedAt = Date.now();
    const connector = await positions.connectorPosition();
    const targets = new Map<string, Map<number, bigint>>();
    const deadline = Date.now() + (this.options.roundTimeoutMs ?? 60_000);
    for (const { topic, after } of this.plan) {
      for (const upstream of after) await this.waitForCommits(upstream, targets.get(upstream)!, deadline);
      if (this.stopped) throw new Error('stopped');
      targets.set(topic, await positions.endOffsets(topic));
    }
    const viewTargets = new Map(this.viewTopics.map((topic) => [topic, targets.get(topic)!]));
    return {
      lsn: connector.lsn,
      committedAt: connector.committedAt,
      observedAt,
      targets: viewTargets,
      recordsEnds: new Map(),
    };
  }

  private lastFailureLog = 0;

  /** A failed round is logged at most once a minute: Kafka Connect being down would repeat it every round. */
  private failed(error: unknown): void {
    if (Date.now() - this.lastFailureLog < 60_000) return;
    this.lastFailureLog = Date.now();
    this.options.logger.warn('establishing the view position failed; answers keep their last position meanwhile', {
      error,
    });
  }

  /** Until the group's committed offsets of `topic` have reached `targets`. */
  private async waitForCommits(topic: string, targets: Map<number, bigint>, deadline: number): Promise<void> {
    for (;;) {
      const committed = await this.options.positions.committedOffsets(topic);
      if ([...targets].every(([partition, end]) => (committed.get(partition) ?? 0n) >= end)) return;
      if (this.stopped) throw new Error('stopped');
      if (Date.now() > deadline) throw new Error(`the group did not commit ${topic} up to its end in time`);
      await new Promise((resolve) => setTimeout(resolve, COMMIT_POLL_MS));
    }
  }
}
