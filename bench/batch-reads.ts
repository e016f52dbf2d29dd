/**
 * Batch reads against single GETs: ids per second through POST /users:batchGet at --batch ids per
 * request, against the same ids fetched with one GET /users/:id each, closed loop with --concurrency
 * requests in flight, alternating the two for --rounds rounds of --seconds each (medians reported, and
 * their ratio). Ids are every user's, in random order. Progress on stderr; the result is one JSON line.
 *
 *   node --import tsx bench/batch-reads.ts [--url http://127.0.0.1:3000] [--batch 100] [--concurrency 8]
 *        [--seconds 10] [--rounds 3]
 */
import { Agent, request } from 'node:http';
import { log } from './processes.js';
import { median } from './stats.js';
import { userIdsInRandomOrder } from './vegeta.js';

const args = new Map(process.argv.slice(2).map((a, i, all) => [a, all[i + 1] ?? '']));
const url = new URL(args.get('--url') || 'http://127.0.0.1:3000');
const batch = Number(args.get('--batch') || 100);
const concurrency = Number(args.get('--concurrency') || 8);
const seconds = Number(args.get('--seconds') || 10);
const rounds = Number(args.get('--rounds') || 3);

const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

/** One request; resolves with its status once the whole answer is read. */
function send(method: 'GET' | 'POST', path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = body
      ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
      : {};
    const req = request({ host: url.hostname, port: url.port, method, path, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Ids fetched per second over `seconds`, `concurrency` workers each taking the next ids in turn. */
async function measure(mode: 'batch' | 'single', ids: readonly string[]): Promise<number> {
  let next = 0;
  let fetched = 0;
  let failed = 0;
  const take = (n: number) => Array.from({ length: n }, () => ids[next++ % ids.length]!);
  const end = Date.now() + seconds * 1000;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        if (mode === 'batch') {
          const asked = take(batch);
          const status = await send('POST', '/users:batchGet', JSON.stringify({ ids: asked }));
          if (status === 200) fetched += asked.length;
          else failed++;
        } else {
          const status = await send('GET', `/users/${take(1)[0]}`);
          if (status === 200 || status === 404) fetched++;
          else failed++;
        }
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  if (failed > 0) log(`  ${mode}: ${failed} requests failed`);
  return fetched / elapsed;
}

const ids = await userIdsInRandomOrder();
log(
  `batch reads at ${url.origin}: ${ids.length} users, batch ${batch}, ${concurrency} in flight, ${rounds} x ${seconds} s`,
);
const batched: number[] = [];
const single: number[] = [];
for (let round = 1; round <= rounds; round++) {
  batched.push(await measure('batch', ids));
  single.push(await measure('single', ids));
  log(`  round ${round}: batch ${Math.round(batched.at(-1)!)} ids/s, single GETs ${Math.round(single.at(-1)!)} ids/s`);
}
agent.destroy();
const result = {
  url: url.origin,
  batch,
  concurrency,
  seconds,
  rounds,
  batchIdsPerSecond: Math.round(median(batched)),
  singleIdsPerSecond: Math.round(median(single)),
  ratio: Math.round((median(batched) / median(single)) * 100) / 100,
  rawBatch: batched.map(Math.round),
  rawSingle: single.map(Math.round),
};
process.stdout.write(JSON.stringify(result) + '\n');
