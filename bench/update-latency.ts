/**
 * Update latency under a steady change rate: rows change in PostgreSQL on a
 * fixed schedule (--rate updates per second for --seconds), each a random
 * user's description, and each is timed from its commit until GET
 * /users/:id serves the new description (polled every --poll-ms, default 2).
 * Updates are not held back by slow answers: several are in flight at once.
 *
 * For a cache (the cache-aside baseline), --warm-within-s S first reads the
 * user, so it is cached, and updates it a uniformly random 0..S seconds later:
 * a change then lands at a random point of the cached copy's life, and the
 * figure is the cache's staleness.
 *
 * At high rates, --measure-every N times only every Nth update (the others change rows all the
 * same), so the polling does not become a load of its own.
 *
 *   node --import tsx bench/update-latency.ts [--url http://127.0.0.1:3000] [--rate 20] [--seconds 20]
 *        [--poll-ms 2] [--give-up-s 30] [--warm-within-s 0] [--measure-every 1]
 */
import pg from 'pg';
import { stack } from '../test/support/stack.js';
import { summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a, i, all) => [a, all[i + 1] ?? '']));
const url = args.get('--url') || 'http://127.0.0.1:3000';
const rate = Number(args.get('--rate') || 20);
const seconds = Number(args.get('--seconds') || 20);
const total = Math.max(1, Math.round(rate * seconds));
const pollMs = Number(args.get('--poll-ms') || 2);
const giveUpMs = Number(args.get('--give-up-s') || 30) * 1000;
const warmWithinMs = Number(args.get('--warm-within-s') || 0) * 1000;
const measureEvery = Math.max(1, Number(args.get('--measure-every') || 1));

const pool = new pg.Pool({ ...stack.postgres, max: 8 });
const { rows } = await pool.query<{ id: string }>('SELECT user_id::text AS id FROM users ORDER BY random() LIMIT $1', [
  total,
]);
if (rows.length === 0) throw new Error('no users: load data first');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const latencies: number[] = [];
/** How late updates were committed against their schedule: the database keeping up with the rate. */
const commitLag: number[] = [];

async function update(n: number, scheduled: number): Promise<void> {
  const id = rows[n % rows.length]!.id;
  let due = scheduled;
  if (warmWithinMs > 0) {
    await fetch(`${url}/users/${id}`).then((r) => r.arrayBuffer());
    await sleep(Math.random() * warmWithinMs);
    due = performance.now();
  }
  const marker = `bench ${Date.now()} ${n}`;
  await pool.query('UPDATE users SET description = $2 WHERE user_id = $1', [id, marker]);
  const committed = performance.now();
  commitLag.push(committed - due);
  if (n % measureEvery !== 0) return;
  for (;;) {
    const response = await fetch(`${url}/users/${id}`);
    if (response.ok && ((await response.json()) as { description: string }).description === marker) break;
    if (performance.now() - committed > giveUpMs) {
      throw new Error(`update of user ${id} not visible after ${giveUpMs / 1000} s`);
    }
    await sleep(pollMs);
  }
  latencies.push(performance.now() - committed);
  if (latencies.length % 100 === 0)
    process.stderr.write(`  ${latencies.length}/${Math.ceil(total / measureEvery)} timed updates visible\n`);
}

const start = performance.now();
const pending: Promise<void>[] = [];
const failures: Error[] = [];
for (let n = 0; n < total; n++) {
  const scheduled = start + (n * 1000) / rate;
  const wait = scheduled - performance.now();
  if (wait > 0) await sleep(wait);
  pending.push(update(n, scheduled).catch((error: Error) => void failures.push(error)));
}
await Promise.all(pending);
await pool.end();
if (failures.length > 0) throw new Error(`${failures.length} of ${total} updates failed: ${failures[0]!.message}`);
console.log(
  JSON.stringify({
    benchmark: 'update-latency-ms',
    url,
    rate,
    seconds,
    pollMs,
    measureEvery,
    ...(warmWithinMs > 0 ? { warmWithinS: warmWithinMs / 1000 } : {}),
    ...summarize(latencies),
    commitLagMs: summarize(commitLag),
  }),
);
