/**
 * Deletes the records of repartition topics that this instance's tasks have committed, as Kafka
 * Streams purges them (repartition.purge.interval.ms). A repartition partition is read only by its
 * task, and a task's new owner starts from the committed offset, so nothing reads the records before
 * it again. Without this a repartition topic keeps every record it carried (internal-topics.ts: no
 * retention by age): the first processing of 1M users left over 6 GB in them.
 */
import type { ClusterAdmin } from '../kafka/client.js';
import type { Logger } from '../util/logger.js';

/** What the purge needs of a task: its partition, and per input topic the offset its commits cover. */
export interface PurgeableTask {
  readonly partition: number;
  readonly appliedPositions: ReadonlyMap<string, bigint>;
}

export class RepartitionPurge {
  /** Per repartition partition ("topic:partition"), the offset before which its records were deleted. */
  private readonly deletedBefore = new Map<string, bigint>();
  private purging = false;

  constructor(
    private readonly admin: Pick<ClusterAdmin, 'deleteRecords'>,
    private readonly repartitionTopics: ReadonlySet<string>,
    private readonly log: Logger,
  ) {}

  /**
   * Deletes, in the background, the records the tasks' commits cover and that are not deleted yet; does
   * nothing while a previous purge is still in flight. A failure is logged and retried at the next purge.
   */
  purge(tasks: Iterable<PurgeableTask>): void {
    if (this.purging) return;
    const byTopic = new Map<string, Map<number, bigint>>();
    for (const task of tasks) {
      for (const [topic, offset] of task.appliedPositions) {
        if (
          !this.repartitionTopics.has(topic) ||
          offset <= (this.deletedBefore.get(`${topic}:${task.partition}`) ?? 0n)
        )
          continue;
        let offsets = byTopic.get(topic);
        if (!offsets) byTopic.set(topic, (offsets = new Map()));
        offsets.set(task.partition, offset);
      }
    }
    if (byTopic.size === 0) return;
    this.purging = true;
    void this.deleteAll(byTopic).finally(() => {
      this.purging = false;
    });
  }

  private async deleteAll(byTopic: ReadonlyMap<string, ReadonlyMap<number, bigint>>): Promise<void> {
    for (const [topic, offsets] of byTopic) {
      try {
        await this.admin.deleteRecords(topic, offsets);
        for (const [partition, offset] of offsets) this.deletedBefore.set(`${topic}:${partition}`, offset);
      } catch (error) {
        this.log.warn('deleting committed records of a repartition topic failed; retried at the next purge', {
          topic,
          error,
        });
      }
    }
  }
}
