import type { KafkaStreams, KeyMetadata } from '../runtime/kafka-streams.js';
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
  /** A committed row of the key's task, which runs here. */
  readActive(key: Buffer): Buffer | undefined;
  /** A row of this instance's standby copy of the key's task (see KafkaStreams.getStandby). */
  readStandby(key: Buffer): Buffer | undefined;
  /** host:port of every instance in the group. */
  readonly members: string[];
  /** Why not every local task is restored and caught up; undefined once they are. */
  notReady(): string | undefined;
}

/** The view of a store of a KafkaStreams running on this thread. */
export function storeViewOf(streams: KafkaStreams, storeName: string): StoreView {
  return {
    get endpoint() {
      return streams.config.endpoint;
    },
    keyMetadata: (key) =>
      streams.state === 'created' || streams.state === 'starting' ? undefined : streams.keyMetadata(storeName, key),
    readActive: (key) => streams.getLocal(storeName, key),
    readStandby: (key) => streams.getStandby(storeName, key),
    get members() {
      return streams.members;
    },
    notReady: () => (streams.ready ? undefined : `streams ${streams.state}; not every task is restored and caught up`),
  };
}

/** Rows of a store of a running streams application: local tasks, or the owner's address. */
export class StreamsViewSource implements ViewSource {
  constructor(
    private readonly view: StoreView,
    /** Extra readiness condition (e.g. the initial CDC snapshot applied). */
    private readonly gate: () => { ready: boolean; reason?: string } = () => ({ ready: true }),
  ) {}

  get endpoint(): string {
    return this.view.endpoint;
  }

  lookup(key: Buffer): Lookup {
    const meta = this.view.keyMetadata(key);
    if (!meta)
      return { kind: 'unavailable', partition: undefined, reason: 'the engine is starting', standby: noStandby };
    const standby = this.standbyCopies(key, meta);
    if (meta.local) {
      if (meta.status !== 'running')
        return { kind: 'unavailable', partition: meta.partition, reason: 'the partition is being restored', standby };
      const value = this.view.readActive(key);
      // Before the task caught up with its input, a missing row may only not have arrived yet.
      if (value === undefined && !meta.caughtUp) {
        return { kind: 'unavailable', partition: meta.partition, reason: 'the partition is catching up', standby };
      }
      return { kind: 'local', partition: meta.partition, value };
    }
    if (meta.owner && meta.owner !== this.endpoint)
      return { kind: 'remote', partition: meta.partition, owner: meta.owner, standby };
    return { kind: 'unavailable', partition: meta.partition, reason: 'the partition is being reassigned', standby };
  }

  private standbyCopies(key: Buffer, meta: KeyMetadata): StandbyCopies {
    const local = meta.localStandby;
    return {
      hosts: meta.standbyHosts.filter((host) => host !== this.endpoint),
      readLocal: (maxStalenessMs) => {
        if (!local || local.stalenessMs === undefined || local.stalenessMs > maxStalenessMs) return undefined;
        return { value: this.view.readStandby(key), lagRecords: local.lagRecords, stalenessMs: local.stalenessMs };
      },
    };
  }

  isMember(endpoint: string): boolean {
    return this.view.members.includes(endpoint);
  }

  readiness(): { ready: boolean; reason?: string } {
    const reason = this.view.notReady();
    return reason === undefined ? this.gate() : { ready: false, reason };
  }
}
