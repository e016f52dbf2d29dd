/**
 * The soak: one long churn scenario (test/support/churn.ts) on the running local stack.
 *
 *   npm run soak -- --minutes 30 --seed 7 [--events N] [--rate 120] [--min-instances 3] [--max-instances 5]
 *                   [--no-broker-restart] [--no-connect-restart] [--convergence-minutes 3]
 *                   [--instance-flags name=value,name=value]   (more `uis run` flags for every instance)
 *
 * A fresh application, at least --min-instances instances, a write workload of --rate operations a second
 * on PostgreSQL for --minutes, --events membership events (default 3.5 a minute, at least 20) spread over
 * it (join, leave with SIGTERM, kill -9, SIGSTOP past the session timeout then SIGCONT), one broker restart
 * and one Kafka Connect restart; then every user on every instance and in the output topic against SQL.
 * The same seed gives the same events and workload. Progress (every event, and a status line every 10 s)
 * goes to stderr. Writes bench/results/soak-<UTC date>-seed<S>.json (everything) and .md (the summary);
 * the instances' logs go to bench/results/soak-<UTC date>-seed<S>-logs/ (git-ignored *.log files).
 * Exits 0 when there is no mismatch and no instance exited by itself, 1 otherwise. Ctrl-C stops it and cleans up.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { runChurn, type ChurnResult } from '../test/support/churn.js';
import { describeMismatch } from '../test/support/view-check.js';

const root = new URL('..', import.meta.url).pathname;
const argv = process.argv.slice(2);
const flags = new Map<string, string>();
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i]!;
  if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg} (see the header of bench/soak.ts)`);
  const [name, inline] = arg.slice(2).split('=');
  if (name!.startsWith('no-')) flags.set(name!, 'true');
  else flags.set(name!, inline ?? argv[++i] ?? '');
}
const known = [
  'minutes',
  'seed',
  'events',
  'rate',
  'min-instances',
  'max-instances',
  'no-broker-restart',
  'no-connect-restart',
  'convergence-minutes',
  'instance-flags',
];
for (const name of flags.keys()) {
  if (!known.includes(name))
    throw new Error(`unknown option --${name}; options: ${known.map((k) => `--${k}`).join(' ')}`);
}
const number = (name: string, fallback?: number): number => {
  const text = flags.get(name);
  if (text === undefined) {
    if (fallback === undefined) throw new Error(`--${name} is required`);
    return fallback;
  }
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number >= 0, got "${text}"`);
  return value;
};

const minutes = number('minutes');
const seed = Math.floor(number('seed'));
const events = Math.floor(number('events', Math.max(20, Math.round(minutes * 3.5))));
const rate = number('rate', 120);
const instanceFlags = Object.fromEntries(
  (flags.get('instance-flags') ?? '')
    .split(',')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`--instance-flags takes name=value pairs, got "${pair}"`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
);
const startedAt = new Date();
const name = `soak-${startedAt.toISOString().slice(0, 10)}-seed${seed}`;
const resultsDir = join(root, 'bench/results');
const logDir = join(resultsDir, `${name}-logs`);
mkdirSync(logDir, { recursive: true });

const log = (line: string) => process.stderr.write(`${line}\n`);
const git = (...args: string[]): string => {
  try {
    return execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
};
const run = {
  command: `npm run soak -- ${argv.join(' ')}`.trim(),
  seed,
  startedAt: startedAt.toISOString(),
  commit: `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain') === '' ? '' : ' (with uncommitted changes)'}`,
  machine: {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    note: 'the whole stack (Kafka, Connect, PostgreSQL, registry) runs on the same machine',
  },
};

const abort = new AbortController();
process.once('SIGINT', () => {
  log('[soak] Ctrl-C: stopping and cleaning up (again to quit at once)');
  abort.abort();
  process.once('SIGINT', () => process.exit(130));
});

log(`[soak] ${run.command}: ${minutes} min, ${events} membership events, ${rate} operations/s; logs in ${logDir}`);
const result = await runChurn({
  seed,
  membershipEvents: events,
  durationMs: Math.round(minutes * 60_000),
  ratePerSecond: rate,
  minInstances: flags.has('min-instances') ? number('min-instances') : undefined,
  maxInstances: flags.has('max-instances') ? number('max-instances') : undefined,
  restartBroker: !flags.has('no-broker-restart'),
  restartConnect: !flags.has('no-connect-restart'),
  convergenceTimeoutMs: Math.round(number('convergence-minutes', 3) * 60_000),
  instanceFlags,
  logDir,
  onLog: log,
  statusIntervalMs: 10_000,
  signal: abort.signal,
}).catch((error: unknown) => {
  if (!abort.signal.aborted) throw error;
  log('[soak] stopped before the end: no result written');
  process.exit(130);
});

const report = { ...run, finishedAt: new Date().toISOString(), result };
const jsonPath = join(resultsDir, `${name}.json`);
writeFileSync(jsonPath, JSON.stringify(report, null, 2) + '\n');
const mdPath = join(resultsDir, `${name}.md`);
writeFileSync(mdPath, summary(report));
log(
  `[soak] ${result.ok ? 'zero mismatches' : 'MISMATCHES'}; wrote ${relative(root, jsonPath)} and ${relative(root, mdPath)}`,
);
if (result.unexpectedExits.length > 0) log(`[soak] ${result.unexpectedExits.length} instances exited by themselves`);
process.exit(result.ok && result.unexpectedExits.length === 0 ? 0 : 1);

function summary(r: typeof report): string {
  const c: ChurnResult = r.result;
  const kinds = (k: Record<string, number>) =>
    Object.entries(k)
      .map(([kind, n]) => `${n} ${kind}`)
      .join(', ');
  const control = (x: ChurnResult['check']['control']) =>
    x === null
      ? 'not run (no mismatches)'
      : x.convergenceMs !== null
        ? `equal to SQL ${s(x.convergenceMs)} after it said it was ready (in ${s(x.readyMs)})`
        : `${x.mismatches} mismatches left (${kinds(x.kinds)})`;
  const s = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);
  const instanceMismatches = c.check.instances.reduce((sum, i) => sum + i.mismatches, 0);
  const crashes = c.unexpectedExits.length === 0 ? '' : `; ${c.unexpectedExits.length} instances exited by themselves`;
  const verdict =
    (c.ok
      ? 'zero mismatches on every instance and in the output topic'
      : `${instanceMismatches} mismatches on the instances, ${c.check.outputTopic.mismatches} in the output topic`) +
    crashes;
  const lines = [
    `# Soak, ${r.startedAt.slice(0, 10)}, seed ${r.seed}: ${verdict}`,
    '',
    `Command: \`${r.command}\` (commit ${r.commit}), started ${r.startedAt}, finished ${r.finishedAt}.  `,
    `Machine: ${r.machine.cpus} × ${r.machine.cpu}, ${r.machine.memoryGiB} GiB, Linux ${r.machine.kernel}, Node ${r.machine.node}; ${r.machine.note}.  `,
    `Application \`${c.applicationId}\`, output topic \`${c.outputTopic}\`.`,
    '',
    '| what | figure |',
    '| --- | --- |',
    `| write workload | ${c.workload.operations} operations in ${s(c.workload.durationMs)}: ${c.workload.achievedRatePerSecond}/s (target ${c.workload.targetRatePerSecond}/s); ${c.workload.usersCreated} users created, ${c.workload.usersDeleted} deleted at the end |`,
    `| membership events | ${Object.entries(c.membership.executed)
      .map(([kind, n]) => `${n} ${kind}`)
      .join(', ')} (planned ${c.plan.events.length}; ${c.membership.deviations} deviations from the plan) |`,
    `| stack restarts | ${c.restarts.map((x) => `${x.service} (SIG${x.kill ? 'KILL' : 'TERM'}) at +${(x.startedAtMs / 1000).toFixed(0)} s, back in ${s(x.tookMs)}${x.exitCode === 0 ? '' : `, FAILED (exit ${x.exitCode})`}`).join('; ') || 'none'} |`,
    `| instances that exited by themselves | ${c.unexpectedExits.length} |`,
    `| users compared | ${c.check.usersCompared} (every user in PostgreSQL, the deleted ones must be 404) |`,
    `| instances ready after the workload | ${s(c.timings.readyMs)} |`,
    `| view equal to SQL on every instance | ${c.check.converged ? `after ${s(c.timings.convergenceMs)}` : `no: ${instanceMismatches} mismatches after ${c.check.rounds} rounds (first round ${c.check.firstRoundMismatches})`} |`,
    `| output topic equal to SQL | ${c.check.outputTopic.converged ? 'yes' : `no: ${c.check.outputTopic.error ?? `${c.check.outputTopic.mismatches} mismatches`}`} |`,
    `| control: a fresh application without churn over the same CDC topics | ${control(c.check.control)} |`,
    `| total time | ${s(c.timings.totalMs)} (initial instances ready in ${s(c.timings.initialReadyMs)}) |`,
    `| stack healthy at the end | ${c.stackHealthyAtEnd ? 'yes' : 'NO'} |`,
    '',
    '## The check',
    '',
    '| where | ready | mismatches | how they are wrong |',
    '| --- | --- | --- | --- |',
    ...c.check.instances.map(
      (i) => `| slot ${i.slot}, ${i.url} | ${i.ready ? 'yes' : 'NO'} | ${i.mismatches} | ${kinds(i.kinds)} |`,
    ),
    `| output topic | | ${c.check.outputTopic.mismatches} | ${kinds(c.check.outputTopic.kinds)} |`,
    '',
    `Users created before this run among the mismatched: ${c.check.mismatchedUsersFromEarlierRuns}.`,
    '',
  ];
  const examples = [
    ...c.check.instances.flatMap((i) => i.examples),
    ...c.check.outputTopic.examples,
    ...(c.check.control?.examples ?? []),
  ];
  if (examples.length > 0) {
    lines.push('## First mismatches', '', 'Field, expected (SQL) -> served; the whole documents are in the JSON.', '');
    lines.push(...examples.map((m) => `- ${describeMismatch(m)}`), '');
  }
  if (c.unexpectedExits.length > 0) {
    lines.push('## Instances that exited by themselves', '');
    for (const x of c.unexpectedExits) {
      lines.push(
        `Slot ${x.slot} at +${x.t} s (code ${x.code}, signal ${x.signal}); its last lines:`,
        '',
        '```',
        ...x.lastLines,
        '```',
        '',
      );
    }
  }
  lines.push(
    '## Warnings and errors in the instance logs',
    '',
    '| slot | level | message | count |',
    '| --- | --- | --- | --- |',
  );
  for (const slot of c.logs.summary) {
    for (const m of slot.messages.slice(0, 8)) lines.push(`| ${slot.slot} | ${m.level} | ${m.msg} | ${m.count} |`);
  }
  lines.push('', `Logs: ${c.logs.dir} (kept on the machine that ran it).`, '', '## Events', '');
  lines.push('Seconds from the start of the run; the workload started at the `workload` event.', '');
  lines.push('| t (s) | event | slot | pid | detail |', '| --- | --- | --- | --- | --- |');
  for (const e of c.events) {
    lines.push(
      `| ${e.t.toFixed(1)} | ${e.kind} | ${e.slot ?? ''} | ${e.pid ?? ''} | ${(e.detail ?? '').replace(/\|/g, '\\|')} |`,
    );
  }
  return lines.join('\n') + '\n';
}
