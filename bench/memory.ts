/**
 * A process's memory from /proc/<pid>/status, in MiB: resident anonymous memory (heap, buffers, LevelDB
 * caches and memtables) apart from file-backed pages (LevelDB's memory-mapped table files, shared
 * libraries), which the kernel reclaims under pressure.
 */
import { readFileSync } from 'node:fs';
import { samplesIn } from './processes.js';

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

/**
 * Parts of an instance's anonymous memory (MiB): the V8 heaps of its serving and engine threads
 * (allocated, used or free), the serving thread's buffers outside its heap, and LevelDB's own estimate
 * for its stores (memtables, block caches; the engine measures it every 30 s). The rest is malloc's
 * free lists, thread stacks and Node itself.
 */
export interface MemoryParts {
  servingHeapMiB: number;
  engineHeapMiB: number;
  engineHeapUsedMiB: number;
  externalMiB: number;
  leveldbMiB: number;
}

/** The parts of the anonymous memory of the instance at `url`, from one read of its /metrics. */
export async function memoryPartsOf(url: string): Promise<MemoryParts> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const mib = (name: string) => Math.round(samplesIn(text, name).reduce((sum, v) => sum + v, 0) / 2 ** 20);
  return {
    servingHeapMiB: mib('nodejs_heap_size_total_bytes'),
    engineHeapMiB: mib('uis_engine_heap_total_bytes'),
    engineHeapUsedMiB: mib('uis_engine_heap_used_bytes'),
    externalMiB: mib('nodejs_external_memory_bytes'),
    leveldbMiB: mib('streams_store_memory_bytes'),
  };
}
