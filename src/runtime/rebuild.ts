/**
 * Rebuilds every task's local stores from their changelogs, without joining
 * the group or processing: e.g. to prepare a new machine's state directory
 * before it takes over, or to recover from a damaged one.
 */
import { join } from 'node:path';
import type { TopologyGraph } from '../dsl/graph.js';
import { endOffsets } from '../kafka/admin.js';
import { createKafkaClient } from '../kafka/client.js';
import type { PartitionRange } from '../kafka/bulk-reader.js';
import { compileTopology } from '../processor/compile.js';
import { LevelDbBackend } from '../state/leveldb-backend.js';
import { TaskState } from '../state/task-state.js';
import type { Logger } from '../util/logger.js';
import { storeMemory, streamsConfig, type StreamsSettings } from './config.js';
import { createStreamsMetrics } from './metrics.js';
import { RestoreProgress } from './restore-progress.js';
import { restoreInWaves, type TaskRestore } from './restore-waves.js';
import { taskIdOf } from './task-core.js';
import { Registry } from 'prom-client';

export async function rebuildLocalState(
  graph: TopologyGraph,
  settings: StreamsSettings,
  logger: Logger,
): Promise<number> {
  const config = streamsConfig(settings);
  const topology = compileTopology(graph, config.applicationId);
  const kafka = createKafkaClient({
    brokers: config.brokers,
    clientId: `${config.applicationId}-rebuild`,
    logger,
    kind: config.kafkaClient,
    security: config.security,
  });
  const admin = kafka.admin();
  await admin.connect();
  const restores = new Map<
    string,
    TaskRestore & { state: TaskState; ranges: PartitionRange[]; storeOf: Map<string, string> }
  >();
  const backends: LevelDbBackend[] = [];
  try {
    for (const sub of topology.subtopologies) {
      for (const store of sub.stores) {
        const ends = await endOffsets(admin, store.changelogTopic);
        if (ends.size === 0)
          throw new Error(`changelog ${store.changelogTopic} does not exist; has the application run?`);
        for (const [partition, end] of ends) {
          const taskId = taskIdOf(sub.id, partition);
          let restore = restores.get(taskId);
          if (!restore) {
            const backend = await LevelDbBackend.open(
              join(config.stateDir, config.applicationId, taskId),
              storeMemory(config, sub.stores.length),
            );
            backends.push(backend);
            const state = new TaskState(backend, sub.stores, partition);
            const storeOf = new Map(sub.stores.map((s) => [s.changelogTopic, s.name]));
            restore = {
              state,
              storeOf,
              backend,
              ranges: [],
              prepare: (range, records) =>
                state.prepareRestored(storeOf.get(range.topic)!, records.keys, records.values, records.nextOffset),
            };
            restores.set(taskId, restore);
          }
          await restore.state.wipe(store.name);
          restore.ranges.push({ topic: store.changelogTopic, partition, from: 0n, to: end });
        }
      }
    }
    const all = [...restores.values()];
    const progress = new RestoreProgress(
      logger,
      createStreamsMetrics(new Registry()),
      all.flatMap((r) => r.ranges),
    );
    await restoreInWaves(admin, all, progress, () => false, {
      clientId: `${config.applicationId}-rebuild`,
      bulkMinRecords: config.bulkRestoreMinRecords,
      bulkTasks: config.bulkRestoreTasks,
      fetchBytes: config.restoreFetchBytes,
    });
    // Partitions with nothing to read still get a checkpoint, so the next start skips them.
    for (const { state, ranges, storeOf } of all) {
      for (const range of ranges) {
        const checkpoint = (await state.checkpoints()).get(range.topic);
        if (checkpoint === undefined || checkpoint < range.to)
          await state.applyRestored(storeOf.get(range.topic)!, [], range.to);
      }
    }
    progress.done();
    return progress.restoredRecords;
  } finally {
    await Promise.all(backends.map((b) => b.close()));
    await admin.disconnect();
  }
}
