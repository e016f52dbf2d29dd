/**
 * Restore as Kafka Streams' reference measures it (bench/kafka-streams-java, `run.sh restore`): one
 * instance of an application that has already processed its input starts alone with an empty state
 * directory, takes every task and restores every store from its changelog. No other member, so no
 * rebalance with a survivor sharing the cores. Reports the restore phase itself (from the instance's
 * "restoring stores from changelogs" to "restore finished" log lines) and the time until the instance
 * is ready.
 *
 *   node --import tsx bench/restore.ts --application-id <id> [--flags name=value,...] [--memory-limit-mib 256]
 *
 * With --memory-limit-mib the instance runs in a memory cgroup with that limit (bench/cgroup.ts), and
 * the result says whether it hit the limit or was killed.
 *
 * The application's other instances must be stopped. Progress (the instance's restore progress
 * lines) on stderr; the result as JSON on stdout.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startInstance, stopInstance } from '../test/support/service.js';
import { memoryCgroup } from './cgroup.js';
import { memoryPartsOf, memoryOf } from './memory.js';
import { threadShares, threadTimes } from './threads.js';

const { values: options } = parseArgs({
  options: {
    'application-id': { type: 'string' },
    flags: { type: 'string', default: '' },
    'memory-limit-mib': { type: 'string' },
  },
});
const applicationId = options['application-id'];
if (!applicationId) throw new Error('--application-id is required: an application that has processed its input');
const flags = Object.fromEntries(
  options
    .flags!.split(',')
    .filter(Boolean)
    .map((f) => f.split('=') as [string, string]),
);
const log = (message: string) =>
  process.stderr.write(`[restore ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const workDir = mkdtempSync(join(tmpdir(), 'uis-restore-'));
const logFile = join(workDir, 'instance.log');
interface LogLine {
  msg?: string;
  time?: string;
  records?: number;
  recordsPerSecond?: number;
  percent?: number;
  upToRecords?: number;
}
const lines = (): LogLine[] =>
  readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

const limitMiB = options['memory-limit-mib'] ? Number(options['memory-limit-mib']) : undefined;
const cgroup = limitMiB ? memoryCgroup(`uis-restore-${process.pid}`, limitMiB) : undefined;
log(
  `starting one instance of ${applicationId} with an empty state directory${limitMiB ? `, memory limit ${limitMiB} MiB` : ''}`,
);
const command = `node --import tsx bench/restore.ts ${process.argv.slice(2).join(' ')}`;
const started = Date.now();
cgroup?.enter(); // the instance is born in the cgroup
const starting = startInstance(
  applicationId,
  join(workDir, 'state'),
  logFile,
  { 'connect-url': `http://127.0.0.1:${process.env.CONNECT_PORT ?? '8083'}`, ...flags },
  3600_000,
);
cgroup?.release();
const instance = await starting;
let shown = 0;
let peak = memoryOf(instance.child.pid!);
const threadsAtStart = threadTimes(instance.child.pid!);
let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
instance.child.once('exit', (code, signal) => (exit = { code, signal }));
for (;;) {
  if (exit) {
    // Killed (by the cgroup's OOM killer, say): what it got to and why it ended is the result.
    const result = {
      command,
      applicationId,
      died: { ...exit, afterSeconds: (Date.now() - started) / 1000, instanceLog: logFile },
      restoredRecords: lines()
        .filter((l) => l.msg === 'restore progress')
        .at(-1)?.records,
      memoryAtPeakAnon: peak,
      ...(cgroup ? { memoryLimitMiB: limitMiB, cgroup: cgroup.stats() } : {}),
    };
    log(`the instance exited before it was ready: ${JSON.stringify(result)}`);
    cgroup?.remove();
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(1);
  }
  const status = await fetch(`${instance.url}/health/ready`).then(
    (r) => r.status,
    () => 0,
  );
  if (status === 200) break;
  const progress = lines().filter((l) => l.msg === 'restore progress');
  for (const line of progress.slice(shown).filter((_, i, all) => i === all.length - 1))
    log(`  ${line.records} records (${line.percent}%), ${line.recordsPerSecond} records/s`);
  shown = progress.length;
  if (exit) continue;
  const memory = memoryOf(instance.child.pid!);
  if (memory.anonMiB > peak.anonMiB) peak = memory;
  if (Date.now() - started > 3600_000) throw new Error('not ready after an hour');
  await sleep(1000);
}
const secondsToReady = (Date.now() - started) / 1000;
// Which threads did the work: the engine (at --engine-nice), V8's helpers, libuv's pool, LevelDB's compaction.
const threads = threadShares(instance.child.pid!, threadsAtStart, secondsToReady);
// Where the anonymous memory is: V8's heap, buffers outside it, and the rest (LevelDB, malloc).
const partsWhenReady = await memoryPartsOf(instance.url);
const all = lines();
const begin = all.find((l) => l.msg === 'restoring stores from changelogs');
const end = all.find((l) => l.msg === 'restore finished');
const restoreSeconds = begin?.time && end?.time ? (Date.parse(end.time) - Date.parse(begin.time)) / 1000 : NaN;
const result = {
  command,
  applicationId,
  secondsToReady,
  restore: {
    records: end?.records,
    seconds: restoreSeconds,
    recordsPerSecond: end?.records ? Math.round(end.records / restoreSeconds) : undefined,
    changelogOffsets: begin?.upToRecords,
  },
  threads,
  memoryAtPeakAnon: peak,
  memoryWhenReady: { ...memoryOf(instance.child.pid!), ...partsWhenReady },
  ...(cgroup ? { memoryLimitMiB: limitMiB, cgroup: cgroup.stats() } : {}),
};
log(JSON.stringify(result));
await stopInstance(instance.child);
cgroup?.remove();
rmSync(workDir, { recursive: true, force: true });
process.stdout.write(JSON.stringify(result) + '\n');
