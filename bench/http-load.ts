/**
 * Open-loop HTTP load: requests leave on a fixed schedule (rate per second),
 * whatever the answers do, and each latency counts from the request's
 * scheduled time, so a stall shows up in the numbers instead of slowing the
 * load. A warm-up is excluded. Run it on another core than the server:
 *
 *   taskset -c 1 node --import tsx bench/http-load.ts --url http://127.0.0.1:3000 --rate 1000 --seconds 20
 */
import { Agent, request } from 'node:http';
import pg from 'pg';
import { stack } from '../test/support/stack.js';
import { summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a, i, all) => [a, all[i + 1] ?? '']));
const target = new URL(args.get('--url') || 'http://127.0.0.1:3000');
const rate = Number(args.get('--rate') || 1000);
const seconds = Number(args.get('--seconds') || 20);
const warmupSeconds = Number(args.get('--warmup') || 3);
/** A target far past its capacity would keep the run going for minutes: answers not in by then are given up. */
const graceSeconds = Number(args.get('--grace') || 30);

const db = new pg.Client(stack.postgres);
await db.connect();
const ids = (await db.query<{ id: string }>('SELECT user_id::text AS id FROM users LIMIT 20000')).rows.map((r) => r.id);
await db.end();
if (ids.length === 0) throw new Error('no users: load data first (npm run demo loads demo data)');

const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const latencies: number[] = [];
/** Our service says who answered (x-uis-served-by): local answers and forwarded ones are reported apart. */
const byServer = { local: [] as number[], forwarded: [] as number[] };
const self = `${target.hostname}:${target.port}`;
const statuses = new Map<number, number>();
const start = performance.now() + 100;
const total = Math.round(rate * (seconds + warmupSeconds));
let done = 0;
let unanswered = 0;

await new Promise<void>((resolve) => {
  const send = (n: number) => {
    const scheduled = start + (n * 1000) / rate;
    const id = ids[n % ids.length]!;
    const req = request({ host: target.hostname, port: target.port, path: `/users/${id}`, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        const latency = performance.now() - scheduled;
        if (scheduled - start >= warmupSeconds * 1000) {
          latencies.push(latency);
          const servedBy = res.headers['x-uis-served-by'];
          if (typeof servedBy === 'string') (servedBy === self ? byServer.local : byServer.forwarded).push(latency);
        }
        statuses.set(res.statusCode ?? 0, (statuses.get(res.statusCode ?? 0) ?? 0) + 1);
        if (++done === total) resolve();
      });
    });
    req.on('error', () => {
      statuses.set(0, (statuses.get(0) ?? 0) + 1);
      if (++done === total) resolve();
    });
    req.end();
  };
  const deadline = setTimeout(
    () => {
      unanswered = total - done;
      resolve();
    },
    (warmupSeconds + seconds + graceSeconds) * 1000,
  );
  deadline.unref();
  let next = 0;
  const tick = () => {
    const now = performance.now();
    while (next < total && start + (next * 1000) / rate <= now) send(next++);
    if (next < total) setImmediate(tick);
  };
  setTimeout(tick, 100);
  const progress = setInterval(() => process.stderr.write(`  sent ${next}/${total}\n`), 5000);
  progress.unref();
});
agent.destroy();
if (unanswered) process.stderr.write(`  ${unanswered} requests unanswered after the ${graceSeconds} s grace period\n`);
const result = JSON.stringify({
  benchmark: 'http-latency-ms',
  url: target.origin,
  rate,
  seconds,
  statuses: Object.fromEntries(statuses),
  // Requests still unanswered when the grace period ran out count with the time they had waited then,
  // so the percentiles are lower bounds when this is not 0.
  ...(unanswered ? { unanswered } : {}),
  ...summarize(
    unanswered
      ? [...latencies, ...Array<number>(unanswered).fill(performance.now() - start - warmupSeconds * 1000)]
      : latencies,
  ),
  ...(byServer.local.length ? { local: summarize(byServer.local) } : {}),
  ...(byServer.forwarded.length ? { forwarded: summarize(byServer.forwarded) } : {}),
});
// Exit at once: requests still queued in the agent would otherwise go on being sent for minutes.
process.stdout.write(`${result}\n`, () => process.exit(0));
