/**
 * HTTP latency with writes flowing, the seed's own situation: one instance of our service pinned to one
 * core, vegeta (open loop) at a fixed rate from the other core, every user's id in random order; once with
 * no writes and once with the write workload (test/support/workload.ts) running against PostgreSQL at
 * --write-rate operations a second; then the same two phases against the fixed-answer floor
 * (baselines/floor-service.ts) on the same core. Our figures are read against the floor's of the same run.
 *
 *   node --import tsx bench/http-writes.ts [--rate 1000] [--seconds 30] [--write-rate 50]
 *        [--state-dir DIR --application-id ID]   (keep an instance's state between runs)
 *        [--targets ours,floor] [--flags name=value,...]   (more `uis run` flags)
 *        [--url http://127.0.0.1:3700 --pid <pid>]   (measure a running instance instead of starting one)
 *
 * Progress on stderr; the results as JSON on stdout and in bench/results/<date>-http-writes.json.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { freshIdBase, removeWorkload, runWorkload } from '../test/support/workload.js';
import { stack } from '../test/support/stack.js';
import { startInstance, stopInstance } from '../test/support/service.js';
import { memoryOf } from './memory.js';
import { root, run, sleep } from './processes.js';
import { processCpuSeconds, threadShares, threadTimes, type ThreadCpu } from './threads.js';
import { attack as vegetaAttack, userIdsInRandomOrder, userUrls } from './vegeta.js';

const { values: options } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '30' },
    'write-rate': { type: 'string', default: '50' },
    'state-dir': { type: 'string' },
    'application-id': { type: 'string' },
    targets: { type: 'string', default: 'ours,floor' },
    flags: { type: 'string', default: '' },
    url: { type: 'string' },
    pid: { type: 'string' },
    'server-core': { type: 'string', default: '0' },
    'load-core': { type: 'string', default: '1' },
  },
});
const rate = Number(options.rate);
const seconds = Number(options.seconds);
const writeRate = Number(options['write-rate']);
const serverCore = options['server-core']!;
const loadCore = options['load-core']!;
const log = (message: string) =>
  process.stderr.write(`[http-writes ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
/** A process and every process under it (PostgreSQL's backends, the JVMs' children). */
function processTree(pid: number): number[] {
  let children: string[] = [];
  try {
    children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).match(/\d+/g) ?? [];
  } catch {
    // no children (ps exits 1)
  }
  return [pid, ...children.flatMap((c) => processTree(Number(c)))];
}

/** Pins every thread of the stack's processes (PostgreSQL, Kafka, Connect, registry...) to `cores`. */
function pinStack(cores: string): void {
  const runDir = join(process.env.UIS_STACK_DIR ?? join(root, '.stack'), 'run');
  for (const file of readdirSync(runDir).filter((f) => f.endsWith('.pid'))) {
    const pid = Number(readFileSync(join(runDir, file), 'utf8').trim());
    for (const p of processTree(pid)) {
      try {
        execFileSync('taskset', ['-a', '-p', '-c', cores, String(p)], { stdio: 'ignore' });
      } catch {
        // the process is gone
      }
    }
  }
}

// This process (the workload), vegeta and the stack run on the load core; the servers on the server core.
await run('taskset', ['-p', '-c', loadCore, String(process.pid)]);
const allCores = `0-${cpus().length - 1}`;
pinStack(loadCore);
process.on('exit', () => pinStack(allCores));
const db = new pg.Client(stack.postgres);
await db.connect();
const ids = await userIdsInRandomOrder();
log(`${ids.length} users, in random order`);

interface Latency {
  requests: number;
  sentPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  'p99.9': number;
  max: number;
  statuses: Record<string, number>;
}

/** One vegeta attack at `rate` for `duration` s over every user, from the load core; latencies in ms. */
async function attack(baseUrl: string, duration: number): Promise<Latency> {
  const { all, statuses } = await vegetaAttack({
    urls: userUrls(baseUrl, ids),
    rate,
    seconds: duration,
    core: loadCore,
  });
  const { requests, sentPerSecond, p50, p95, p99, max } = all;
  return { requests, sentPerSecond, p50: p50!, p95: p95!, p99: p99!, 'p99.9': all['p99.9']!, max: max!, statuses };
}

/** Runs the write workload at `writeRate` until the signal aborts it. */
function startWrites(signal: AbortSignal): { done: Promise<number>; idBase: bigint } {
  const idBase = freshIdBase();
  const done = runWorkload(db, {
    seed: Date.now() % 100_000,
    operations: Math.ceil(writeRate * (seconds + 60)),
    idBase,
    ratePerSecond: writeRate,
    signal,
  }).then((r) => Object.values(r.operationsByKind).reduce((a, b) => a + b, 0));
  return { done, idBase };
}

/** An attack, with the server's CPU use during it (share of one core), and each busy thread's share. */
async function measured(baseUrl: string, pid: number): Promise<Latency & { serverCpu: number; threads: ThreadCpu[] }> {
  const cpuBefore = processCpuSeconds(pid);
  const threadsBefore = threadTimes(pid);
  const started = Date.now();
  const latency = await attack(baseUrl, seconds);
  const elapsed = (Date.now() - started) / 1000;
  const serverCpu = Math.round(((processCpuSeconds(pid) - cpuBefore) / elapsed) * 100) / 100;
  const threads = threadShares(pid, threadsBefore, elapsed);
  return { ...latency, serverCpu, threads };
}

async function phases(name: string, baseUrl: string, pid: number): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {};
  log(`${name}: warm-up`);
  await attack(baseUrl, 3);
  log(`${name}: ${rate} req/s for ${seconds} s, no writes`);
  result.noWrites = await measured(baseUrl, pid);
  log(`  ${JSON.stringify(result.noWrites)}`);
  const abort = new AbortController();
  const writes = startWrites(abort.signal);
  await sleep(3000);
  log(`${name}: ${rate} req/s for ${seconds} s, writes at ${writeRate}/s`);
  const started = Date.now();
  result.writes = await measured(baseUrl, pid);
  abort.abort();
  const operations = await writes.done;
  result.writeRate = Math.round((operations / ((Date.now() - started) / 1000 + 3)) * 10) / 10;
  log(`  ${JSON.stringify(result.writes)} (writes ${String(result.writeRate)}/s)`);
  result.memory = memoryOf(pid);
  await removeWorkload(db, writes.idBase);
  return result;
}

const workDir = mkdtempSync(join(tmpdir(), 'uis-http-writes-'));
const results: Record<string, unknown> = {
  command: `node --import tsx bench/http-writes.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  users: ids.length,
  rate,
  seconds,
  writeRate,
  startedAt: new Date().toISOString(),
};
const targets = options.targets!.split(',');
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

if (targets.includes('ours') && options.url) {
  const pid = Number(options.pid);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error("--url needs --pid, the instance's process id");
  await run('taskset', ['-a', '-p', '-c', serverCore, String(pid)]);
  results.ours = await phases('ours', options.url, pid);
} else if (targets.includes('ours')) {
  const applicationId = options['application-id'] ?? `bench-http-${Date.now().toString(36)}`;
  const stateDir = options['state-dir'] ?? join(workDir, 'state');
  mkdirSync(stateDir, { recursive: true });
  const flags = Object.fromEntries(
    options
      .flags!.split(',')
      .filter(Boolean)
      .map((f) => f.split('=') as [string, string]),
  );
  log(`ours: starting ${applicationId} (state in ${stateDir})`);
  const logFile = join(workDir, 'ours.log');
  const instance = await startInstance(
    applicationId,
    stateDir,
    logFile,
    { 'connect-url': `http://127.0.0.1:${process.env.CONNECT_PORT ?? '8083'}`, ...flags },
    4 * 3600_000,
  );
  await run('taskset', ['-a', '-p', '-c', serverCore, String(instance.child.pid)]);
  for (let waited = 0; ; waited += 1000) {
    if (
      (await fetch(`${instance.url}/health/ready`).then(
        (r) => r.status,
        () => 0,
      )) === 200
    )
      break;
    if (waited % 30_000 === 0) log(`  ours: not ready yet after ${waited / 1000} s`);
    await sleep(1000);
  }
  results.ours = await phases('ours', instance.url, instance.child.pid!);
  await stopInstance(instance.child);
  results.oursLog = logFile;
}

if (targets.includes('floor')) {
  const child = spawn(
    'taskset',
    [
      '-c',
      serverCore,
      process.execPath,
      '--import',
      'tsx',
      join(root, 'bench/baselines/floor-service.ts'),
      '--port',
      '0',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
      if (match) resolve(match[0]);
    });
    child.on('exit', (code) => reject(new Error(`floor exited ${code}`)));
  });
  results.floor = await phases('floor', url, child.pid!);
  child.kill('SIGTERM');
}
await db.end();

const ratio = (a: unknown, b: unknown) => Math.round(((a as number) / (b as number)) * 100) / 100;
const ours = results.ours as Record<string, Latency> | undefined;
const floor = results.floor as Record<string, Latency> | undefined;
if (ours && floor) {
  results.ratios = Object.fromEntries(
    (['noWrites', 'writes'] as const).map((phase) => [
      phase,
      Object.fromEntries(
        (['p50', 'p95', 'p99', 'max'] as const).map((q) => [q, ratio(ours[phase]![q], floor[phase]![q])]),
      ),
    ]),
  );
}
const file = join(root, 'bench/results', `${new Date().toISOString().slice(0, 10)}-http-writes.json`);
writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
log(`written to ${file}`);
process.stdout.write(JSON.stringify(results) + '\n');
process.exit(0);
