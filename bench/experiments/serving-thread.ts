/**
 * Does moving the engine's work off the serving thread pay, on one core? A fastify server answering a
 * fixed document (as the floor does) while a stand-in for the engine burns a share of the core in
 * synchronous chunks of random length (what kafkajs request handling, processing and commits look like
 * to the event loop): once with that work on the serving thread itself, once in a worker thread (where
 * the kernel preempts it when a request arrives; also with the worker's thread at nice 19), once with
 * none. Process pinned to one core, vegeta
 * open loop from another. docs/decisions/0007-serving-thread.md has the figures.
 *
 *   node --import tsx bench/experiments/serving-thread.ts [--rate 1000] [--seconds 20] [--busy 0.3] [--max-chunk-ms 20]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

interface Work {
  busy: number;
  maxChunkMs: number;
}

/** Every 100 ms, `busy` of it in synchronous chunks of 1..maxChunkMs ms, spread over the period. */
function burn({ busy, maxChunkMs }: Work, schedule: (fn: () => void, ms: number) => void): void {
  const period = 100;
  const tick = () => {
    let left = busy * period;
    const chunks: number[] = [];
    while (left > 0) {
      const chunk = Math.min(left, 1 + Math.random() * (maxChunkMs - 1));
      chunks.push(chunk);
      left -= chunk;
    }
    const gap = (period - busy * period) / chunks.length;
    let at = 0;
    for (const chunk of chunks) {
      schedule(() => {
        const until = performance.now() + chunk;
        while (performance.now() < until);
      }, at);
      at += gap + chunk;
    }
    schedule(tick, period);
  };
  tick();
}

if (process.argv[2] === 'serve') {
  const mode = process.argv[3] as 'none' | 'same-thread' | 'worker' | 'worker-nice';
  const work: Work = { busy: Number(process.argv[4]), maxChunkMs: Number(process.argv[5]) };
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false });
  const document = { userId: '1000000000042', username: 'user_42', tweetCount: 17, followerCount: 1033 };
  app.get('/users/:userId', async () => document);
  await app.listen({ host: '127.0.0.1', port: 0 });
  if (mode === 'same-thread') burn(work, (fn, ms) => setTimeout(fn, ms));
  // The worker runs the same function as plain JavaScript (workers do not load TypeScript here).
  // The worker runs the same function as plain JavaScript (workers do not load TypeScript here). With
  // worker-nice it lowers its own thread's priority (Linux: nice applies per thread, by thread id).
  if (mode === 'worker' || mode === 'worker-nice') {
    const nice =
      mode === 'worker-nice'
        ? "require('node:os').setPriority(Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop()), 19);"
        : '';
    new Worker(
      `const { workerData } = require('node:worker_threads'); ${nice} const __name = (f) => f; (${burn.toString()})(workerData, setTimeout);`,
      { eval: true, workerData: work },
    );
  }
  const address = app.server.address();
  console.log(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
} else {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '1000' },
      seconds: { type: 'string', default: '20' },
      busy: { type: 'string', default: '0.3' },
      'max-chunk-ms': { type: 'string', default: '20' },
    },
  });
  const root = new URL('../..', import.meta.url).pathname;
  const vegeta = execFileSync('bash', [join(root, 'bench/tools/vegeta.sh')], { encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'serving-thread-'));
  const results: Record<string, unknown> = {};
  for (const mode of ['none', 'same-thread', 'worker', 'worker-nice']) {
    const server = spawn(
      'taskset',
      [
        '-c',
        '0',
        process.execPath,
        '--import',
        'tsx',
        new URL(import.meta.url).pathname,
        'serve',
        mode,
        values.busy!,
        values['max-chunk-ms']!,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const url = await new Promise<string>((resolve) =>
      server.stdout.on('data', (chunk: Buffer) => {
        const match = /http:\/\/\S+/.exec(chunk.toString());
        if (match) resolve(match[0]);
      }),
    );
    writeFileSync(join(dir, 'targets'), `GET ${url}/users/1\n`);
    const attack = (seconds: number) =>
      execFileSync('taskset', [
        '-c',
        '1',
        vegeta,
        'attack',
        `-rate=${values.rate}/1s`,
        `-duration=${seconds}s`,
        `-targets=${join(dir, 'targets')}`,
        `-output=${join(dir, 'out.bin')}`,
      ]);
    attack(3);
    attack(Number(values.seconds));
    const report = JSON.parse(
      execFileSync(vegeta, ['report', '-type=json', join(dir, 'out.bin')], { encoding: 'utf8' }),
    ) as { latencies: Record<string, number> };
    const ms = (ns: number | undefined) => Math.round((ns ?? NaN) / 1e3) / 1e3;
    results[mode] = {
      p50: ms(report.latencies['50th']),
      p95: ms(report.latencies['95th']),
      p99: ms(report.latencies['99th']),
      max: ms(report.latencies.max),
    };
    process.stderr.write(`${mode}: ${JSON.stringify(results[mode])}\n`);
    server.kill('SIGKILL');
  }
  console.log(JSON.stringify({ command: process.argv.slice(1).join(' '), ...values, results }, null, 2));
}
