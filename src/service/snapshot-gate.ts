/**
 * Readiness waits for the initial Debezium snapshot: until the connector's
 * offset (Kafka Connect REST, GET /connectors/<name>/offsets) shows it has
 * finished snapshotting, and the application's group has processed the CDC
 * topics up to where they ended at that moment. Before that, a user missing
 * from the view may only not have been read yet.
 */
import type { Admin } from 'kafkajs';
import { committedOffsets, endOffsets } from '../kafka/admin.js';
import type { Logger } from '../util/logger.js';

export interface SnapshotGateOptions {
  connectUrl: string;
  connector: string;
  cdcTopics: string[];
  groupId: string;
  admin: Admin;
  logger: Logger;
}

export class SnapshotGate {
  private state: 'waiting-for-snapshot' | 'catching-up' | 'applied' = 'waiting-for-snapshot';
  private targets = new Map<string, Map<number, bigint>>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(private readonly options: SnapshotGateOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), 1000);
    this.timer.unref();
    void this.check();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  status(): { ready: boolean; reason?: string } {
    if (this.state === 'applied') return { ready: true };
    return {
      ready: false,
      reason:
        this.state === 'waiting-for-snapshot'
          ? `the Debezium connector ${this.options.connector} has not finished its initial snapshot`
          : 'the initial snapshot is not yet fully processed',
    };
  }

  private async check(): Promise<void> {
    if (this.checking || this.state === 'applied') return;
    this.checking = true;
    try {
      if (this.state === 'waiting-for-snapshot' && (await this.snapshotFinished())) {
        for (const topic of this.options.cdcTopics)
          this.targets.set(topic, await endOffsets(this.options.admin, topic));
        this.state = 'catching-up';
      }
      // Only the CDC topics are checked: repartition topics end in transaction markers (commits,
      // or aborts of retried commits), so no offset arithmetic says they are drained.
      if (this.state === 'catching-up' && (await this.caughtUp())) {
        this.state = 'applied';
        clearInterval(this.timer);
        this.options.logger.info('the initial snapshot is applied');
      }
    } catch (error) {
      this.options.logger.warn('checking the snapshot state failed; retrying', { error });
    } finally {
      this.checking = false;
    }
  }

  private async snapshotFinished(): Promise<boolean> {
    const url = `${this.options.connectUrl}/connectors/${encodeURIComponent(this.options.connector)}/offsets`;
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) throw new Error(`Kafka Connect answered ${response.status} for the connector's offsets`);
    const body = (await response.json()) as { offsets?: Array<{ offset?: Record<string, unknown> }> };
    const offsets = body.offsets ?? [];
    return offsets.length > 0 && offsets.every((o) => o.offset && !('snapshot' in o.offset));
  }

  private async caughtUp(): Promise<boolean> {
    for (const [topic, ends] of this.targets) {
      const committed = await committedOffsets(this.options.admin, this.options.groupId, topic);
      for (const [partition, end] of ends) if (end > 0n && (committed.get(partition) ?? 0n) < end) return false;
    }
    return true;
  }
}
