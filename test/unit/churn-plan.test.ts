// The churn test's plan (test/support/churn.ts planChurn): the same seed gives the same events, and every
// plan keeps the rules the churn relies on, replayed here independently of the planner.
import t from 'tap';
import { MEMBERSHIP_KINDS, PAUSE_MAX_MS, PAUSE_MIN_MS, planChurn, type PlanOptions } from '../support/churn.js';

const ci: Omit<PlanOptions, 'seed'> = {
  membershipEvents: 20,
  minInstances: 3,
  maxInstances: 5,
  durationMs: 120_000,
  restartBroker: true,
  restartConnect: true,
};
const soak: Omit<PlanOptions, 'seed'> = { ...ci, membershipEvents: 105, durationMs: 30 * 60_000 };

/** Replays a plan; returns the first broken rule, or undefined. */
function broken(options: PlanOptions): string | undefined {
  const plan = planChurn(options);
  if (plan.events.length !== options.membershipEvents) return `${plan.events.length} events`;
  const live = new Set(Array.from({ length: options.minInstances }, (_, i) => i));
  const pausedUntil = new Map<number, number>();
  let previous = 0;
  for (const [n, event] of plan.events.entries()) {
    const at = `event ${n} (${event.kind} of slot ${event.slot} at ${event.atMs})`;
    if (event.atMs < previous || event.atMs > options.durationMs) return `${at}: out of order or after the workload`;
    previous = event.atMs;
    const active = [...live].filter((slot) => (pausedUntil.get(slot) ?? 0) <= event.atMs);
    if (event.kind === 'join') {
      if (live.has(event.slot) || event.slot < 0 || event.slot >= options.maxInstances) return `${at}: slot taken`;
      live.add(event.slot);
      pausedUntil.delete(event.slot);
      continue;
    }
    if (!active.includes(event.slot)) return `${at}: the slot is not running`;
    if (active.length < 2) return `${at}: it is the last running instance`;
    if (event.kind === 'pause') {
      const ms = event.pauseMs ?? 0;
      if (ms < PAUSE_MIN_MS || ms > PAUSE_MAX_MS) return `${at}: pause of ${ms} ms`;
      pausedUntil.set(event.slot, event.atMs + ms);
    } else {
      live.delete(event.slot);
    }
  }
  const kinds = new Set(plan.events.map((e) => e.kind));
  if (options.membershipEvents >= 4 && kinds.size !== MEMBERSHIP_KINDS.length) return `only ${[...kinds].join(', ')}`;
  const services = plan.restarts.map((r) => r.service).join(',');
  if (services !== 'kafka,connect') return `restarts: ${services}`;
  const [broker, connect] = plan.restarts;
  if (!(broker!.atMs > 0 && broker!.atMs < connect!.atMs && connect!.atMs < options.durationMs)) return 'restart times';
  return undefined;
}

t.test('the same seed gives the same plan, another seed another', async (t) => {
  t.same(planChurn({ seed: 7, ...ci }), planChurn({ seed: 7, ...ci }));
  t.notSame(planChurn({ seed: 7, ...ci }).events, planChurn({ seed: 8, ...ci }).events);
});

t.test('every plan keeps the rules (CI size and soak size, 300 seeds each)', async (t) => {
  for (const [name, options] of [
    ['ci', ci],
    ['soak', soak],
  ] as const) {
    const failures: string[] = [];
    for (let seed = 1; seed <= 300; seed++) {
      const problem = broken({ seed, ...options });
      if (problem !== undefined) failures.push(`seed ${seed}: ${problem}`);
    }
    t.same(failures.slice(0, 5), [], `${name}: no broken rule`);
  }
});

t.test('at most the maximum, at least one running: a tight plan (max 3) still works', async (t) => {
  for (let seed = 1; seed <= 200; seed++) {
    const problem = broken({ seed, ...ci, maxInstances: 3, membershipEvents: 40 });
    if (problem !== undefined) t.fail(`seed ${seed}: ${problem}`);
  }
  t.pass('200 seeds');
});

t.test('turning the restarts off changes nothing else', async (t) => {
  const both = planChurn({ seed: 3, ...ci });
  const none = planChurn({ seed: 3, ...ci, restartBroker: false, restartConnect: false });
  t.same(none.events, both.events);
  t.same(none.restarts, []);
});

t.test('impossible options are refused', async (t) => {
  t.throws(() => planChurn({ seed: 1, ...ci, minInstances: 6 }), RangeError);
  t.throws(() => planChurn({ seed: 1, ...ci, durationMs: 0 }), RangeError);
});
