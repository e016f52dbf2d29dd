import type { TopicReplica } from '../runtime/topic-replica.js';
import { noStandby, type Lookup, type ViewSource } from './view-source.js';

/** Rows of a read replica: every key is local. */
export class ReplicaViewSource implements ViewSource {
  constructor(
    private readonly replica: TopicReplica,
    /** Set once the server listens (with port 0 the port is known only then). */
    public endpoint: string,
  ) {}

  lookup(key: Buffer): Lookup {
    const partition = this.replica.partitionOf(key);
    const value = this.replica.get(key);
    if (value === undefined && !this.replica.ready)
      return { kind: 'unavailable', partition, reason: 'the replica is catching up', standby: noStandby };
    return { kind: 'local', partition, value };
  }

  isMember(): boolean {
    return false;
  }

  readiness(): { ready: boolean; reason?: string } {
    return this.replica.ready ? { ready: true } : { ready: false, reason: 'the replica is catching up with the topic' };
  }
}
