/**
 * The benchmark's report: from the results JSON, a markdown summary (tables,
 * and our figures as ratios to the baselines and to Kafka Streams) and an SVG
 * chart of HTTP latency by rate. `npm run bench -- --report <results.json>`
 * writes them again from a results file.
 */
import { writeFileSync } from 'node:fs';
import { latencyChart, type LatencySeries } from './plot.js';

type Results = Record<string, unknown>;
type Latency = Record<string, number | undefined> & { local?: Latency; forwarded?: Latency; unanswered?: number };
type ByRate = Record<string, Latency>;

const targets = [
  { key: 'httpOurs', name: 'ours', color: '#1f77b4' },
  { key: 'http_sql', name: 'five SQL queries', color: '#d62728' },
  { key: 'http_cacheAside', name: 'cache-aside Redis', color: '#2ca02c' },
  { key: 'http_floor', name: 'floor: fixed answer', color: '#7f7f7f' },
] as const;

/** Writes <stem>.md and <stem>-http.svg next to each other in `dir`. */
export function writeReport(results: Results, dir: string, stem: string): void {
  writeFileSync(`${dir}/${stem}.md`, summary(results, `${stem}-http.svg`));
  writeFileSync(`${dir}/${stem}-http.svg`, httpChart(results));
}

function httpChart(r: Results): string {
  const series: LatencySeries[] = targets
    .filter((t) => r[t.key])
    .map((t) => ({
      name: t.name,
      color: t.color,
      points: Object.entries(r[t.key] as ByRate).map(([rate, x]) => ({
        rate: Number(rate),
        p50: x.p50 ?? NaN,
        p99: x.p99 ?? NaN,
      })),
    }));
  return latencyChart(`GET /users/:id latency, ${r.size} size (${r.users} users)`, series);
}

const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const fmt = (x: number | undefined, digits = 2) =>
  x === undefined ? '-' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(digits);
/** How ours compares with `other` for a latency: "6.8x faster" or "2.1x slower". */
const times = (other: number | undefined, ours: number | undefined) => {
  if (other === undefined || ours === undefined || ours === 0 || other === 0) return '-';
  const ratio = other / ours;
  const shown = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
  return ratio >= 1 ? `${shown(ratio)}x faster` : `${shown(1 / ratio)}x slower`;
};

function summary(r: Results, chartFile: string): string {
  const http = (key: string) => (r[key] as ByRate | undefined) ?? {};
  const rates = Object.keys(http('httpOurs'))
    .map(Number)
    .sort((a, b) => a - b);
  const row = (name: string, x: Latency | undefined) =>
    x
      ? `| ${name} | ${fmt(x.p50)} | ${fmt(x.p95)} | ${fmt(x.p99)} | ${fmt(x['p99.9'])} | ${fmt(x.max)} | ${x.unanswered ?? 0} | ${fmt(x.sentPerSecond, 0)} |`
      : `| ${name} | - | - | - | - | - | - | - |`;
  const lines = [
    `# Benchmark results (${r.size}, ${Number(r.users).toLocaleString('en-US')} users)`,
    '',
    `Command: \`${r.command}\`  `,
    `Machine: ${JSON.stringify(r.machine)}, with the whole stack (Kafka, Connect, PostgreSQL, registry) on it  `,
    `Run: ${r.startedAt} to ${r.finishedAt}  `,
    `Data: ${JSON.stringify((r.data as Results | undefined)?.loader ?? [])}`,
    '',
    '## HTTP latency, open loop (ms; vegeta on core 1, the servers on core 0)',
    '',
    `![HTTP latency by rate](${chartFile})`,
    '',
    '| target @ rate | p50 | p95 | p99 | p99.9 | max | unanswered | sent/s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const rate of rates) {
    const ours = http('httpOurs')[rate];
    lines.push(row(`ours @ ${rate}/s`, ours));
    if (ours?.local) lines.push(row(`  ours, local answers`, ours.local));
    if (ours?.forwarded) lines.push(row(`  ours, forwarded answers`, ours.forwarded));
    lines.push(row(`five SQL queries @ ${rate}/s`, http('http_sql')[rate]));
    lines.push(row(`cache-aside Redis @ ${rate}/s`, http('http_cacheAside')[rate]));
    lines.push(row(`floor (fixed answer, no store) @ ${rate}/s`, http('http_floor')[rate]));
  }
  lines.push(
    '',
    '### Ours against the baselines (latency ratios)',
    '',
    '| rate | p50 vs SQL | p99 vs SQL | p50 vs cache-aside | p99 vs cache-aside |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const rate of rates) {
    const ours = http('httpOurs')[rate];
    const sql = http('http_sql')[rate];
    const cache = http('http_cacheAside')[rate];
    lines.push(
      `| ${rate}/s | ${times(sql?.p50, ours?.p50)} | ${times(sql?.p99, ours?.p99)} | ${times(cache?.p50, ours?.p50)} | ${times(cache?.p99, ours?.p99)} |`,
    );
  }

  const processing = (r.processing ?? {}) as Results;
  const restore = (r.restore ?? {}) as Results;
  const java = (r.kafkaStreamsJava ?? {}) as { process?: Results; restore?: Results };
  const javaProcessRate =
    num(java.process?.allRecordsProcessed) !== undefined && num(java.process?.seconds)
      ? num(java.process?.allRecordsProcessed)! / num(java.process?.seconds)!
      : undefined;
  // Both restores: one instance alone, empty state directory, every task (bench/restore.ts).
  const restorePhase = (restore.restore ?? {}) as Results;
  const oursRestoreRate = num(restorePhase.recordsPerSecond);
  const ratio = (ours: number | undefined, theirs: number | undefined) =>
    ours === undefined || theirs === undefined ? '-' : `${(ours / theirs).toFixed(2)}x`;
  lines.push(
    '',
    '## Processing and restore, against Kafka Streams (Java) on the same topics',
    '',
    '| | ours (2 instances, Node) | Kafka Streams (1 JVM) | ours / theirs |',
    '| --- | --- | --- | --- |',
    `| processing, records/s (CDC + repartition) | ${fmt(num(processing.recordsPerSecond))} (${fmt(num(processing.recordsProcessed))} in ${fmt(num(processing.seconds), 1)} s) | ${fmt(javaProcessRate)} (${fmt(num(java.process?.allRecordsProcessed))} in ${fmt(num(java.process?.seconds), 1)} s) | ${ratio(num(processing.recordsPerSecond), javaProcessRate)} |`,
    `| restore from changelogs, records/s (one instance, every task, from empty) | ${fmt(oursRestoreRate)} (${fmt(num(restorePhase.records))} in ${fmt(num(restorePhase.seconds), 1)} s; ready after ${fmt(num(restore.secondsToReady), 1)} s) | ${fmt(num(java.restore?.recordsPerSecond))} (${fmt(num(java.restore?.restoredRecords))} in ${fmt(num(java.restore?.seconds), 1)} s) | ${ratio(oursRestoreRate, num(java.restore?.recordsPerSecond))} |`,
  );

  const batchReads = r.batchReads as Results | undefined;
  if (batchReads)
    lines.push(
      '',
      '## Batch reads (two instances; closed loop, ids per second)',
      '',
      '| POST /users:batchGet, ids per request | in flight | batch ids/s | single GETs ids/s | batch / single |',
      '| --- | --- | --- | --- | --- |',
      `| ${batchReads.batch} | ${batchReads.concurrency} | ${fmt(num(batchReads.batchIdsPerSecond))} | ${fmt(num(batchReads.singleIdsPerSecond))} | ${batchReads.ratio}x |`,
    );

  const update = (r.updateLatency ?? {}) as Latency;
  const stale = (r.stalenessCacheAside ?? {}) as Latency;
  lines.push(
    '',
    '## Freshness: a change committed in PostgreSQL until GET serves it (ms)',
    '',
    '| | rate | p50 | p95 | p99 | max |',
    '| --- | --- | --- | --- | --- | --- |',
    ...[update, (r.updateLatencyHigh ?? undefined) as Latency | undefined]
      .filter((u): u is Latency => u !== undefined)
      .map((u) => `| ours | ${u.rate ?? '-'}/s | ${fmt(u.p50)} | ${fmt(u.p95)} | ${fmt(u.p99)} | ${fmt(u.max)} |`),
    `| cache-aside Redis (staleness, TTL ${stale.warmWithinS ?? '-'} s) | ${stale.rate ?? '-'}/s | ${fmt(stale.p50)} | ${fmt(stale.p95)} | ${fmt(stale.p99)} | ${fmt(stale.max)} |`,
    '| five SQL queries | | 0 (reads the database) | | | |',
  );

  const memory = (r.memory ?? {}) as Record<
    string,
    { rssMiB: number; anonMiB?: number; fileMiB?: number; diskMiB: number }
  >;
  lines.push(
    '',
    '## Footprint per instance after processing',
    '',
    '| instance | RSS (MiB) | anonymous | file-backed (reclaimable) | disk (MiB) |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const [name, m] of Object.entries(memory))
    lines.push(`| ${name} | ${m.rssMiB} | ${m.anonMiB ?? '-'} | ${m.fileMiB ?? '-'} | ${m.diskMiB} |`);

  const restoreMemory = [
    ['at the peak of the restore', restore.memoryAtPeakAnon],
    ['ready, after the restore', restore.memoryWhenReady],
  ] as const;
  lines.push(
    '',
    '## Memory of one instance restoring every task from empty (bench/restore.ts)',
    '',
    '| when | RSS (MiB) | anonymous | file-backed (reclaimable) |',
    '| --- | --- | --- | --- |',
    ...restoreMemory.map(([when, m]) => {
      const x = (m ?? {}) as Record<string, number | undefined>;
      return `| ${when} | ${x.rssMiB ?? '-'} | ${x.anonMiB ?? '-'} | ${x.fileMiB ?? '-'} |`;
    }),
  );

  type WritesRun = Results & Record<'ours' | 'floor', Record<string, Latency & { serverCpu?: number }> | undefined>;
  const writesRuns = (r.httpWrites ?? {}) as Record<string, WritesRun>;
  // Results from before several rates were run hold one run, not one per rate.
  const byRate = 'ours' in writesRuns ? { [String(writesRuns.rate)]: writesRuns as unknown as WritesRun } : writesRuns;
  for (const [rate, writes] of Object.entries(byRate)) {
    if (!writes.ours || !writes.floor) continue;
    lines.push(
      '',
      `## HTTP with writes flowing (${fmt(Number(rate))} req/s, one instance on one core; bench/http-writes.ts)`,
      '',
      '| target | writes | p50 | p95 | p99 | p99.9 | max | sent/s | server CPU (cores) |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const target of ['ours', 'floor'] as const)
      for (const phase of ['noWrites', 'writes'] as const) {
        const l = writes[target]?.[phase];
        if (l)
          lines.push(
            `| ${target} | ${phase === 'writes' ? `${String(writes[target]?.writeRate ?? '-')}/s` : 'none'} | ${fmt(l.p50)} | ${fmt(l.p95)} | ${fmt(l.p99)} | ${fmt(l['p99.9'])} | ${fmt(l.max)} | ${fmt(l.sentPerSecond, 0)} | ${l.serverCpu ?? '-'} |`,
          );
      }
    const ratios = writes.ratios as Record<string, Record<string, number>> | undefined;
    if (ratios)
      lines.push(
        '',
        `Ours / floor: no writes p95 ${ratios.noWrites?.p95}x, p99 ${ratios.noWrites?.p99}x; with writes p95 ${ratios.writes?.p95}x, p99 ${ratios.writes?.p99}x, max ${ratios.writes?.max}x.`,
      );
  }

  lines.push(
    '',
    '## All figures',
    '',
    '```json',
    JSON.stringify(
      {
        cdc: r.cdc,
        processing: r.processing,
        restore: r.restore,
        httpWrites: r.httpWrites,
        updateLatency: r.updateLatency,
        updateLatencyHigh: r.updateLatencyHigh,
        stalenessCacheAside: r.stalenessCacheAside,
        memory: r.memory,
        kafkaStreamsJava: r.kafkaStreamsJava,
      },
      null,
      2,
    ),
    '```',
    '',
  );
  return lines.join('\n');
}
