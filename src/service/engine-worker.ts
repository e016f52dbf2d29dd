/**
 * The engine's thread: runs the engine (engine.ts) and reports to the serving
 * thread (engine-thread.ts), so that processing never holds up an HTTP answer.
 */
import { setPriority } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { Gauge, Registry } from 'prom-client';
import { shareStores } from '../state/leveldb-backend.js';
import { createLogger, type Logger } from '../util/logger.js';
import { VIEW_STORE } from '../../topology/user-information.js';
import { startEngine, type Engine } from './engine.js';
import type { TaskPosition } from '../runtime/kafka-streams.js';
import type { EngineSnapshot, EngineWorkerData, FromEngine, ToEngine, WirePosition } from './engine-protocol.js';

const SNAPSHOT_EVERY_MS = 10;
/** How long the instance stays caught up before the engine thread lowers its priority (decision 0026). */
const CAUGHT_UP_CHECKS = 5;

const port = parentPort!;
const { config, logLevel } = workerData as EngineWorkerData;
const post = (message: FromEngine) => port.postMessage(message);

const registry = new Registry();
// The serving thread's nodejs_* metrics do not see this thread's heap.
new Gauge({
  name: 'uis_engine_heap_used_bytes',
  help: "V8 heap in use on the engine's thread",
  registers: [registry],
  collect() {
    this.set(getHeapStatistics().used_heap_size);
  },
});
new Gauge({
  name: 'uis_engine_heap_total_bytes',
  help: "V8 heap allocated on the engine's thread",
  registers: [registry],
  collect() {
    this.set(getHeapStatistics().total_heap_size);
  },
});
let engineNice = 0;
new Gauge({
  name: 'uis_engine_nice',
  help: "The engine thread's nice value: 0 until the instance first catches up, then --engine-nice",
  registers: [registry],
  collect() {
    this.set(engineNice);
  },
});
const releases = new Map<number, () => void>();
let nextRelease = 0;
let engine: Engine | undefined;
let lastSnapshot = '';
let snapshotTimer: NodeJS.Timeout | undefined;
let priorityTimer: NodeJS.Timeout | undefined;
/** Directories of the stores this thread has open. */
const openStores = new Set<string>();

shareStores({
  opened: (directory) => openStores.add(directory),
  // From here on the snapshots say closed, so the serving thread does not open it again.
  beforeClose: (directory) =>
    new Promise<void>((resolve) => {
      openStores.delete(directory);
      const id = nextRelease++;
      releases.set(id, resolve);
      post({ type: 'release', id, directory });
    }),
});

function snapshot(running: Engine): EngineSnapshot {
  const { streams } = running;
  const now = Date.now();
  return {
    state: streams.state,
    ready: streams.ready,
    gate: running.gateStatus(),
    members: streams.members,
    partitions: streams.storePartitions(VIEW_STORE).map((p) => ({
      partition: p.partition,
      taskId: p.taskId,
      owner: p.owner,
      status: p.status,
      caughtUp: p.caughtUp,
      standbyHosts: p.standbyHosts,
      localCopy: p.localStandby && {
        lagRecords: p.localStandby.lagRecords?.toString(),
        currentAt: p.localStandby.stalenessMs === undefined ? undefined : now - p.localStandby.stalenessMs,
      },
      directory: p.directory,
      open: openStores.has(p.directory),
      position: p.position && wirePosition(p.position),
      standbyPosition: p.standbyPosition && wirePosition(p.standbyPosition),
    })),
  };
}

function wirePosition(position: TaskPosition): WirePosition {
  return {
    applied: Object.fromEntries([...position.applied].map(([topic, offset]) => [topic, offset.toString()])),
    lagRecords: position.lagRecords?.toString(),
  };
}

function publish(): void {
  if (!engine) return;
  const next = snapshot(engine);
  const text = JSON.stringify(next);
  if (text === lastSnapshot) return;
  lastSnapshot = text;
  post({ type: 'snapshot', snapshot: next });
}

port.on('message', (message: ToEngine) => {
  if (message.type === 'released') {
    releases.get(message.id)?.();
    releases.delete(message.id);
  } else if (message.type === 'metrics') {
    void registry.metrics().then((text) => post({ type: 'metrics', id: message.id, text }));
  } else if (message.type === 'stop') {
    clearInterval(snapshotTimer);
    clearInterval(priorityTimer);
    void (engine?.stop() ?? Promise.resolve()).finally(() => {
      post({ type: 'stopped' });
      port.close();
    });
  }
});

/**
 * The engine runs at the process's priority while the instance restores and works through a
 * backlog, and gives way to requests once it has caught up (decision 0026). An unprivileged
 * thread cannot raise its priority again, so this happens once.
 */
function lowerPriorityOnceCaughtUp(running: Engine, logger: Logger): void {
  if (config.engineNice === 0) return;
  let checks = 0;
  priorityTimer = setInterval(() => {
    checks = running.streams.caughtUp ? checks + 1 : 0;
    if (checks < CAUGHT_UP_CHECKS) return;
    clearInterval(priorityTimer);
    // Without a process id this sets the nice value of the calling thread only (Linux).
    setPriority(config.engineNice);
    engineNice = config.engineNice;
    logger.info('caught up: the engine thread lowers its priority so that requests come first', {
      nice: engineNice,
    });
  }, 1000);
}

try {
  // Log lines go to the serving thread's logger: one stream of lines, with its fields.
  const logger = createLogger(logLevel, {}, (line) => post({ type: 'log', line }));
  engine = await startEngine(config, logger, registry, (error) => post({ type: 'fatal', message: error.message }));
  publish();
  snapshotTimer = setInterval(publish, SNAPSHOT_EVERY_MS);
  lowerPriorityOnceCaughtUp(engine, logger);
  post({ type: 'started' });
} catch (error) {
  post({ type: 'failed', message: (error as Error)?.message ?? String(error) });
  port.close();
}
