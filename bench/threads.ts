/**
 * Per-thread CPU use of a process (Linux, /proc/<pid>/task): which thread was busy during a phase, at
 * which nice value. The serving thread is the main one (its id is the process id); the engine thread is
 * the one at --engine-nice; the rest are V8's platform threads, libuv's pool and LevelDB's compaction.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds and nice value of each thread of a process, by thread id. */
export type ThreadTimes = Map<number, { seconds: number; nice: number; name: string }>;

/** A thread's share of one core over a phase. */
export interface ThreadCpu {
  tid: number;
  /** The process's main thread: the serving one. */
  main: boolean;
  nice: number;
  cpu: number;
}

/** CPU seconds (user + system) and nice value from a /proc stat file (a process's or a thread's). */
function readStat(path: string): { seconds: number; nice: number } {
  const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
  return { seconds: (Number(fields[11]) + Number(fields[12])) / 100, nice: Number(fields[16]) };
}

/** CPU seconds a process has used, every thread's, ended ones included. */
export function processCpuSeconds(pid: number): number {
  return readStat(`/proc/${pid}/stat`).seconds;
}

/**
 * CPU seconds (user + system) of this process's children that have ended and been waited for, with
 * theirs: around a child's whole life, the CPU it and everything it started used.
 */
export function endedChildrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

export function threadTimes(pid: number): ThreadTimes {
  const times: ThreadTimes = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      times.set(Number(tid), { ...readStat(`/proc/${pid}/task/${tid}/stat`), name });
    } catch {
      // the thread ended
    }
  }
  return times;
}

/** Each thread's share of one core since `before` was taken `elapsedS` ago, busiest first, above 0.5%. */
export function threadShares(pid: number, before: ThreadTimes, elapsedS: number): ThreadCpu[] {
  return [...threadTimes(pid)]
    .map(([tid, { seconds, nice }]) => ({
      tid,
      main: tid === pid,
      nice,
      cpu: Math.round(((seconds - (before.get(tid)?.seconds ?? 0)) / elapsedS) * 1000) / 1000,
    }))
    .filter((t) => t.cpu >= 0.005)
    .sort((a, b) => b.cpu - a.cpu);
}
