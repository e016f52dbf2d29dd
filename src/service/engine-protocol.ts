/**
 * The messages between the serving thread and the engine's worker thread.
 * The worker publishes where each partition of the view lives (a snapshot,
 * whenever it changes); the serving thread opens the local stores itself
 * (LevelDB shared between threads) and reads committed rows from them.
 */
import type { LogLevel } from '../util/logger.js';
import type { ServiceConfig } from './config.js';

export interface EngineWorkerData {
  config: ServiceConfig;
  logLevel: LogLevel;
}

/** A partition of the view store, as the engine sees it. */
export interface ViewPartition {
  partition: number;
  taskId: string;
  owner: string | undefined;
  status: 'running' | 'restoring' | undefined;
  caughtUp: boolean;
  standbyHosts: string[];
  /** This instance's standby copy (or the store restoring after one): lag, and when it was last current (epoch ms). */
  localCopy: { lagRecords: string | undefined; currentAt: number | undefined } | undefined;
  /** The task's LevelDB directory on this instance. */
  directory: string;
  /** The engine has the store open: the serving thread may open it too (see StoreSharing). */
  open: boolean;
  /** The active task running here: per input topic the offset its committed rows reflect; records left. */
  position: WirePosition | undefined;
  /** This instance's standby copy: per input topic the offset its rows are proven to reflect (see StandbyTask). */
  standbyPosition: WirePosition | undefined;
}

/** A TaskPosition as it crosses threads: offsets as decimal strings. */
export interface WirePosition {
  applied: Record<string, string>;
  lagRecords: string | undefined;
}

export interface EngineSnapshot {
  /** The streams application's state, and whether every local task is restored and caught up. */
  state: string;
  ready: boolean;
  gate: { ready: boolean; reason?: string };
  members: string[];
  partitions: ViewPartition[];
}

export type FromEngine =
  | { type: 'started' }
  | { type: 'failed'; message: string }
  /** After the start: the engine stopped for good (e.g. the group refused this instance). */
  | { type: 'fatal'; message: string }
  | { type: 'snapshot'; snapshot: EngineSnapshot }
  /** A JSON log line of the engine thread's logger (see createLogger). */
  | { type: 'log'; line: string }
  /** The engine is about to close a store: the serving thread closes its handle first, then answers. */
  | { type: 'release'; id: number; directory: string }
  | { type: 'metrics'; id: number; text: string }
  | { type: 'stopped' };

export type ToEngine = { type: 'released'; id: number } | { type: 'metrics'; id: number } | { type: 'stop' };
