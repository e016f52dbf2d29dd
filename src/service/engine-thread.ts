/**
 * The serving thread's side of the engine's worker thread: starts it, keeps
 * its latest snapshot of where each partition of the view lives, and opens
 * the local stores (the same LevelDB databases, shared between the threads)
 * to read committed rows without asking the engine.
 */
import type { Worker } from 'node:worker_threads';
import type { KeyMetadata, TaskPosition } from '../runtime/kafka-streams.js';
import { partitionForKey } from '../kafka/partitioner.js';
import { LevelDbBackend } from '../state/leveldb-backend.js';
import { storePrefix } from '../state/keys.js';
import { backendRange, type RangeQuery } from '../state/range-query.js';
import type { StoreRow } from '../query/queryable-stores.js';
import { notRestoredReason, type StoreView } from '../serving/streams-view-source.js';
import type { LogLevel, Logger } from '../util/logger.js';
import { siblingModule, startWorker } from '../util/worker.js';
import { VIEW_STORE } from '../../topology/user-information.js';
import type { ServiceConfig } from './config.js';
import type { EngineSnapshot, EngineWorkerData, FromEngine, ToEngine, WirePosition } from './engine-protocol.js';

const METRICS_TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 120_000;
/** A store wanted but not open yet (its directory not created yet, say) is tried again this often. */
const RETRY_OPEN_MS = 100;

const viewPrefix = storePrefix(VIEW_STORE);

interface StoreHandle {
  backend: LevelDbBackend | undefined;
  /** Open and close run one at a time per store. */
  queue: Promise<void>;
  /** The engine keeps the partition here: the store should be open. */
  wanted: boolean;
  opening: boolean;
}

export class EngineThread implements StoreView {
  private snapshot: EngineSnapshot | undefined;
  private positions: Array<TaskPosition | undefined> = [];
  private standbyPositions: Array<TaskPosition | undefined> = [];
  private readonly handles = new Map<string, StoreHandle>();
  /** Key prefixes of the stores read besides the view, by store name. */
  private readonly prefixes = new Map<string, Buffer>();
  private readonly metricsWaiters = new Map<number, (text: string) => void>();
  private nextMetricsId = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly config: ServiceConfig,
    private readonly log: Logger,
    private readonly onFatal: (error: Error) => void,
  ) {}

  /** Starts the engine in a worker thread; resolves once it has joined the group, rejects with its start error. */
  static async start(
    config: ServiceConfig,
    logger: Logger,
    onFatal: (error: Error) => void = () => undefined,
  ): Promise<EngineThread> {
    const data: EngineWorkerData = { config, logLevel: logger.level };
    const limits = {
      ...(config.engineHeapMiB > 0 ? { maxOldGenerationSizeMb: config.engineHeapMiB } : {}),
      ...(config.engineYoungMiB > 0 ? { maxYoungGenerationSizeMb: config.engineYoungMiB } : {}),
    };
    const worker = startWorker(siblingModule(import.meta.url, 'engine-worker'), data, limits);
    const thread = new EngineThread(worker, config, logger, onFatal);
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the engine thread exited (code ${code}) before it started`));
      worker.once('exit', onExit);
      worker.once('error', reject);
      worker.on('message', (message: FromEngine) => {
        if (message.type === 'started') {
          worker.off('exit', onExit).off('error', reject);
          resolve();
        } else if (message.type === 'failed') {
          worker.off('exit', onExit).off('error', reject);
          reject(new Error(message.message));
        } else thread.onMessage(message);
      });
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    // After the start, an error in the engine is as fatal as it would be on this thread.
    worker.on('error', (error) => {
      const outOfHeap = (error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
      thread.log.error(
        outOfHeap
          ? `the engine thread ran out of heap: raise --engine-heap-mib (${config.engineHeapMiB})`
          : 'the engine thread failed',
        { error },
      );
      setImmediate(() => {
        throw error;
      });
    });
    thread.retryTimer = setInterval(() => thread.syncHandles(), RETRY_OPEN_MS);
    return thread;
  }

  get endpoint(): string {
    return this.config.advertisedEndpoint;
  }

  get members(): string[] {
    return this.snapshot?.members ?? [];
  }

  get partitionCount(): number {
    return this.snapshot?.partitions.length ?? 0;
  }

  keyMetadata(key: Buffer): KeyMetadata | undefined {
    const count = this.snapshot?.partitions.length ?? 0;
    return count === 0 ? undefined : this.partitionMetadata(partitionForKey(key, count));
  }

  partitionMetadata(partition: number): KeyMetadata | undefined {
    const p = this.snapshot?.partitions[partition];
    if (!p) return undefined;
    const handle = this.handles.get(p.directory);
    const readable = handle?.backend !== undefined && handle.wanted;
    const now = Date.now();
    return {
      partition: p.partition,
      taskId: p.taskId,
      owner: p.owner,
      local: p.status !== undefined,
      // Until this thread has the store open, the partition is not readable here yet.
      status: p.status === 'running' && !readable ? 'restoring' : p.status,
      caughtUp: p.caughtUp,
      standbyHosts: p.standbyHosts,
      localStandby:
        p.localCopy && readable
          ? {
              lagRecords: p.localCopy.lagRecords === undefined ? undefined : BigInt(p.localCopy.lagRecords),
              stalenessMs: p.localCopy.currentAt === undefined ? undefined : Math.max(0, now - p.localCopy.currentAt),
            }
          : undefined,
    };
  }

  readActive(key: Buffer, partition: number): Buffer | undefined {
    return this.read(viewPrefix, key, partition);
  }

  readActiveIn(storeName: string, key: Buffer, partition: number): Buffer | undefined {
    return this.read(this.prefixOf(storeName), key, partition);
  }

  private prefixOf(storeName: string): Buffer {
    let prefix = this.prefixes.get(storeName);
    if (!prefix) this.prefixes.set(storeName, (prefix = storePrefix(storeName)));
    return prefix;
  }

  async rangeActiveIn(storeName: string, partition: number, query: RangeQuery): Promise<StoreRow[]> {
    const prefix = this.prefixOf(storeName);
    const rows = await this.backendOf(partition).range(backendRange(prefix, query));
    return rows.map(([key, value]) => [key.subarray(prefix.length), value]);
  }

  readStandby(key: Buffer, partition: number): Buffer | undefined {
    return this.read(viewPrefix, key, partition);
  }

  position(partition: number): TaskPosition | undefined {
    return this.positions[partition];
  }

  standbyPosition(partition: number): TaskPosition | undefined {
    return this.standbyPositions[partition];
  }

  notReady(): string | undefined {
    const snapshot = this.snapshot;
    if (!snapshot?.ready) return notRestoredReason(snapshot?.state ?? 'starting');
    const unopened = snapshot.partitions.filter(
      (p) => p.status === 'running' && !this.handles.get(p.directory)?.backend,
    );
    if (unopened.length) return `the stores of partitions ${unopened.map((p) => p.partition).join(', ')} are opening`;
    return undefined;
  }

  gateStatus(): { ready: boolean; reason?: string } {
    return this.snapshot?.gate ?? { ready: false, reason: 'the engine has not reported yet' };
  }

  /** The engine thread's metrics, in the Prometheus text format. */
  metrics(): Promise<string> {
    const id = this.nextMetricsId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.metricsWaiters.delete(id);
        resolve('# the engine thread did not report its metrics in time\n');
      }, METRICS_TIMEOUT_MS);
      this.metricsWaiters.set(id, (text) => {
        clearTimeout(timer);
        resolve(text);
      });
      this.send({ type: 'metrics', id });
    });
  }

  /** Stops the engine (tasks commit, stores close, the member leaves the group), then closes this thread's handles. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      clearInterval(this.retryTimer);
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, STOP_TIMEOUT_MS);
        this.worker.on('message', (message: FromEngine) => {
          if (message.type === 'stopped') {
            clearTimeout(timer);
            resolve();
          }
        });
        this.worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.send({ type: 'stop' });
      await done;
      await Promise.all([...this.handles.keys()].map((directory) => this.closeHandle(directory)));
      await this.worker.terminate();
    })();
    return this.stopped;
  }

  private read(prefix: Buffer, key: Buffer, partition: number): Buffer | undefined {
    return this.backendOf(partition).getSync(Buffer.concat([prefix, key]));
  }

  private backendOf(partition: number): LevelDbBackend {
    const p = this.snapshot?.partitions[partition];
    const backend = p && this.handles.get(p.directory)?.backend;
    if (!backend) throw new Error(`the store of partition ${partition} is not open on the serving thread`);
    return backend;
  }

  private send(message: ToEngine): void {
    this.worker.postMessage(message);
  }

  private onMessage(message: FromEngine): void {
    switch (message.type) {
      case 'snapshot':
        this.snapshot = message.snapshot;
        // Parsed once per snapshot: answers ask for them on every request.
        this.positions = message.snapshot.partitions.map((p) => p.position && parsePosition(p.position));
        this.standbyPositions = message.snapshot.partitions.map(
          (p) => p.standbyPosition && parsePosition(p.standbyPosition),
        );
        this.syncHandles();
        break;
      case 'log': {
        const { level, msg, time: _time, ...fields } = JSON.parse(message.line) as Record<string, unknown>;
        this.log[level as LogLevel](String(msg), fields);
        break;
      }
      case 'release':
        void this.release(message.directory).then(() => this.send({ type: 'released', id: message.id }));
        break;
      case 'metrics':
        this.metricsWaiters.get(message.id)?.(message.text);
        this.metricsWaiters.delete(message.id);
        break;
      case 'fatal':
        this.onFatal(new Error(message.message));
        break;
    }
  }

  /** Opens the stores the engine has open (partitions active, restoring or standby here); closes the others. */
  private syncHandles(): void {
    if (!this.snapshot || this.stopped) return;
    for (const p of this.snapshot.partitions) {
      const handle = this.handles.get(p.directory);
      if (p.open) this.openHandle(p.directory);
      else if (handle?.wanted) void this.closeHandle(p.directory);
    }
  }

  private openHandle(directory: string): void {
    let h = this.handles.get(directory);
    if (!h) {
      h = { backend: undefined, queue: Promise.resolve(), wanted: false, opening: false };
      this.handles.set(directory, h);
    }
    const handle = h;
    handle.wanted = true;
    if (handle.backend || handle.opening) return;
    handle.opening = true;
    handle.queue = handle.queue.then(async () => {
      try {
        if (handle.wanted && !handle.backend) handle.backend = await LevelDbBackend.openShared(directory);
      } catch (error) {
        this.log.debug('opening a served store failed; trying again', { directory, error });
      } finally {
        handle.opening = false;
      }
    });
  }

  private closeHandle(directory: string): Promise<void> {
    const h = this.handles.get(directory);
    if (!h) return Promise.resolve();
    h.wanted = false;
    h.queue = h.queue.then(async () => {
      if (h.wanted || !h.backend) return;
      const backend = h.backend;
      h.backend = undefined;
      await backend.close().catch((error) => this.log.warn('closing a served store failed', { directory, error }));
    });
    return h.queue;
  }

  /** The engine closes a store: this thread lets go of it first, and opens it again only once the engine has. */
  private async release(directory: string): Promise<void> {
    for (const p of this.snapshot?.partitions ?? []) if (p.directory === directory) p.open = false;
    await this.closeHandle(directory);
  }
}

function parsePosition(position: WirePosition): TaskPosition {
  return {
    applied: new Map(Object.entries(position.applied).map(([topic, offset]) => [topic, BigInt(offset)])),
    lagRecords: position.lagRecords === undefined ? undefined : BigInt(position.lagRecords),
  };
}
