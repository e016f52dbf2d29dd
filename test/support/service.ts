// Starts the User Information Service in this process, against the local stack, for integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/service/config.js';
import { startService, startReplica, type RunningService } from '../../src/service/service.js';
import { createLogger, type LogLevel } from '../../src/util/logger.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { stack, eventually } from './stack.js';

export interface TestService extends RunningService {
  url: string;
}

/** Starts an instance in this process on a port the OS chooses. */
export async function startTestService(
  applicationId: string,
  options: { replica?: boolean; flags?: Record<string, string> } = {},
): Promise<TestService> {
  const flags = new Map<string, string>([
    ['application-id', applicationId],
    ['port', '0'],
    ['brokers', stack.kafkaBrokers.join(',')],
    ['schema-registry', stack.registryUrl],
    ['state-dir', mkdtempSync(join(tmpdir(), 'uis-test-'))],
    ['commit-interval-ms', '50'],
    ['kafka-client', stack.kafkaClient],
    ...Object.entries(options.flags ?? {}),
  ]);
  const config = loadConfig(flags, {});
  const logger = createLogger((process.env.TEST_LOG_LEVEL ?? 'error') as LogLevel, { app: applicationId });
  const service = options.replica ? await startReplica(config, logger) : await startService(config, logger);
  return { ...service, url: `http://127.0.0.1:${service.config.port}` };
}

/** The status of an instance's /health/ready (200 when ready), or 0 when it does not answer within 5 s. */
export function readiness(url: string): Promise<number> {
  return fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(5000) })
    .then((r) => r.status)
    .catch(() => 0);
}

/** The sum of a metric's samples on an instance's /metrics (every label set), e.g. streams_tasks. */
export async function metricSum(url: string, name: string): Promise<number> {
  const text = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text());
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

/** Waits until every instance answers 200 on /health/ready. */
export async function waitReady(services: Array<{ url: string }>, timeoutMs = 120_000): Promise<void> {
  await eventually('every instance ready', timeoutMs, async () => {
    const answers = await Promise.all(services.map((s) => readiness(s.url)));
    return answers.every((status) => status === 200) ? true : undefined;
  });
}

/**
 * The CLI an instance runs: from the TypeScript sources through tsx, or with UIS_RUN_BUILD=1 the
 * build in dist/ (`npm run build`) as production runs it, without tsx's loader in either thread
 * (what the memory benchmarks want).
 */
const cliArgs =
  process.env.UIS_RUN_BUILD === '1'
    ? [new URL('../../dist/src/cli/main.js', import.meta.url).pathname]
    : ['--import', 'tsx', new URL('../../src/cli/main.ts', import.meta.url).pathname];

export interface SpawnOptions {
  /** A file descriptor for the instance's stdout and stderr (its JSON log lines); default: stderr inherited. */
  logFd?: number;
  /** Default: TEST_LOG_LEVEL or error. */
  logLevel?: LogLevel;
  /** More `uis run` flags, e.g. { 'output-topic': ... }. */
  flags?: Record<string, string>;
}

/**
 * Runs `uis run` in a process of its own (for tests that kill or freeze it), against the local stack.
 * Port 0 lets the OS choose: the instance logs the URL in its "serving" line (see servingUrl).
 */
export function spawnInstance(
  applicationId: string,
  port: number,
  stateDir: string,
  options: SpawnOptions = {},
): ChildProcess {
  const flags = Object.entries(options.flags ?? {}).flatMap(([name, value]) => [`--${name}`, value]);
  // BENCH_CPU_PROF_DIR (the benchmarks'): every thread of the instance writes a V8 CPU profile there when it exits.
  const profile = process.env.BENCH_CPU_PROF_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`]
    : [];
  return spawn(
    process.execPath,
    [
      ...profile,
      ...cliArgs,
      'run',
      '--application-id',
      applicationId,
      '--port',
      String(port),
      '--state-dir',
      stateDir,
      '--commit-interval-ms',
      '50',
      '--log-level',
      options.logLevel ?? process.env.TEST_LOG_LEVEL ?? 'error',
      ...flags,
    ],
    {
      stdio: options.logFd === undefined ? ['ignore', 'ignore', 'inherit'] : ['ignore', options.logFd, options.logFd],
      env: {
        ...MALLOC_ENV,
        ...process.env,
        KAFKA_BROKERS: stack.kafkaBrokers.join(','),
        SCHEMA_REGISTRY_URL: stack.registryUrl,
      },
    },
  );
}

/** Runs another `uis` command (e.g. reset) against the local stack, to its end. */
export function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cliArgs, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KAFKA_BROKERS: stack.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: stack.registryUrl },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * glibc's malloc settings the Dockerfile gives the service (docs/operations.md, Memory), so that
 * instances in tests and benchmarks use memory as in production. The caller's environment wins.
 */
export const MALLOC_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };

/** The URL in an instance's "serving" log line (logged once it has joined the group), if `line` is that line. */
export function servingUrl(line: string): string | undefined {
  if (!line.includes('"msg":"serving"')) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
    return entry.msg === 'serving' && typeof entry.url === 'string' ? entry.url : undefined;
  } catch {
    return undefined;
  }
}

export interface SpawnedInstance {
  child: ChildProcess;
  url: string;
}

/**
 * spawnInstance with its log appended to `logFile` (info level); resolves once the instance serves (it has
 * joined the group), with the URL it logged. Fails if it exits first or does not serve within `timeoutMs`.
 */
export async function startInstance(
  applicationId: string,
  stateDir: string,
  logFile: string,
  flags: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<SpawnedInstance> {
  const fd = openSync(logFile, 'a');
  const from = readFileSync(logFile).length;
  const child = spawnInstance(applicationId, 0, stateDir, { logFd: fd, logLevel: 'info', flags });
  closeSync(fd);
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(200)) {
    if (child.exitCode !== null) throw new Error(`${applicationId} exited (${child.exitCode}); see ${logFile}`);
    const url = readFileSync(logFile).subarray(from).toString('utf8').split('\n').map(servingUrl).find(Boolean);
    if (url) return { child, url };
  }
  child.kill('SIGKILL');
  throw new Error(`${applicationId} did not serve within ${timeoutMs / 1000} s; see ${logFile}`);
}

/** Sends SIGTERM and resolves once the process has exited, with its exit code. */
export async function stopInstance(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}
