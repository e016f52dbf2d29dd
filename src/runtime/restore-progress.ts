/** Reports a restore's progress (records, %, rate, ETA) in logs, at most once a second, and in metrics. */
import type { PartitionRange } from '../kafka/bulk-reader.js';
import type { Logger } from '../util/logger.js';
import type { StreamsMetrics } from './metrics.js';

export class RestoreProgress {
  private readonly total: number;
  private done_ = 0;
  private readonly started = Date.now();
  private lastReport = 0;

  constructor(
    private readonly log: Logger,
    private readonly metrics: StreamsMetrics,
    ranges: readonly PartitionRange[],
  ) {
    // Offsets include transaction markers and compacted-away records, so this is an upper bound.
    this.total = ranges.reduce((sum, r) => sum + Math.max(0, Number(r.to - r.from)), 0);
    this.metrics.restoreRemaining.set(this.total);
    if (this.total > 0) {
      this.log.info('restoring stores from changelogs', {
        partitions: ranges.filter((r) => r.to > r.from).length,
        upToRecords: this.total,
      });
    }
  }

  get restoredRecords(): number {
    return this.done_;
  }

  restored(records: number): void {
    this.done_ += records;
    this.metrics.restoreRecords.inc(records);
    this.metrics.restoreRemaining.set(Math.max(0, this.total - this.done_));
    const now = Date.now();
    if (now - this.lastReport >= 1000) {
      this.lastReport = now;
      this.log.info('restore progress', this.figures(now));
    }
  }

  done(): void {
    this.metrics.restoreRemaining.set(0);
    if (this.total > 0) this.log.info('restore finished', this.figures(Date.now()));
  }

  private figures(now: number): Record<string, unknown> {
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const rate = this.done_ / seconds;
    const remaining = Math.max(0, this.total - this.done_);
    return {
      records: this.done_,
      percent: this.total ? Math.min(100, Math.round((100 * this.done_) / this.total)) : 100,
      recordsPerSecond: Math.round(rate),
      etaSeconds: rate > 0 ? Math.round(remaining / rate) : null,
    };
  }
}
