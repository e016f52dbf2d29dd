// One churn scenario (DESIGN.md "What the view must survive", issue 10): the instances of a fresh
// application join, leave with SIGTERM, are killed with kill -9 and are paused past the session timeout
// (a zombie that still believes it owns its tasks) and resumed, while a steady write workload runs on
// PostgreSQL and, once each, the broker and Kafka Connect restart (`stack/stack.sh restart`). Then every
// user must equal SQL on every instance, and in the output topic read from the start.
//
// The membership events are planned from the seed before anything runs (planChurn: the same seed gives
// the same kinds, slots and gaps); the run follows the plan and says where reality made it deviate (an
// instance that exited by itself, an event that had to wait). Each instance runs `uis run` in a process
// of its own in a slot: a slot keeps its state dir and its log file across restarts. Every process is
// killed when the run ends, also when it fails, and by a reaper process (reaper.ts) if this one dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { groupLag, type GroupLag } from './kafka.js';
import { readiness, servingUrl, spawnInstance } from './service.js';
import { stack, uniqueName } from './stack.js';
import { compareTopicWithOracle, compareWithOracle, mismatchKinds, userIdsInCdc, type Mismatch } from './view-check.js';
import { freshIdBase, prng, runWorkload } from './workload.js';

export type MembershipKind = 'join' | 'leave' | 'kill' | 'pause';
export const MEMBERSHIP_KINDS: readonly MembershipKind[] = ['join', 'leave', 'kill', 'pause'];

/** The engine's default session timeout is 10 s: a pause of 12-20 s outlives it. */
export const PAUSE_MIN_MS = 12_000;
export const PAUSE_MAX_MS = 20_000;

export interface PlannedEvent {
  /** When, in ms after the workload starts. */
  atMs: number;
  kind: MembershipKind;
  slot: number;
  /** A pause's length. */
  pauseMs?: number;
}

export interface PlannedRestart {
  service: 'kafka' | 'connect';
  atMs: number;
  /** SIGKILL (`stack.sh restart <service> --kill`) rather than SIGTERM. */
  kill: boolean;
}

export interface ChurnPlan {
  events: PlannedEvent[];
  restarts: PlannedRestart[];
}

export interface PlanOptions {
  seed: number;
  /** How many membership events. */
  membershipEvents: number;
  /** Instances at the start (and at least as many at the end). */
  minInstances: number;
  /** Never more instance processes than this (also the number of slots). */
  maxInstances: number;
  /** How long the write workload runs; the events fall between 6% and 88% of it. */
  durationMs: number;
  restartBroker: boolean;
  restartConnect: boolean;
}

/**
 * The membership events and restarts of a run, from the seed alone. Slots 0..min-1 run at the start. At
 * every moment at least one instance runs and is not paused, and never more than max processes exist: a
 * leave, kill or pause needs two running instances, a join a free slot, and a pause leaves one of those
 * (so that some event is always possible at the planned time). Each of the four kinds occurs at
 * least once when there are at least four events. Gaps between events are random; the last event is at
 * 88% of the duration. The restarts (the broker at 10-30% of the events' span, Connect at 45-65%, so that
 * each is back while the workload still runs) are drawn after the events, so switching them off does not
 * change the events.
 */
export function planChurn(options: PlanOptions): ChurnPlan {
  const { membershipEvents: count, minInstances: min, maxInstances: max, durationMs } = options;
  if (!(min >= 1 && max >= min && max >= 2)) throw new RangeError(`need 1 <= minInstances <= maxInstances, max >= 2`);
  if (!(count >= 0 && durationMs > 0)) throw new RangeError('need membershipEvents >= 0 and durationMs > 0');
  const random = prng(options.seed);
  const from = Math.max(3_000, 0.06 * durationMs);
  const to = 0.88 * durationMs;
  const weights = Array.from({ length: count }, () => 0.25 + 1.5 * random());
  const total = weights.reduce((sum, w) => sum + w, 0);
  let cumulative = 0;
  const times = weights.map((w) => from + ((to - from) * (cumulative += w)) / total);

  const slots = Array.from({ length: max }, (_, i) => ({ live: i < min, pausedUntil: 0 }));
  const seen = new Set<MembershipKind>();
  const events: PlannedEvent[] = [];
  let previous = 0;
  for (let i = 0; i < count; i++) {
    const at = Math.max(Math.round(times[i] as number), previous);
    const active = slots.flatMap((s, n) => (s.live && s.pausedUntil <= at ? [n] : []));
    const live = slots.filter((s) => s.live).length;
    // Something is always possible: a join (a free slot) or else two running instances. Only a pause could
    // take that away (every slot taken, all but one paused), so it must leave a free slot or two running.
    const legal: Array<[MembershipKind, number]> = [];
    if (live < max) legal.push(['join', live <= 2 ? 3 : live >= max - 1 ? 0.6 : 1.2]);
    if (active.length >= 2) legal.push(['leave', 1], ['kill', 1]);
    if (active.length >= 3 || (active.length >= 2 && live < max)) legal.push(['pause', 1]);
    const missing = legal.filter(([kind]) => !seen.has(kind));
    const pool = missing.length > 0 && count - i <= MEMBERSHIP_KINDS.length - seen.size + 2 ? missing : legal;
    let r = random() * pool.reduce((sum, [, w]) => sum + w, 0);
    const kind = (pool.find(([, w]) => (r -= w) < 0) ?? pool[pool.length - 1])![0];
    const candidates = kind === 'join' ? slots.flatMap((s, n) => (s.live ? [] : [n])) : active;
    const slot = candidates[Math.floor(random() * candidates.length)] as number;
    const target = slots[slot]!;
    const event: PlannedEvent = { atMs: at, kind, slot };
    if (kind === 'join') Object.assign(target, { live: true, pausedUntil: 0 });
    else if (kind === 'pause') {
      event.pauseMs = PAUSE_MIN_MS + Math.floor(random() * (PAUSE_MAX_MS - PAUSE_MIN_MS));
      target.pausedUntil = at + event.pauseMs;
    } else target.live = false;
    seen.add(kind);
    events.push(event);
    previous = at;
  }

  const restarts: PlannedRestart[] = [];
  const broker = { atMs: Math.round(from + (to - from) * (0.1 + 0.2 * random())), kill: random() < 0.5 };
  const connect = { atMs: Math.round(from + (to - from) * (0.45 + 0.2 * random())), kill: random() < 0.5 };
  if (options.restartBroker) restarts.push({ service: 'kafka', ...broker });
  if (options.restartConnect) restarts.push({ service: 'connect', ...connect });
  return { events, restarts };
}

export interface ChurnOptions extends Partial<Omit<PlanOptions, 'seed' | 'membershipEvents' | 'durationMs'>> {
  seed: number;
  membershipEvents: number;
  durationMs: number;
  /** Target write rate on PostgreSQL (operations a second); default 120. */
  ratePerSecond?: number;
  /** Where the instances' logs (slot-<n>.log) and the stack restarts' logs go; kept after the run. */
  logDir: string;
  /** Each event as it happens and a status line every statusIntervalMs (default 10 s). */
  onLog?: (line: string) => void;
  statusIntervalMs?: number;
  /** How long the initial instances, and all instances after the workload, may take to be ready. Default 5 min. */
  readyTimeoutMs?: number;
  /** How long the view may take to equal SQL once the instances are ready. Default 3 min. */
  convergenceTimeoutMs?: number;
  /** How long an instance may take to exit after SIGTERM before it is killed. Default 30 s. */
  leaveTimeoutMs?: number;
  /**
   * The control: one instance of another fresh application, started after the check, with no churn, over the
   * same CDC topics, compared with SQL the same way. It tells the engine's churn defects (the control is right)
   * from wrong CDC topics or a wrong harness (the control is wrong too). Default: only when there are mismatches.
   */
  control?: 'always' | 'on-mismatch' | 'never';
  /**
   * How long the control may take to equal SQL once it says it is ready. Default 5 min: a fresh application
   * reads the CDC topics' whole history, and says it is ready once its source tasks are caught up, before the
   * stages downstream of them are.
   */
  controlTimeoutMs?: number;
  /** More `uis run` flags for every instance (the control too), e.g. { 'num-standby-replicas': '1' }. */
  instanceFlags?: Record<string, string>;
  /** Stops the run early (e.g. Ctrl-C): everything is cleaned up and runChurn rejects. */
  signal?: AbortSignal;
}

export interface ChurnEvent {
  /** Seconds after the workload started (negative: before it). */
  t: number;
  time: string;
  /** A membership event (join, leave, kill, pause) or what followed one (serving, left, resume, exited...). */
  kind: string;
  slot?: number;
  pid?: number;
  detail?: string;
}

export interface InstanceCheck {
  slot: number;
  url: string;
  ready: boolean;
  mismatches: number;
  /** How they are wrong (view-check.ts mismatchKinds). */
  kinds: Record<string, number>;
  /** The first few, in detail. */
  examples: Mismatch[];
}

export interface ChurnResult {
  seed: number;
  applicationId: string;
  outputTopic: string;
  options: Required<Omit<ChurnOptions, 'onLog' | 'signal'>>;
  plan: ChurnPlan;
  events: ChurnEvent[];
  membership: {
    /** Executed membership events of each kind. */
    executed: Record<MembershipKind, number>;
    /** Events run with another slot or kind than planned (see the event log), or skipped. */
    deviations: number;
  };
  restarts: Array<PlannedRestart & { startedAtMs: number; tookMs: number; exitCode: number | null; log: string }>;
  workload: {
    operations: number;
    durationMs: number;
    targetRatePerSecond: number;
    achievedRatePerSecond: number;
    usersCreated: number;
    usersDeleted: number;
    skipped: number;
    byKind: Record<string, number>;
  };
  /** Instances that exited without being told to, with the end of their log. */
  unexpectedExits: Array<{ slot: number; t: number; code: number | null; signal: string | null; lastLines: string[] }>;
  check: {
    usersCompared: number;
    instances: InstanceCheck[];
    /** Every instance answered every user as SQL says, before the bound. */
    converged: boolean;
    rounds: number;
    firstRoundMismatches: number;
    outputTopic: {
      converged: boolean;
      mismatches: number;
      kinds: Record<string, number>;
      examples: Mismatch[];
      error?: string;
    };
    /** Mismatched users (on any instance or in the topic) this run's workload did not create: older users. */
    mismatchedUsersFromEarlierRuns: number;
    /** When the instances did not converge: the group's state and the input partitions it had not caught up on. */
    group: GroupLag | { error: string } | null;
    /** The control (see ChurnOptions.control), or null when it did not run. */
    control: {
      applicationId: string;
      ready: boolean;
      readyMs: number;
      /** From ready until it equalled SQL; null if it did not within controlTimeoutMs. */
      convergenceMs: number | null;
      mismatches: number;
      kinds: Record<string, number>;
      examples: Mismatch[];
    } | null;
  };
  timings: {
    totalMs: number;
    initialReadyMs: number;
    workloadMs: number;
    /** From the end of the workload until every instance was ready (or the bound). */
    readyMs: number;
    /** From every instance ready until every instance equalled SQL; null if it never did. */
    convergenceMs: number | null;
    outputTopicMs: number;
  };
  logs: {
    dir: string;
    instances: string[];
    restarts: string[];
    /** warn and error lines of each slot's log, by message. */
    summary: Array<{ slot: number; warn: number; error: number; messages: LogMessage[] }>;
  };
  stackHealthyAtEnd: boolean;
  /** Zero mismatches on every instance and in the output topic. */
  ok: boolean;
}

export interface LogMessage {
  level: string;
  msg: string;
  count: number;
  example: string;
}

type SlotState = 'stopped' | 'starting' | 'running' | 'paused' | 'stopping';

interface Slot {
  index: number;
  /** `slot <index>`, or `control`. */
  name: string;
  stateDir: string;
  log: string;
  state: SlotState;
  child?: ChildProcess;
  url?: string;
  starts: number;
  /** Set before we signal it to end: its exit is expected. */
  ending?: 'leave' | 'kill' | 'cleanup';
  resumeTimer?: NodeJS.Timeout;
}

const root = new URL('../..', import.meta.url).pathname;
const stackScript = join(root, 'stack/stack.sh');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Runs `stack/stack.sh <args>` with its output appended to `log`; resolves with its exit code. */
export function stackCommand(args: string[], log: string): Promise<number | null> {
  appendFileSync(log, `---- ${new Date().toISOString()} stack.sh ${args.join(' ')}\n`);
  const fd = openSync(log, 'a');
  const child = spawn('bash', [stackScript, ...args], { stdio: ['ignore', fd, fd], env: process.env });
  closeSync(fd);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
}

/**
 * Makes sure the local stack is up and the Debezium connector runs (`stack.sh status`, and `up` if not),
 * e.g. after a run that restarted the broker or Connect, so the next test finds it healthy.
 */
export async function ensureStackHealthy(log: string): Promise<boolean> {
  const status = async () => {
    const before = existsSync(log) ? readFileSync(log, 'utf8').length : 0;
    const code = await stackCommand(['status'], log);
    return code === 0 && /^connector\s+RUNNING/m.test(readFileSync(log, 'utf8').slice(before));
  };
  if (await status()) return true;
  await stackCommand(['up'], log);
  return status();
}

/** A reaper process (reaper.ts) that kills the listed pids if this process ends without doing it. */
function startReaper(): { add(pid: number): void; remove(pid: number): void; end(): void } {
  const reaper = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/support/reaper.ts')], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
    cwd: root,
  });
  reaper.unref();
  reaper.stdin?.on('error', () => undefined);
  const write = (line: string) => {
    if (reaper.stdin?.writable) reaper.stdin.write(line + '\n');
  };
  return { add: (pid) => write(`+${pid}`), remove: (pid) => write(`-${pid}`), end: () => reaper.stdin?.end() };
}

/** The warn and error lines of an instance log, counted by message, with an example of each. */
function summarizeLog(path: string): { warn: number; error: number; messages: LogMessage[] } {
  const byMessage = new Map<string, LogMessage>();
  let warn = 0;
  let error = 0;
  if (!existsSync(path)) return { warn, error, messages: [] };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: { level?: unknown; msg?: unknown };
    try {
      entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
    } catch {
      continue;
    }
    if (entry.level !== 'warn' && entry.level !== 'error') continue;
    if (entry.level === 'warn') warn++;
    else error++;
    const key = `${String(entry.level)} ${String(entry.msg)}`;
    const seen = byMessage.get(key);
    if (seen) seen.count++;
    else byMessage.set(key, { level: entry.level, msg: String(entry.msg), count: 1, example: line.slice(0, 600) });
  }
  return { warn, error, messages: [...byMessage.values()].sort((a, b) => b.count - a.count) };
}

function lastLines(path: string, n: number): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .slice(-n)
    .map((l) => l.slice(0, 600));
}

/**
 * Waits until every slot `slotsNow()` names is serving and answers 200 on /health/ready; returns the slots
 * that are not when `timeoutMs` has passed (empty: all ready). `onTick` runs every second, first.
 */
async function waitAllReady(
  slotsNow: () => Slot[],
  timeoutMs: number,
  signal?: AbortSignal,
  onTick: () => void = () => undefined,
): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    onTick();
    const slots = slotsNow();
    const answers = await Promise.all(slots.map((s) => (s.url === undefined ? 0 : readiness(s.url))));
    const notReady = slots.filter((_, n) => answers[n] !== 200).map((s) => s.index);
    if (notReady.length === 0 || Date.now() > deadline || signal?.aborted) return notReady;
    await sleep(1000);
  }
}

/** Ends every instance: SIGCONT if paused, SIGTERM, and SIGKILL for what has not exited 10 s later. */
async function cleanUp(slots: Slot[], reaper: { end(): void }): Promise<void> {
  const children = slots.flatMap((slot) => {
    clearTimeout(slot.resumeTimer);
    const child = slot.child;
    if (child === undefined) return [];
    slot.ending = 'cleanup';
    if (slot.state === 'paused') child.kill('SIGCONT');
    child.kill('SIGTERM');
    return [child];
  });
  await Promise.race([Promise.all(children.map(exitOf)), sleep(10_000)]);
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  }
  await Promise.race([Promise.all(children.map(exitOf)), sleep(5_000)]);
  reaper.end();
}

type ResolvedOptions = Required<Omit<ChurnOptions, 'onLog' | 'signal'>>;

const DEFAULTS: Omit<ResolvedOptions, 'seed' | 'membershipEvents' | 'durationMs' | 'logDir'> = {
  minInstances: 3,
  maxInstances: 5,
  restartBroker: true,
  restartConnect: true,
  ratePerSecond: 120,
  statusIntervalMs: 10_000,
  readyTimeoutMs: 300_000,
  convergenceTimeoutMs: 180_000,
  leaveTimeoutMs: 30_000,
  control: 'on-mismatch',
  controlTimeoutMs: 300_000,
  instanceFlags: {},
};

/** Runs one churn scenario against the local stack; see the file comment. */
export async function runChurn(input: ChurnOptions): Promise<ChurnResult> {
  const { onLog = () => undefined, signal, ...given } = input;
  // An option given as undefined takes its default.
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<ChurnOptions>;
  const { seed, membershipEvents, durationMs, logDir } = input;
  const options: ResolvedOptions = { ...DEFAULTS, ...defined, seed, membershipEvents, durationMs, logDir };
  const plan = planChurn(options);
  const startedAt = Date.now();
  const applicationId = uniqueName('churn');
  const outputTopic = `${applicationId}-user-information`;
  mkdirSync(options.logDir, { recursive: true });
  const stateRoot = mkdtempSync(join(tmpdir(), 'uis-churn-'));

  const events: ChurnEvent[] = [];
  const seconds = (at: number) => Math.round((at - startedAt) / 100) / 10;
  const record = (kind: string, slot?: Slot, detail?: string): void => {
    const now = Date.now();
    const event: ChurnEvent = { t: seconds(now), time: new Date(now).toISOString(), kind };
    if (slot) event.slot = slot.index;
    if (slot?.child?.pid !== undefined) event.pid = slot.child.pid;
    if (detail !== undefined) event.detail = detail;
    events.push(event);
    const where = slot ? ` ${slot.name}${event.pid !== undefined ? ` (pid ${event.pid})` : ''}` : '';
    onLog(`[churn +${event.t.toFixed(1)}s] ${kind}${where}${detail ? `: ${detail}` : ''}`);
  };

  const executed: Record<MembershipKind, number> = { join: 0, leave: 0, kill: 0, pause: 0 };
  let deviations = 0;
  const unexpectedExits: ChurnResult['unexpectedExits'] = [];
  const restarts: ChurnResult['restarts'] = [];
  const slots: Slot[] = Array.from({ length: options.maxInstances }, (_, index) => ({
    index,
    name: `slot ${index}`,
    stateDir: join(stateRoot, `slot-${index}`),
    log: join(options.logDir, `slot-${index}.log`),
    state: 'stopped',
    starts: 0,
  }));
  const controlSlot: Slot = {
    index: options.maxInstances,
    name: 'control',
    stateDir: join(stateRoot, 'control'),
    log: join(options.logDir, 'control.log'),
    state: 'stopped',
    starts: 0,
  };
  const reaper = startReaper();
  const live = () => slots.filter((s) => s.state !== 'stopped');
  const running = () => slots.filter((s) => s.state === 'running');
  let workloadStartedAt = startedAt;
  let finishing = false;

  /** Follows a starting instance's log until its "serving" line gives its URL. */
  const watchServing = async (slot: Slot, child: ChildProcess, offset: number): Promise<void> => {
    const file = await open(slot.log, 'r');
    try {
      let position = offset;
      let pending = '';
      const buffer = Buffer.alloc(64 * 1024);
      while (slot.child === child && slot.url === undefined) {
        const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) {
          await sleep(200);
          continue;
        }
        position += bytesRead;
        const lines = (pending + buffer.subarray(0, bytesRead).toString('utf8')).split('\n');
        pending = lines.pop() ?? '';
        const url = lines.map(servingUrl).find((u) => u !== undefined);
        if (url !== undefined && slot.child === child) {
          slot.url = url;
          if (slot.state === 'starting') slot.state = 'running';
          record('serving', slot, url);
        }
      }
    } finally {
      await file.close();
    }
  };

  const onExit = (slot: Slot, child: ChildProcess, code: number | null, exitSignal: string | null): void => {
    if (child.pid !== undefined) reaper.remove(child.pid);
    if (slot.child !== child) return;
    clearTimeout(slot.resumeTimer);
    const detail = `code ${code}, signal ${exitSignal}`;
    if (slot.ending === undefined) {
      record('exited', slot, `unexpectedly (${detail}); see ${slot.log}`);
      const end = lastLines(slot.log, 8);
      unexpectedExits.push({ slot: slot.index, t: seconds(Date.now()), code, signal: exitSignal, lastLines: end });
    } else if (slot.ending === 'leave') record('left', slot, detail);
    Object.assign(slot, { state: 'stopped', child: undefined, url: undefined, ending: undefined });
  };

  /** Starts the slot's instance: `kind` is join for a membership event, start otherwise. */
  const start = (slot: Slot, kind: 'join' | 'start', why: string, app = applicationId): void => {
    slot.starts++;
    const header = `---- ${new Date().toISOString()} start ${slot.starts} of ${slot.name} (${app})\n`;
    appendFileSync(slot.log, header);
    const offset = readFileSync(slot.log).length;
    const fd = openSync(slot.log, 'a');
    const child = spawnInstance(app, 0, slot.stateDir, {
      logFd: fd,
      logLevel: 'info',
      flags: { ...options.instanceFlags, 'output-topic': `${app}-user-information` },
    });
    closeSync(fd);
    if (child.pid !== undefined) reaper.add(child.pid);
    Object.assign(slot, { child, state: 'starting', url: undefined, ending: undefined });
    child.once('exit', (code, exitSignal) => onExit(slot, child, code, exitSignal));
    record(kind, slot, `${why}, start ${slot.starts} of this slot${app === applicationId ? '' : ` (${app})`}`);
    void watchServing(slot, child, offset).catch((error: unknown) => record('log-watch-failed', slot, String(error)));
  };

  const leave = (slot: Slot, why: string): void => {
    const child = slot.child!;
    Object.assign(slot, { state: 'stopping', ending: 'leave' });
    record('leave', slot, `SIGTERM, ${why}`);
    child.kill('SIGTERM');
    const sentAt = Date.now();
    void Promise.race([exitOf(child), sleep(options.leaveTimeoutMs)]).then(() => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      record('leave-timeout', slot, `no exit ${Math.round((Date.now() - sentAt) / 1000)} s after SIGTERM: SIGKILL`);
      child.kill('SIGKILL');
    });
  };

  const kill = (slot: Slot, why: string): void => {
    Object.assign(slot, { state: 'stopping', ending: 'kill' });
    record('kill', slot, `SIGKILL, ${why}`);
    slot.child!.kill('SIGKILL');
  };

  const resume = (slot: Slot, pausedAt: number): void => {
    if (slot.state !== 'paused') return;
    clearTimeout(slot.resumeTimer);
    slot.child!.kill('SIGCONT');
    slot.state = slot.url === undefined ? 'starting' : 'running';
    record('resume', slot, `SIGCONT after ${((Date.now() - pausedAt) / 1000).toFixed(1)} s`);
  };

  const pause = (slot: Slot, ms: number, why: string): void => {
    slot.child!.kill('SIGSTOP');
    slot.state = 'paused';
    const pausedAt = Date.now();
    record('pause', slot, `SIGSTOP for ${(ms / 1000).toFixed(1)} s, ${why}`);
    slot.resumeTimer = setTimeout(() => resume(slot, pausedAt), ms);
  };

  /**
   * Slots an event of this kind may act on. A starting instance (not serving yet) may be killed or frozen too;
   * a leave is for a member that serves (the CLI handles SIGTERM only once it serves: before, it just dies).
   */
  const targets = (kind: MembershipKind): Slot[] =>
    slots.filter((s) =>
      kind === 'join' ? s.state === 'stopped' : s.state === 'running' || (s.state === 'starting' && kind !== 'leave'),
    );
  /**
   * Runs a planned event on the real instances. Its kind must be possible: a free slot for a join; for the
   * others, another instance that serves and is not paused, which stays. The plan cannot know that a joining
   * instance takes seconds to serve, so an event may have to wait, until the next event is due (10 s at most,
   * so the schedule does not drift); then another kind that is possible runs instead, or none.
   */
  const execute = async (event: PlannedEvent, number: number, nextAt: number): Promise<void> => {
    const possible = (kind: MembershipKind) =>
      kind === 'join'
        ? live().length < options.maxInstances
        : running().length >= 2 || (running().length === 1 && targets(kind).length >= 2);
    const waitUntil = Math.min(Date.now() + 10_000, nextAt);
    while (!possible(event.kind) && Date.now() < waitUntil && !finishing) await sleep(200);
    let kind = event.kind;
    if (!possible(kind)) {
      deviations++;
      const state = `${running().length} running, ${live().length} processes`;
      const instead = MEMBERSHIP_KINDS.find(possible);
      record('deviation', undefined, `event ${number}: ${kind} impossible (${state}): ${instead ?? 'skipped'}`);
      if (instead === undefined) return;
      kind = instead;
    }
    // The last instance that serves is never the target.
    const candidates = targets(kind).filter((s) => kind === 'join' || running().length >= 2 || s.state !== 'running');
    let slot = slots[event.slot]!;
    if (!candidates.includes(slot)) {
      const instead = candidates[event.slot % candidates.length]!;
      deviations++;
      record('deviation', undefined, `event ${number}: slot ${slot.index} is ${slot.state}: slot ${instead.index}`);
      slot = instead;
    }
    executed[kind]++;
    const why = `event ${number}/${plan.events.length}, planned at +${(event.atMs / 1000).toFixed(1)}s of the workload`;
    if (kind === 'join') start(slot, 'join', why);
    else if (kind === 'leave') leave(slot, why);
    else if (kind === 'kill') kill(slot, why);
    else pause(slot, event.pauseMs ?? PAUSE_MIN_MS + ((number * 7919) % (PAUSE_MAX_MS - PAUSE_MIN_MS)), why);
  };

  const sleepUntil = async (at: number): Promise<void> => {
    while (Date.now() < at && !finishing) await sleep(Math.min(250, at - Date.now()));
  };

  const restart = async (planned: PlannedRestart): Promise<void> => {
    await sleepUntil(workloadStartedAt + planned.atMs);
    if (finishing) return;
    const log = join(options.logDir, `stack-restart-${planned.service}.log`);
    const began = Date.now();
    record('restart', undefined, `${planned.service} (${planned.kill ? 'SIGKILL' : 'SIGTERM'})`);
    const exitCode = await stackCommand(['restart', planned.service, ...(planned.kill ? ['--kill'] : [])], log);
    const tookMs = Date.now() - began;
    restarts.push({ ...planned, startedAtMs: began - workloadStartedAt, tookMs, exitCode, log });
    const took = `${planned.service} in ${(tookMs / 1000).toFixed(1)} s`;
    if (exitCode === 0) record('restarted', undefined, took);
    else record('restart-failed', undefined, `${took} (exit ${exitCode}; see ${log})`);
  };

  let operations = 0;
  let statusTimer: NodeJS.Timeout | undefined;
  let workloadTimer: NodeJS.Timeout | undefined;
  const restartTasks: Array<Promise<void>> = [];
  const db = new pg.Client(stack.postgres);
  let result: ChurnResult | undefined;
  let stackHealthy = false;
  try {
    await db.connect();
    // ---- the initial instances
    for (const slot of slots.slice(0, options.minInstances)) start(slot, 'start', 'initial instance');
    const notReadyAtStart = await waitAllReady(live, options.readyTimeoutMs, signal);
    if (notReadyAtStart.length > 0) {
      throw new Error(
        `slots ${notReadyAtStart.join(', ')} not ready in ${options.readyTimeoutMs} ms; see ${options.logDir}`,
      );
    }
    const initialReadyMs = Date.now() - startedAt;

    // ---- the workload, the membership events and the restarts, together
    workloadStartedAt = Date.now();
    record('workload', undefined, `starts: ${options.ratePerSecond} operations/s for ${options.durationMs / 1000} s`);
    let lastStatus = { at: Date.now(), operations: 0 };
    statusTimer = setInterval(() => {
      const now = Date.now();
      const rate = ((operations - lastStatus.operations) * 1000) / (now - lastStatus.at);
      lastStatus = { at: now, operations };
      const states = slots.map((s) => `${s.index}:${s.state}`).join(' ');
      const done = Object.values(executed).reduce((a, b) => a + b, 0);
      onLog(
        `[churn +${seconds(now).toFixed(0)}s] status: ${operations} operations (${rate.toFixed(0)}/s) | ${states} | ` +
          `membership events ${done}/${plan.events.length} | restarts ${restarts.length}/${plan.restarts.length}`,
      );
    }, options.statusIntervalMs);
    // Its own controller and timer: a signal of AbortSignal.timeout() inside AbortSignal.any() may be
    // garbage-collected before it fires (Node 20), and the workload then never stops.
    const stopWorkload = new AbortController();
    workloadTimer = setTimeout(() => stopWorkload.abort(), options.durationMs);
    signal?.addEventListener('abort', () => stopWorkload.abort(), { once: true });
    const workload = runWorkload(db, {
      seed: options.seed,
      operations: Math.min(50_000_000, Math.ceil((options.ratePerSecond * options.durationMs) / 1000) * 2),
      idBase: freshIdBase(),
      ratePerSecond: options.ratePerSecond,
      signal: stopWorkload.signal,
      onProgress: (done) => {
        operations = done;
      },
    });
    const membership = (async () => {
      for (const [n, event] of plan.events.entries()) {
        await sleepUntil(workloadStartedAt + event.atMs);
        if (finishing) return;
        await execute(event, n + 1, workloadStartedAt + (plan.events[n + 1]?.atMs ?? options.durationMs));
      }
    })();
    for (const planned of plan.restarts) restartTasks.push(restart(planned));
    const written = await workload.finally(() => {
      finishing = true;
    });
    const workloadMs = Date.now() - workloadStartedAt;
    clearInterval(statusTimer);
    record('workload', undefined, `ended: ${operations} operations in ${(workloadMs / 1000).toFixed(1)} s`);
    await membership;
    if (signal?.aborted) throw new Error('churn aborted');
    if (restarts.length < restartTasks.length) record('waiting', undefined, 'for the stack restarts to finish');
    await Promise.all(restartTasks);

    // ---- afterwards: nothing paused, at least minInstances instances, all ready
    const checkStartedAt = Date.now();
    for (const slot of slots) if (slot.state === 'paused') resume(slot, Date.now());
    await Promise.all(slots.flatMap((s) => (s.state === 'stopping' && s.child ? [exitOf(s.child)] : [])));
    const topUp = () => {
      // An instance that exits now is started again, so that minInstances answer.
      for (const slot of slots) {
        if (slot.state === 'stopped' && live().length < options.minInstances) start(slot, 'start', 'for the check');
      }
    };
    const notReady = await waitAllReady(live, options.readyTimeoutMs, signal, topUp);
    const readyMs = Date.now() - checkStartedAt;
    const readyNote = notReady.length ? `not ready: slots ${notReady.join(', ')}` : `all ${live().length} instances`;
    record('ready', undefined, `${readyNote} after ${(readyMs / 1000).toFixed(1)} s`);

    // ---- every user, on every instance, equal to SQL: those in PostgreSQL, and every id the CDC topic ever
    // named (deleted users of this run and of earlier ones: 404), and ids of rolled-back inserts (404).
    const inDatabase = await db.query<{ id: string }>('SELECT user_id::text AS id FROM users');
    const rolledBack = written.log.flatMap((op) => (op.kind === 'rollback' ? [op.rolledBackUserId] : []));
    const named = await userIdsInCdc();
    const userIds = [
      ...new Set([...inDatabase.rows.map((r) => r.id), ...named, ...written.deletedUserIds, ...rolledBack]),
    ];
    const checked = live();
    const urls = checked.map((s) => s.url ?? `http://127.0.0.1:1/slot-${s.index}-never-served`);
    let mismatches: Mismatch[] = [];
    let rounds = 0;
    let firstRoundMismatches = 0;
    let convergenceMs: number | null = null;
    const convergeFrom = Date.now();
    for (;;) {
      mismatches = await compareWithOracle(urls, userIds);
      if (rounds++ === 0) firstRoundMismatches = mismatches.length;
      const elapsed = ((Date.now() - convergeFrom) / 1000).toFixed(0);
      onLog(
        `[churn +${seconds(Date.now()).toFixed(0)}s] comparison ${rounds}: ${mismatches.length} mismatches (${elapsed} s)`,
      );
      if (mismatches.length === 0) {
        convergenceMs = Date.now() - convergeFrom;
        break;
      }
      if (Date.now() - convergeFrom > options.convergenceTimeoutMs || signal?.aborted) break;
      await sleep(2000);
    }
    const scope = `${userIds.length} users x ${urls.length} instances`;
    record(
      'compared',
      undefined,
      convergenceMs === null
        ? `instances: ${mismatches.length} mismatches left after ${rounds} rounds (${scope})`
        : `instances: all equal SQL after ${(convergenceMs / 1000).toFixed(1)} s, ${rounds} rounds (${scope})`,
    );
    const group =
      convergenceMs === null
        ? await groupLag(applicationId).catch((error: unknown) => ({ error: String(error) }))
        : null;
    const instances: InstanceCheck[] = checked.map((slot, n) => {
      const own = mismatches.filter((m) => m.url === urls[n]);
      const ready = !notReady.includes(slot.index);
      const kinds = mismatchKinds(own);
      return { slot: slot.index, url: urls[n]!, ready, mismatches: own.length, kinds, examples: own.slice(0, 5) };
    });

    // ---- the output topic, read from the start
    const topicFrom = Date.now();
    let topicMismatches: Mismatch[] = [];
    let topicError: string | undefined;
    for (;;) {
      try {
        topicMismatches = await compareTopicWithOracle(outputTopic, userIds, 120_000);
        topicError = undefined;
      } catch (error) {
        topicError = String(error);
      }
      // Retried (30 s) only when the instances equal SQL: otherwise the topic has no reason to.
      const done = topicMismatches.length === 0 && topicError === undefined;
      if (done || convergenceMs === null || Date.now() - topicFrom > 30_000) break;
      await sleep(5000);
    }
    const outputTopicMs = Date.now() - topicFrom;
    const topicNote = topicError ?? `${topicMismatches.length} mismatches over ${userIds.length} users`;
    record('compared', undefined, `output topic: ${topicNote} (${(outputTopicMs / 1000).toFixed(1)} s)`);
    const topicOk = topicMismatches.length === 0 && topicError === undefined;
    const createdHere = new Set([...written.userIds, ...rolledBack]);

    // ---- the control: a fresh application without churn over the same CDC topics
    let control: ChurnResult['check']['control'] = null;
    if (options.control === 'always' || (options.control === 'on-mismatch' && !(convergenceMs !== null && topicOk))) {
      const app = `${applicationId}-control`;
      const began = Date.now();
      start(controlSlot, 'start', 'a fresh application over the same CDC topics, without churn', app);
      const notReadyControl = await waitAllReady(() => [controlSlot], options.readyTimeoutMs, signal);
      const controlReadyMs = Date.now() - began;
      let controlMismatches: Mismatch[] = [];
      let controlConvergenceMs: number | null = null;
      const from = Date.now();
      for (let round = 1; ; round++) {
        controlMismatches = await compareWithOracle([controlSlot.url ?? 'http://127.0.0.1:1/control'], userIds);
        const elapsed = Date.now() - from;
        const at = `[churn +${seconds(Date.now()).toFixed(0)}s]`;
        onLog(
          `${at} control, comparison ${round}: ${controlMismatches.length} mismatches (${(elapsed / 1000).toFixed(0)} s)`,
        );
        if (controlMismatches.length === 0) controlConvergenceMs = elapsed;
        if (controlMismatches.length === 0 || elapsed > options.controlTimeoutMs || signal?.aborted) break;
        await sleep(5000);
      }
      const after = controlConvergenceMs === null ? 'left' : `after ${(controlConvergenceMs / 1000).toFixed(1)} s`;
      record('control', controlSlot, `${controlMismatches.length} mismatches ${after} over ${userIds.length} users`);
      control = {
        applicationId: app,
        ready: notReadyControl.length === 0,
        readyMs: controlReadyMs,
        convergenceMs: controlConvergenceMs,
        mismatches: controlMismatches.length,
        kinds: mismatchKinds(controlMismatches),
        examples: controlMismatches.slice(0, 5),
      };
    }

    const byKind = written.operationsByKind;
    const totalOps = Object.values(byKind).reduce((a, b) => a + b, 0);
    result = {
      seed: options.seed,
      applicationId,
      outputTopic,
      options,
      plan,
      events,
      membership: { executed, deviations },
      restarts,
      workload: {
        operations: totalOps,
        durationMs: workloadMs,
        targetRatePerSecond: options.ratePerSecond,
        achievedRatePerSecond: Math.round((totalOps * 10_000) / workloadMs) / 10,
        usersCreated: written.userIds.length,
        usersDeleted: written.deletedUserIds.length,
        skipped: written.skipped,
        byKind,
      },
      unexpectedExits,
      check: {
        usersCompared: userIds.length,
        instances,
        converged: convergenceMs !== null,
        rounds,
        firstRoundMismatches,
        outputTopic: {
          converged: topicOk,
          mismatches: topicMismatches.length,
          kinds: mismatchKinds(topicMismatches),
          examples: topicMismatches.slice(0, 5),
          ...(topicError === undefined ? {} : { error: topicError }),
        },
        control,
        group,
        mismatchedUsersFromEarlierRuns: new Set(
          [...mismatches, ...topicMismatches].map((m) => m.userId).filter((id) => !createdHere.has(id)),
        ).size,
      },
      timings: { totalMs: 0, initialReadyMs, workloadMs, readyMs, convergenceMs, outputTopicMs },
      logs: {
        dir: options.logDir,
        instances: [...slots, controlSlot].filter((s) => s.starts > 0).map((s) => s.log),
        restarts: restarts.map((r) => r.log),
        summary: [],
      },
      stackHealthyAtEnd: false,
      ok: convergenceMs !== null && topicOk,
    };
  } finally {
    finishing = true;
    clearInterval(statusTimer);
    clearTimeout(workloadTimer);
    await cleanUp([...slots, controlSlot], reaper);
    await Promise.all(restartTasks);
    await db.end().catch(() => undefined);
    // A failed run keeps the instances' stores, to read them offline.
    if (result?.ok) rmSync(stateRoot, { recursive: true, force: true });
    else onLog(`[churn] the instances' state directories are kept in ${stateRoot}`);
    stackHealthy = await ensureStackHealthy(join(options.logDir, 'stack.log'));
    if (!stackHealthy) onLog(`[churn] the stack is not healthy after the run; see ${options.logDir}/stack.log`);
  }
  result.stackHealthyAtEnd = stackHealthy;
  result.timings.totalMs = Date.now() - startedAt;
  result.logs.summary = [...slots, controlSlot]
    .filter((s) => s.starts > 0)
    .map((s) => ({ slot: s.index, ...summarizeLog(s.log) }));
  record('done', undefined, result.ok ? 'zero mismatches' : 'MISMATCHES (see the result)');
  return result;
}
