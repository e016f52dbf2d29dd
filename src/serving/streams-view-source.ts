import type { KafkaStreams, KeyMetadata, TaskPosition } from '../runtime/kafka-streams.js';
import { INSTANCE_STARTING, placeKey } from '../query/key-placement.js';
import type { StoreRow } from '../query/queryable-stores.js';
import type { RangeQuery } from '../state/range-query.js';
import { noStandby, type Lookup, type StandbyCopies, type ViewSource } from './view-source.js';

/**
 * One store of a running streams application as the serving layer sees it: where a key lives,
 * and the committed rows of this instance's copies. The engine may run on this thread
 * (`storeViewOf`) or on another one (engine-thread.ts mirrors it).
 */
export interface StoreView {
  readonly endpoint: string;
  /** undefined: the engine has not started yet. */
  keyMetadata(key: Buffer): KeyMetadata | undefined;
  /** Where a partition lives; undefined: the engine has not started yet, or no such partition. */
  partitionMetadata(partition: number): KeyMetadata | undefined;
  /** A committed row of the key's task, which runs here (`partition`: the key's, as keyMetadata found it). */
  readActive(key: Buffer, partition: number): Buffer | undefined;
  /** A committed row of another store of the key's task, which runs here (e.g. a lineage store). */
  readActiveIn(storeName: string, key: Buffer, partition: number): Buffer | undefined;
  /** Committed rows of another store of a partition's task, which runs here, from one snapshot. */
  rangeActiveIn(storeName: string, partition: number, query: RangeQuery): Promise<StoreRow[]>;
  /** A row of this instance's standby copy of the key's task (see KafkaStreams.getStandby). */
  readStandby(key: Buffer, partition: number): Buffer | undefined;
  /** Where the partition's active task stands in its input, when it runs here; what readActive reflects at least. */
  position(partition: number): TaskPosition | undefined;
  /** What this instance's standby copy of the partition is proven to reflect; what readStandby reflects at least. */
  standbyPosition(partition: number): TaskPosition | undefined;
  /** host:port of every instance in the group. */
  readonly members: string[];
  /** Partitions of the store (0 until the engine has started). */
  readonly partitionCount: number;
  /** Why not every local task is restored and caught up; undefined once they are. */
  notReady(): string | undefined;
}

/** Why an engine in `state` is not ready, until every local task is restored and caught up. */
export function notRestoredReason(state: string): string {
  return `streams ${state}; not every task is restored and caught up`;
}

/** The view of a store of a KafkaStreams running on this thread. */
export function storeViewOf(streams: KafkaStreams, storeName: string): StoreView {
  const started = () => streams.state !== 'created' && streams.state !== 'starting';
  return {
    get endpoint() {
      return streams.config.endpoint;
    },
    keyMetadata: (key) => (started() ? streams.keyMetadata(storeName, key) : undefined),
    partitionMetadata: (partition) => (started() ? streams.storePartitions(storeName)[partition] : undefined),
    readActive: (key) => streams.getLocal(storeName, key),
    readActiveIn: (otherStore, key) => streams.getLocal(otherStore, key),
    rangeActiveIn: (otherStore, partition, query) => streams.rangeLocal(otherStore, partition, query),
    readStandby: (key) => streams.getStandby(storeName, key),
    position: (partition) => streams.storePosition(storeName, partition),
    standbyPosition: (partition) => streams.standbyPosition(storeName, partition),
    get members() {
      return streams.members;
    },
    get partitionCount() {
      return started() ? streams.storePartitions(storeName).length : 0;
    },
    notReady: () => (streams.ready ? undefined : notRestoredReason(streams.state)),
  };
}

type Readiness = { ready: boolean; reason?: string };

const ENGINE_STARTING = 'the engine is starting';

/**
 * Rows of a store of a running streams application: local tasks, or the owner's address. The
 * server can listen before the engine has started: until `attach`, every key is unavailable.
 */
export class StreamsViewSource implements ViewSource {
  private view: StoreView | undefined;
  /** Extra readiness condition (e.g. the initial CDC snapshot applied). */
  private gate: () => Readiness = () => ({ ready: true });

  constructor(
    /** This instance's host:port while no engine is attached. */
    private readonly startingEndpoint: () => string,
  ) {}

  static of(view: StoreView, gate?: () => Readiness): StreamsViewSource {
    const source = new StreamsViewSource(() => view.endpoint);
    source.attach(view, gate);
    return source;
  }

  attach(view: StoreView, gate: () => Readiness = () => ({ ready: true })): void {
    this.view = view;
    this.gate = gate;
  }

  get endpoint(): string {
    return this.view?.endpoint ?? this.startingEndpoint();
  }

  /** Routed by the query layer's rule (placeKey), as the generic store routes are; with standby copies beside. */
  lookup(key: Buffer): Lookup {
    const view = this.view;
    const meta = view?.keyMetadata(key);
    if (!view || !meta)
      return { kind: 'unavailable', partition: undefined, reason: INSTANCE_STARTING, standby: noStandby };
    const placement = placeKey(meta, this.endpoint);
    const standby = this.standbyCopies(view, key, meta);
    if (placement.kind !== 'local') return { ...placement, standby };
    const value = view.readActive(key, placement.partition);
    if (value === undefined && !placement.caughtUp) {
      return { kind: 'unavailable', partition: placement.partition, reason: 'the partition is catching up', standby };
    }
    return { kind: 'local', partition: placement.partition, value };
  }

  private standbyCopies(view: StoreView, key: Buffer, meta: KeyMetadata): StandbyCopies {
    const local = meta.localStandby;
    return {
      hosts: meta.standbyHosts.filter((host) => host !== this.endpoint),
      readLocal: (maxStalenessMs) => {
        if (!local || local.stalenessMs === undefined || local.stalenessMs > maxStalenessMs) return undefined;
        return {
          value: view.readStandby(key, meta.partition),
          lagRecords: local.lagRecords,
          stalenessMs: local.stalenessMs,
        };
      },
    };
  }

  isMember(endpoint: string): boolean {
    return this.view?.members.includes(endpoint) ?? false;
  }

  readiness(): Readiness {
    if (!this.view) return { ready: false, reason: ENGINE_STARTING };
    const reason = this.view.notReady();
    return reason === undefined ? this.gate() : { ready: false, reason };
  }
}
