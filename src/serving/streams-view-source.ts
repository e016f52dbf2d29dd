import type { KafkaStreams } from '../runtime/kafka-streams.js';
import type { Lookup, ViewSource } from './view-source.js';

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
    if (meta.local) {
      if (meta.status !== 'running')
        return { kind: 'unavailable', partition: meta.partition, reason: 'the partition is being restored' };
      const value = this.streams.getLocal(this.storeName, key);
      // Before the task caught up with its input, a missing row may only not have arrived yet.
      if (value === undefined && !meta.caughtUp) {
        return { kind: 'unavailable', partition: meta.partition, reason: 'the partition is catching up' };
      }
      return { kind: 'local', partition: meta.partition, value };
    }
    if (meta.owner && meta.owner !== this.endpoint)
      return { kind: 'remote', partition: meta.partition, owner: meta.owner };
    return { kind: 'unavailable', partition: meta.partition, reason: 'the partition is being reassigned' };
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
