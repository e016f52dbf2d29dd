/**
 * The benchmark's child processes: commands run to completion, servers started
 * and waited for (killed when the benchmark exits), and their metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export const root = new URL('..', import.meta.url).pathname;
export const log = (message: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

/** Runs a command to completion; returns its stdout (with `echo`, also shown as progress). */
export function run(
  command: string,
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; echo?: boolean } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, {
      cwd: root,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (options.echo) process.stderr.write(chunk);
    });
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} ${argv.join(' ')} exited ${code}`)),
    );
  });
}
export const lastJson = (out: string) =>
  JSON.parse(
    out
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .at(-1) ?? '{}',
  ) as Record<string, unknown>;

/**
 * Starts a long-running process, pinned to `core` if given (servers under HTTP load run on core 0, the load
 * generator on core 1); resolves once `ready` answers 200.
 */
export async function startServer(
  name: string,
  argv: string[],
  readyUrl: string,
  core?: string,
): Promise<ChildProcess> {
  // BENCH_CPU_PROF_DIR: every thread of the instance writes a V8 CPU profile there when it exits.
  const profile = process.env.BENCH_CPU_PROF_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`]
    : [];
  const nodeArgs = [...profile, ...argv];
  const [command, commandArgs] = core
    ? ['taskset', ['-c', core, process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child = spawn(command, commandArgs, {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    // glibc's malloc as the service ships (Dockerfile, npm run demo; docs/operations.md, Memory), unless
    // the caller sets otherwise: 10-15% less anonymous memory while processing at 1M users.
    env: {
      ...process.env,
      MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
      MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072',
    },
  });
  children.push(child);
  const started = Date.now();
  let nextReport = started + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    const status = await fetch(readyUrl).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return child;
    const waited = Date.now() - started;
    if (waited > 4 * 3600_000) throw new Error(`${name} not ready after 4 hours`);
    if (Date.now() >= nextReport) {
      nextReport += 60_000;
      const processed = await metric(readyUrl.replace(/\/health\/ready$/, ''), 'streams_records_processed_total').catch(
        () => NaN,
      );
      log(`  ${name}: not ready yet after ${Math.round(waited / 1000)} s (${processed} records processed)`);
    }
    await sleep(500);
  }
}

/** Waits until `readyUrl` answers 200 (after the other instance left, this one owns every task). */
export async function waitReady(readyUrl: string): Promise<void> {
  for (const started = Date.now(); Date.now() - started < 3600_000; await sleep(500))
    if (
      (await fetch(readyUrl).then(
        (r) => r.status,
        () => 0,
      )) === 200
    )
      return;
  throw new Error(`${readyUrl} not ready after an hour`);
}

export async function metric(url: string, name: string): Promise<number> {
  return (await metricValues(url, name)).reduce((sum, value) => sum + value, 0);
}

/** A metric's samples by the value of one of its labels (samples with the same value summed). */
export async function metricByLabel(url: string, name: string, label: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const byLabel = new Map<string, number>();
  const labelPattern = new RegExp(`[{,]${label}="([^"]*)"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const value = labelPattern.exec(line)?.[1];
    if (value !== undefined) byLabel.set(value, (byLabel.get(value) ?? 0) + Number(line.split(' ').at(-1)));
  }
  return byLabel;
}

/** Every sample of a metric (each label set) an instance reports. */
export async function metricValues(url: string, name: string): Promise<number[]> {
  return samplesIn(await (await fetch(`${url}/metrics`)).text(), name);
}

/** Every sample of a metric (each label set) in a /metrics text. */
export function samplesIn(text: string, name: string): number[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(name) && !l.startsWith(`${name}_`))
    .map((l) => Number(l.split(' ').at(-1)));
}
