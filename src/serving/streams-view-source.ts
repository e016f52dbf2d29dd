import type { KafkaStreams, KeyMetadata } from '../runtime/kafka-streams.js';
import type { Lookup, StandbyCopies, ViewSource } from './view-source.js';

/** Rows of a store of a running streams application: local tasks, or the owner's address. */
export class StreamsViewSource implements ViewSource {
  constructor(
    private readonly streams: KafkaStreams,
    private readonly storeName: string,
    /** Extra readiness condition (e.g. the initial CDC snapshot applied). */
    private readonly gate: () => { ready: boolean; reason?: string } = () => ({ ready: true }),
  ) {}

  get endpoint(): string {
    return this.streams.config.endpoint;
  }

  lookup(key: Buffer): Lookup {
    const meta = this.streams.keyMetadata(this.storeName, key);
    const standby = this.standbyCopies(key, meta);
    if (meta.local) {
      if (meta.status !== 'running')
        return { kind: 'unavailable', partition: meta.partition, reason: 'the partition is being restored', standby };
      const value = this.streams.getLocal(this.storeName, key);
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
        return {
          value: this.streams.getStandby(this.storeName, key),
          lagRecords: local.lagRecords,
          stalenessMs: local.stalenessMs,
        };
      },
    };
  }

  isMember(endpoint: string): boolean {
    return this.streams.members.includes(endpoint);
  }

  readiness(): { ready: boolean; reason?: string } {
    if (!this.streams.ready)
      return { ready: false, reason: `streams ${this.streams.state}; not every task is restored and caught up` };
    return this.gate();
  }
}
