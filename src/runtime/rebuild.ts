/**
 * Rebuilds every task's local stores from their changelogs, without joining
 * the group or processing: e.g. to prepare a new machine's state directory
 * before it takes over, or to recover from a damaged one.
 */
import { join } from 'node:path';
import type { TopologyGraph } from '../dsl/graph.js';
import { endOffsets } from '../kafka/admin.js';
import { createKafkaClient } from '../kafka/client.js';
import { readRangesBulk, type PartitionRange } from '../kafka/bulk-reader.js';
import { compileTopology } from '../processor/compile.js';
import { LevelDbBackend } from '../state/leveldb-backend.js';
import { TaskState } from '../state/task-state.js';
import type { Logger } from '../util/logger.js';
import { storeMemory, streamsConfig, type StreamsSettings } from './config.js';
import { createStreamsMetrics } from './metrics.js';
import { RestoreProgress } from './restore-progress.js';
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
  });
  const admin = kafka.admin();
  await admin.connect();
  const states = new Map<string, TaskState>();
  const backends: LevelDbBackend[] = [];
  try {
    const ranges: PartitionRange[] = [];
    const owner = new Map<string, { state: TaskState; store: string }>();
    for (const sub of topology.subtopologies) {
      for (const store of sub.stores) {
        const ends = await endOffsets(admin, store.changelogTopic);
        if (ends.size === 0)
          throw new Error(`changelog ${store.changelogTopic} does not exist; has the application run?`);
        for (const [partition, end] of ends) {
          const taskId = taskIdOf(sub.id, partition);
          let state = states.get(taskId);
          if (!state) {
            const backend = await LevelDbBackend.open(
              join(config.stateDir, config.applicationId, taskId),
              storeMemory(config),
            );
            backends.push(backend);
            state = new TaskState(backend, sub.stores, partition);
            states.set(taskId, state);
          }
          await state.wipe(store.name);
          ranges.push({ topic: store.changelogTopic, partition, from: 0n, to: end });
          owner.set(`${store.changelogTopic}:${partition}`, { state, store: store.name });
        }
      }
    }
    const progress = new RestoreProgress(logger, createStreamsMetrics(new Registry()), ranges);
    await readRangesBulk(
      admin,
      ranges,
      async (range, records) => {
        const { state, store } = owner.get(`${range.topic}:${range.partition}`)!;
        const rows = records.keys.map((key, i) => ({ key, value: records.values[i]! }));
        await state.applyRestored(store, rows, records.nextOffset);
        progress.restored(records.keys.length);
      },
      () => false,
      { clientId: `${config.applicationId}-rebuild` },
    );
    // Partitions with nothing to read still get a checkpoint, so the next start skips them.
    for (const range of ranges) {
      const { state, store } = owner.get(`${range.topic}:${range.partition}`)!;
      const checkpoint = (await state.checkpoints()).get(range.topic);
      if (checkpoint === undefined || checkpoint < range.to) await state.applyRestored(store, [], range.to);
    }
    progress.done();
    return progress.restoredRecords;
  } finally {
    await Promise.all(backends.map((b) => b.close()));
    await admin.disconnect();
  }
}
