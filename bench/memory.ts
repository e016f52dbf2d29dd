/**
 * A process's memory from /proc/<pid>/status, in MiB: resident anonymous memory (heap, buffers, LevelDB
 * caches and memtables) apart from file-backed pages (LevelDB's memory-mapped table files, shared
 * libraries), which the kernel reclaims under pressure.
 */
import { readFileSync } from 'node:fs';
import { metric } from './processes.js';

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

/** The V8 heaps in an instance's anonymous memory (MiB): the serving thread's and the engine thread's. */
export interface InstanceHeaps {
  servingHeapMiB: number;
  engineHeapMiB: number;
  engineHeapUsedMiB: number;
}

/**
 * The V8 heaps of the instance at `url` (its /metrics): what of its anonymous memory is V8's, allocated
 * (used or free), against LevelDB's and malloc's (the rest).
 */
export async function heapsOf(url: string): Promise<InstanceHeaps> {
  const mib = async (name: string) => Math.round((await metric(url, name)) / 2 ** 20);
  return {
    servingHeapMiB: await mib('nodejs_heap_size_total_bytes'),
    engineHeapMiB: await mib('uis_engine_heap_total_bytes'),
    engineHeapUsedMiB: await mib('uis_engine_heap_used_bytes'),
  };
}
