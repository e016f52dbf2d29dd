import { Worker, type ResourceLimits } from 'node:worker_threads';

/**
 * A worker thread running the module at `file`. tsx's loader does not reach worker threads, so a
 * TypeScript module (the sources run with tsx) is started by a bootstrap that registers tsx first.
 */
export function startWorker(file: URL, workerData: unknown, resourceLimits?: ResourceLimits): Worker {
  if (!file.pathname.endsWith('.ts')) return new Worker(file, { workerData, resourceLimits });
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(file.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData, resourceLimits });
}

/** A module next to `base` (an import.meta.url): its .ts source when running from source, else its build. */
export function siblingModule(base: string, name: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}
