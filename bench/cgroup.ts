/**
 * Runs processes under a memory limit: a memory cgroup (v1 or v2, whichever the machine has and lets
 * us write) that the processes this one starts next are born in. The limit covers anonymous memory
 * and page cache; the kernel reclaims file-backed pages (LevelDB's table files) before it fails, so a
 * process that stays healthy under it needs at most the limit in anonymous memory.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryCgroup {
  /** Processes started by this process from now on are born in the cgroup (until `release`). */
  enter(): void;
  /** This process leaves the cgroup again; the processes started in it stay. */
  release(): void;
  /** Peak usage so far (MiB), and how often the limit was hit or a process was OOM-killed. */
  stats(): { peakMiB: number; limitHits: number; oomKills: number };
  /** Removes the cgroup (once its processes have exited). */
  remove(): void;
}

export function memoryCgroup(name: string, limitMiB: number): MemoryCgroup {
  const own = readFileSync('/proc/self/cgroup', 'utf8');
  const v1 = /^\d+:memory:(.*)$/m.exec(own)?.[1];
  const bytes = String(limitMiB * 1024 * 1024);
  if (v1 !== undefined && existsSync('/sys/fs/cgroup/memory')) {
    const original = join('/sys/fs/cgroup/memory', v1);
    const dir = join('/sys/fs/cgroup/memory', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'memory.limit_in_bytes'), bytes);
    const read = (file: string) => readFileSync(join(dir, file), 'utf8');
    return {
      enter: () => writeFileSync(join(dir, 'cgroup.procs'), String(process.pid)),
      release: () => writeFileSync(join(original, 'cgroup.procs'), String(process.pid)),
      stats: () => ({
        peakMiB: Math.round(Number(read('memory.max_usage_in_bytes')) / 2 ** 20),
        limitHits: Number(read('memory.failcnt')),
        oomKills: Number(/oom_kill (\d+)/.exec(read('memory.oom_control'))?.[1] ?? 0),
      }),
      remove: () => rmdirSync(dir),
    };
  }
  const v2 = /^0::(.*)$/m.exec(own)?.[1];
  if (v2 === undefined) throw new Error('no memory cgroup controller found in /proc/self/cgroup');
  const original = join('/sys/fs/cgroup', v2);
  const dir = join('/sys/fs/cgroup', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'memory.max'), bytes);
  const read = (file: string) => readFileSync(join(dir, file), 'utf8');
  return {
    enter: () => writeFileSync(join(dir, 'cgroup.procs'), String(process.pid)),
    release: () => writeFileSync(join(original, 'cgroup.procs'), String(process.pid)),
    stats: () => ({
      peakMiB: existsSync(join(dir, 'memory.peak')) ? Math.round(Number(read('memory.peak')) / 2 ** 20) : NaN,
      limitHits: Number(/^max (\d+)/m.exec(read('memory.events'))?.[1] ?? 0),
      oomKills: Number(/^oom_kill (\d+)/m.exec(read('memory.events'))?.[1] ?? 0),
    }),
    remove: () => rmdirSync(dir),
  };
}
