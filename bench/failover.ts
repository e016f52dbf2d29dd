/**
 * Unavailability after an instance dies (DESIGN.md: at most 2 s of 503 per key with one standby).
 *
 *   npm run failover -- [--users N] [--seconds 40] [--keys-per-partition 8] [--rate 10] [--resume <state dir>]
 *
 * On the running local stack: loads N demo users (the benchmark data shape; nothing is loaded when they
 * are there already; default 1000), runs three instances of a fresh application, waits until they have
 * processed everything, and then, twice:
 *   1. without standbys: kill -9 one instance while every probed key is asked --rate times a second
 *      through the two others; after the restart of the killed instance,
 *   2. with --num-standby-replicas 1 (a rolling restart, then until every standby is caught up): kill -9
 *      again, probing both ways at once: plain requests, and requests that accept a standby answer
 *      (Cache-Control: max-stale=60).
 * For each way it reports, over the probed keys (every partition of the view), the longest run of answers
 * other than 200/404 (from the first failed answer to the next good one), the failed answers, and how many
 * answers came from a standby. Writes bench/results/<date>-failover-<users>.json and .md.
 * The instances' state and logs go to a temporary directory (logged at the start); --resume <it> runs the
 * same again with that run's application and local state, skipping the initial processing.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { partitionForKey } from '../src/kafka/partitioner.js';
import { startInstance, stopInstance } from '../test/support/service.js';
import { stack, uniqueName } from '../test/support/stack.js';
import { DATA_SHAPE } from './data-shape.js';
import { execFileSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i++) {
  const [k, v] = process.argv[i]!.split('=');
  args.set(k!, v ?? process.argv[++i] ?? '');
}
const users = Number(args.get('--users') ?? 1000);
const seconds = Number(args.get('--seconds') ?? 40);
const keysPerPartition = Number(args.get('--keys-per-partition') ?? 8);
const ratePerKey = Number(args.get('--rate') ?? 10);
const VIEW_PARTITIONS = 4;
const log = (message: string) =>
  process.stderr.write(`[failover ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

// --resume <state dir of an earlier run> continues with its application and local state (its processing done).
const resumed = args.get('--resume');
const stateRoot = resumed ?? mkdtempSync(join(tmpdir(), 'uis-failover-'));
const app = resumed ? readFileSync(join(stateRoot, 'application-id'), 'utf8').trim() : uniqueName('failover');
writeFileSync(join(stateRoot, 'application-id'), `${app}\n`);
const logDir = join(stateRoot, 'logs');
mkdirSync(logDir, { recursive: true });
interface Instance {
  slot: number;
  child: ChildProcess;
  url: string;
}
const running = new Map<number, Instance>();
process.on('exit', () => {
  for (const instance of running.values()) instance.child.kill('SIGKILL');
});

/** Starts instance `slot` (its state dir kept across restarts) and resolves once it serves. */
async function start(slot: number, flags: Record<string, string>): Promise<Instance> {
  const { child, url } = await startInstance(app, join(stateRoot, `slot-${slot}`), join(logDir, `slot-${slot}.log`), {
    'connect-url': stack.connectUrl,
    'commit-interval-ms': '100',
    ...flags,
  });
  const instance = { slot, child, url };
  running.set(slot, instance);
  return instance;
}

async function stopGracefully(instance: Instance): Promise<void> {
  await stopInstance(instance.child);
  running.delete(instance.slot);
}

async function metricValues(url: string, name: string): Promise<number[]> {
  const text = await fetch(`${url}/metrics`).then(
    (r) => r.text(),
    () => '', // not serving yet (or any more): no values
  );
  return text
    .split('\n')
    .filter((line) => line.startsWith(name) && !line.startsWith(`${name}_`))
    .map((line) => Number(line.split(' ').at(-1)));
}

/** Until every instance is ready and the records processed stood still for 5 s; progress every 30 s. */
async function waitProcessed(what: string): Promise<number> {
  const started = Date.now();
  let last = -1;
  let still = 0;
  let report = started + 30_000;
  for (;;) {
    await sleep(1000);
    const ready = await Promise.all(
      [...running.values()].map((i) =>
        fetch(`${i.url}/health/ready`).then(
          (r) => r.status === 200,
          () => false,
        ),
      ),
    );
    const processed = (
      await Promise.all([...running.values()].map((i) => metricValues(i.url, 'streams_records_processed_total')))
    )
      .flat()
      .reduce((a, b) => a + b, 0);
    still = ready.every(Boolean) && processed === last ? still + 1 : 0;
    last = processed;
    if (still >= 5) return (Date.now() - started) / 1000;
    if (Date.now() >= report) {
      report += 30_000;
      log(`  ${what}: ${processed} records processed, ${ready.filter(Boolean).length}/${ready.length} ready`);
    }
    if (Date.now() - started > 4 * 3600_000) throw new Error(`${what}: not done after 4 hours`);
  }
}

/** Until every standby of every instance is at most 1,000 changelog records behind. */
async function waitStandbysCaughtUp(): Promise<number> {
  const started = Date.now();
  for (let report = started + 30_000; ; await sleep(1000)) {
    const lags = (
      await Promise.all([...running.values()].map((i) => metricValues(i.url, 'streams_standby_lag_records')))
    ).flat();
    const stale = (
      await Promise.all([...running.values()].map((i) => metricValues(i.url, 'streams_standby_staleness_seconds')))
    ).flat();
    if (lags.length > 0 && lags.every((lag) => lag <= 1000) && stale.every((s) => s >= 0 && s < 5))
      return (Date.now() - started) / 1000;
    if (Date.now() >= report) {
      report += 30_000;
      log(`  standbys: ${lags.length} open, largest lag ${Math.max(0, ...lags)} records`);
    }
    if (Date.now() - started > 2 * 3600_000) throw new Error('standbys did not catch up within 2 hours');
  }
}

interface Probe {
  key: string;
  partition: number;
  /** [ms since the kill, status, from a standby] */
  answers: Array<[number, number, boolean]>;
}

/**
 * Asks every key `ratePerKey` times a second (open loop: on schedule whatever the answers do), through the
 * surviving instances in turn, from `from` until `until`.
 */
async function probe(
  keys: Array<{ key: string; partition: number }>,
  urls: () => string[],
  headers: Record<string, string>,
  killedAt: () => number,
  durationMs: number,
): Promise<Probe[]> {
  const probes = keys.map((k) => ({ ...k, answers: [] as Array<[number, number, boolean]> }));
  const interval = 1000 / ratePerKey;
  const started = Date.now();
  const pending: Promise<void>[] = [];
  let n = 0;
  for (let tick = 0; Date.now() - started < durationMs; tick++) {
    const due = started + tick * interval;
    if (due > Date.now()) await sleep(due - Date.now());
    for (const p of probes) {
      const targets = urls();
      const url = targets[n++ % targets.length]!;
      const sent = Date.now();
      pending.push(
        fetch(`${url}/users/${p.key}`, { headers, signal: AbortSignal.timeout(5000) }).then(
          async (r) => {
            await r.arrayBuffer();
            p.answers.push([sent - killedAt(), r.status, r.headers.get('x-uis-standby') === 'true']);
          },
          () => void p.answers.push([sent - killedAt(), 0, false]),
        ),
      );
    }
  }
  await Promise.all(pending);
  for (const p of probes) p.answers.sort((a, b) => a[0] - b[0]);
  return probes;
}

/** Per key, the longest stretch from a failed answer (not 200/404) to the next good one. */
function summarize(probes: Probe[]) {
  const longest = probes.map((p) => {
    let worst = 0;
    let firstFail: number | undefined;
    for (const [at, status] of p.answers) {
      const good = status === 200 || status === 404;
      if (!good && firstFail === undefined) firstFail = at;
      if (good && firstFail !== undefined) {
        worst = Math.max(worst, at - firstFail);
        firstFail = undefined;
      }
    }
    if (firstFail !== undefined) worst = Math.max(worst, p.answers.at(-1)![0] - firstFail);
    return { key: p.key, partition: p.partition, longestMs: worst };
  });
  const all = probes.flatMap((p) => p.answers);
  const sorted = longest.map((l) => l.longestMs).sort((a, b) => a - b);
  return {
    answers: all.length,
    failed: all.filter(([, s]) => s !== 200 && s !== 404).length,
    fromStandby: all.filter(([, , standby]) => standby).length,
    longestUnavailableMs: { max: sorted.at(-1) ?? 0, p50: sorted[Math.floor(sorted.length / 2)] ?? 0 },
    byPartition: Object.fromEntries(
      [...new Set(longest.map((l) => l.partition))]
        .sort()
        .map((partition) => [
          partition,
          Math.max(...longest.filter((l) => l.partition === partition).map((l) => l.longestMs)),
        ]),
    ),
  };
}

/** Kills slot 0 with SIGKILL while probing through the others, the given ways at once. */
async function killAndProbe(
  ways: Record<string, Record<string, string>>,
  keys: Array<{ key: string; partition: number }>,
) {
  const victim = running.get(0)!;
  const survivors = () => [...running.values()].filter((i) => i.slot !== 0).map((i) => i.url);
  let killedAt = Number.MAX_SAFE_INTEGER;
  const killing = (async () => {
    await sleep(3000); // a few seconds of answers before the kill
    killedAt = Date.now();
    victim.child.kill('SIGKILL');
    running.delete(0);
    log('  killed slot 0 (kill -9)');
  })();
  const results = await Promise.all(
    Object.entries(ways).map(async ([way, headers]) => [
      way,
      summarize(await probe(keys, survivors, headers, () => killedAt, 3000 + seconds * 1000)),
    ]),
  );
  await killing;
  return Object.fromEntries(results);
}

// --- the run ---
const db = new pg.Client(stack.postgres);
await db.connect();
log(`application ${app}; state and logs in ${stateRoot}`);
log(`loading ${users} demo users if they are not there (the benchmark data shape)`);
execFileSync(
  process.execPath,
  ['--import', 'tsx', 'scripts/load-demo-data.ts', '--users', String(users), ...DATA_SHAPE],
  {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  },
);
const { rows } = await db.query<{ user_id: string }>('SELECT user_id::text FROM users ORDER BY user_id LIMIT 20000');
const keys: Array<{ key: string; partition: number }> = [];
for (let partition = 0; partition < VIEW_PARTITIONS; partition++) {
  keys.push(
    ...rows
      .map((r) => ({ key: r.user_id, partition: partitionForKey(Buffer.from(r.user_id), VIEW_PARTITIONS) }))
      .filter((k) => k.partition === partition)
      .slice(0, keysPerPartition),
  );
}
const totalUsers = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM users')).rows[0]!.n);
await db.end();

const result: Record<string, unknown> = {
  command: `npm run failover -- ${process.argv.slice(2).join(' ')}`.trim(),
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30) },
  users: totalUsers,
  probedKeys: keys.length,
  ratePerKey,
  secondsAfterKill: seconds,
  note: 'unavailability: per key, from the first failed answer (not 200/404) to the next good one; max and median over the keys',
};

log(`processing: three instances of ${app} read the CDC topics from the start`);
await Promise.all([0, 1, 2].map((slot) => start(slot, {})));
if (resumed) {
  result.resumedFrom = { stateRoot, applicationId: app };
  result.restoreAndCatchUpSeconds = await waitProcessed('restoring the earlier run');
} else {
  result.processingSeconds = await waitProcessed('processing');
}
log(`processed in ${result.restoreAndCatchUpSeconds ?? result.processingSeconds} s`);

log('1. kill -9 without standbys');
result.withoutStandbys = await killAndProbe({ plain: {} }, keys);
log(`  ${JSON.stringify(result.withoutStandbys)}`);
await start(0, {});
await waitProcessed('the killed instance back');

log('2. rolling restart with one standby per task, then kill -9');
const standby = { 'num-standby-replicas': '1' };
for (const slot of [0, 1, 2]) {
  await stopGracefully(running.get(slot)!);
  await start(slot, standby);
  await waitProcessed(`slot ${slot} back with standbys`);
}
result.standbyCatchUpSeconds = await waitStandbysCaughtUp();
log(`standbys caught up in ${result.standbyCatchUpSeconds} s`);
result.withOneStandby = await killAndProbe({ plain: {}, acceptingStale: { 'cache-control': 'max-stale=60' } }, keys);
log(`  ${JSON.stringify(result.withOneStandby)}`);
for (const instance of [...running.values()]) await stopGracefully(instance);

const outDir = join(root, 'bench/results');
const stem = `${new Date().toISOString().slice(0, 10)}-failover-${totalUsers >= 1_000_000 ? 'full' : totalUsers}`;
writeFileSync(join(outDir, `${stem}.json`), JSON.stringify(result, null, 2) + '\n');
const row = (
  name: string,
  s: { longestUnavailableMs: { max: number; p50: number }; failed: number; answers: number; fromStandby: number },
) =>
  `| ${name} | ${(s.longestUnavailableMs.max / 1000).toFixed(2)} s | ${(s.longestUnavailableMs.p50 / 1000).toFixed(2)} s | ${s.failed} of ${s.answers} | ${s.fromStandby} |`;
type Summary = Parameters<typeof row>[1];
const without = result.withoutStandbys as Record<string, Summary>;
const withOne = result.withOneStandby as Record<string, Summary>;
writeFileSync(
  join(outDir, `${stem}.md`),
  [
    `# Unavailability after kill -9 of one of three instances (${totalUsers} users)`,
    '',
    `Command: \`${result.command}\` (${result.date}). Machine: ${cpus().length} cores, the whole stack on them.`,
    `Probe: ${keys.length} keys over every partition of the view, each asked ${ratePerKey} times a second through the surviving instances, from 3 s before the kill to ${seconds} s after.`,
    '',
    '| setup, requests | longest unavailability of a key | median over keys | failed answers | standby answers |',
    '| --- | --- | --- | --- | --- |',
    row('no standby, plain requests', without.plain!),
    row('one standby, plain requests', withOne.plain!),
    row('one standby, `Cache-Control: max-stale=60`', withOne.acceptingStale!),
    '',
    (resumed
      ? `Resumed the application of an earlier run (${app}, its processing done); restoring and catching up took ${result.restoreAndCatchUpSeconds} s`
      : `Initial processing took ${result.processingSeconds} s`) +
      `; the standbys caught up ${result.standbyCatchUpSeconds} s after the rolling restart.`,
    'Plain requests wait for the group to notice the dead member (session timeout, 10 s) and for its tasks to move; with a standby the move needs no restore. Requests that accept a stale answer are answered by the standby meanwhile.',
    '',
  ].join('\n'),
);
log(`wrote bench/results/${stem}.json and .md`);
process.exit(0);
