/**
 * The benchmarks' HTTP load: vegeta (open loop, installed by bench/tools/vegeta.sh with `go install`),
 * one attack at a fixed rate over a list of URLs from a core of its own, its latencies summarized in ms.
 * Against our service the answers are also split by who served them (the x-uis-served-by header): a
 * local answer or one forwarded to the key's owner.
 *
 *   node --import tsx bench/vegeta.ts --url http://127.0.0.1:3000 [--rate 1000] [--seconds 20] [--core 1]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { stack } from '../test/support/stack.js';
import { root, run } from './processes.js';
import { summarize } from './stats.js';

export interface AttackOptions {
  /** Every request's URL; the attack goes round them in this order. */
  urls: readonly string[];
  rate: number;
  seconds: number;
  /** The core vegeta runs on (taskset), apart from the server's. */
  core: string;
}

export type Percentiles = Record<string, number>;

export interface AttackResult extends Percentiles {
  /** Requests vegeta sent, and at what rate: below the rate asked for, the generator could not keep up. */
  requests: number;
  sentPerSecond: number;
  /** Requests that got no answer within vegeta's timeout (30 s) or failed. */
  unanswered: number;
}

export interface SplitAttackResult {
  all: AttackResult;
  statuses: Record<string, number>;
  local?: Percentiles;
  forwarded?: Percentiles;
}

let binary: Promise<string> | undefined;
/** vegeta's path, installed on first use. */
export function vegeta(): Promise<string> {
  binary ??= run('bash', [join(root, 'bench/tools/vegeta.sh')]).then((out) => out.trim());
  return binary;
}

/** One open-loop attack; latency percentiles of every request, and of local and forwarded answers apart. */
export async function attack(options: AttackOptions): Promise<SplitAttackResult> {
  const bin = await vegeta();
  const workDir = mkdtempSync(join(tmpdir(), 'uis-vegeta-'));
  try {
    const targetsFile = join(workDir, 'targets.txt');
    writeFileSync(targetsFile, options.urls.map((url) => `GET ${url}`).join('\n\n') + '\n');
    const resultsFile = join(workDir, 'results.bin');
    await run('taskset', [
      '-c',
      options.core,
      bin,
      'attack',
      `-rate=${options.rate}/1s`,
      `-duration=${options.seconds}s`,
      `-targets=${targetsFile}`,
      '-keepalive=true',
      '-timeout=30s',
      '-max-body=0',
      // Unbounded, vegeta starts a worker per request in flight; on this 2-core machine at 10k req/s
      // that collapsed it to under 200 req/s, against any server (the floor too). 50 workers send all
      // of it; a stall longer than 50 requests' worth then shows as requests sent late (sentPerSecond).
      ...(options.rate >= 5000 ? ['-max-workers=50'] : []),
      `-output=${resultsFile}`,
    ]);
    return await summarizeResults(bin, resultsFile);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

interface VegetaResult {
  code: number;
  timestamp: string;
  /** ns */
  latency: number;
  url: string;
  headers?: Record<string, string[]> | null;
}

async function summarizeResults(bin: string, resultsFile: string): Promise<SplitAttackResult> {
  const encode = spawn(bin, ['encode', '-to', 'json', resultsFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const all: number[] = [];
  const local: number[] = [];
  const forwarded: number[] = [];
  const statuses: Record<string, number> = {};
  let unanswered = 0;
  let first = Infinity;
  let last = -Infinity;
  for await (const line of createInterface({ input: encode.stdout })) {
    if (!line) continue;
    const result = JSON.parse(line) as VegetaResult;
    const ms = result.latency / 1e6;
    all.push(ms);
    statuses[String(result.code)] = (statuses[String(result.code)] ?? 0) + 1;
    if (result.code === 0) unanswered++;
    const sent = Date.parse(result.timestamp);
    first = Math.min(first, sent);
    last = Math.max(last, sent);
    const servedBy = result.headers?.['X-Uis-Served-By']?.[0];
    if (servedBy !== undefined) (servedBy === new URL(result.url).host ? local : forwarded).push(ms);
  }
  const sentSeconds = Math.max(0.001, (last - first) / 1000);
  return {
    all: {
      ...summarize(all),
      requests: all.length,
      sentPerSecond: Math.round(all.length / sentSeconds),
      unanswered,
    },
    statuses,
    ...(local.length ? { local: summarize(local) } : {}),
    ...(forwarded.length ? { forwarded: summarize(forwarded) } : {}),
  };
}

/** Every user's id in PostgreSQL, in random order. */
export async function userIdsInRandomOrder(): Promise<string[]> {
  const db = new pg.Client(stack.postgres);
  await db.connect();
  try {
    const ids = (await db.query<{ id: string }>('SELECT user_id::text AS id FROM users')).rows.map((r) => r.id);
    if (ids.length === 0) throw new Error('no users: load data first (npm run demo loads demo data)');
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    return ids;
  } finally {
    await db.end();
  }
}

/** GET /users/:id URLs on `baseUrl`, one per id. */
export const userUrls = (baseUrl: string, ids: readonly string[]) => ids.map((id) => `${baseUrl}/users/${id}`);

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:3000' },
      rate: { type: 'string', default: '1000' },
      seconds: { type: 'string', default: '20' },
      core: { type: 'string', default: '1' },
    },
  });
  const urls = userUrls(values.url!, await userIdsInRandomOrder());
  const result = await attack({ urls, rate: Number(values.rate), seconds: Number(values.seconds), core: values.core! });
  process.stdout.write(JSON.stringify(result) + '\n');
}
