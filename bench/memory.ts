/**
 * A process's memory from /proc/<pid>/status, in MiB: resident anonymous memory (heap, buffers, LevelDB
 * caches and memtables) apart from file-backed pages (LevelDB's memory-mapped table files, shared
 * libraries), which the kernel reclaims under pressure.
 */
import { readFileSync } from 'node:fs';

export interface ProcessMemory {
  rssMiB: number;
  anonMiB: number;
  fileMiB: number;
  shmemMiB: number;
}

export function memoryOf(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mib = (field: string) => Math.round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024);
  return { rssMiB: mib('VmRSS'), anonMiB: mib('RssAnon'), fileMiB: mib('RssFile'), shmemMiB: mib('RssShmem') };
}
