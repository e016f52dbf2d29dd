/**
 * Thread priorities on Linux, where each thread has its own nice value. The engine thread lowers its
 * own (decision 0018); the threads that work for it run on besides: V8's platform threads (concurrent
 * marking, sweeping and parallel scavenges of every heap in the process, the engine's included),
 * libuv's pool (LevelDB's batch writes) and LevelDB's compaction thread. `lowerOtherThreads` gives
 * them the engine's nice value too, so that on a shared core only the serving thread runs ahead.
 */
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

const TASKS_DIR = '/proc/self/task';

/**
 * Sets `nice` on every thread of this process but `keepTid` (the main thread's id is the process id)
 * whose nice value is lower, and returns how many it changed. Threads come and go (libuv's pool and
 * LevelDB's compaction thread start on first use), so callers repeat this. Without /proc it does nothing.
 */
export function lowerOtherThreads(nice: number, keepTid: number = process.pid): number {
  let tids: string[];
  try {
    tids = readdirSync(TASKS_DIR);
  } catch {
    return 0;
  }
  let changed = 0;
  for (const name of tids) {
    const tid = Number(name);
    if (tid === keepTid) continue;
    try {
      if (getPriority(tid) >= nice) continue;
      setPriority(tid, nice);
      changed++;
    } catch {
      // the thread ended between the listing and the call
    }
  }
  return changed;
}
