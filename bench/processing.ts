/**
 * Processing throughput, side by side: two instances (--instances) of a fresh application read every CDC topic of
 * the running stack from the start (as `npm run bench` measures it), once per Kafka client, in
 * alternating rounds; with --java, Kafka Streams (Java) on the same topics in each round too.
 * Prints progress on stderr and the medians and ratios as JSON on stdout.
 *
 *   node --import tsx bench/processing.ts [--clients kafkajs,platformatic] [--rounds 3] [--java]
 *   node --import tsx bench/processing.ts --variants 'c25=--commit-interval-ms 25;c100=--commit-interval-ms 100'
 *   node --import tsx bench/processing.ts --max-seconds 240 --java   # a bounded sample of each rate
 *   node --import tsx bench/processing.ts --from-seconds 600 --max-seconds 840 --java   # a later sample
 *   node --import tsx bench/processing.ts --clients platformatic --rounds 1 --keep-topics   # then bench/restore.ts
 *   node --import tsx bench/processing.ts --instances 1 --max-seconds 240 --java   # one instance, as Kafka Streams runs
 *
 * --variants compares any `uis run` flags instead of clients: name=flags, separated by ';'. The rate of
 * each half minute is logged and kept, to show whether processing slows down as the stores grow, with
 * what may explain it: the most level-0 tables of any task store (LevelDB slows writes from 8), the
 * engine threads' heap and the stores' size on disk (both instances together), and each instance's
 * resident anonymous memory.
 *
 * Load data first (e.g. `node --import tsx scripts/load-demo-data.ts --users 20000`); the records
 * processed count the CDC topics' whole content.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KAFKA_CLIENTS, type KafkaClientKind } from '../src/kafka/client.js';
import { lastJson, log, metric, metricByLabel, metricValues, run, sleep, startServer } from './processes.js';
import { median } from './stats.js';
import { memoryOf } from './memory.js';
import { endedChildrenCpuSeconds, threadTimes } from './threads.js';
import { deleteTopicsWithPrefix } from '../test/support/kafka.js';
import { stack } from '../test/support/stack.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i++) {
  const [k, v] = process.argv[i]!.split('=');
  args.set(k!, v ?? (process.argv[i + 1]?.startsWith('--') ? '' : (process.argv[++i] ?? '')));
}
const clients = (args.get('--clients') ?? 'kafkajs,platformatic').split(',') as KafkaClientKind[];
for (const c of clients) if (!KAFKA_CLIENTS.includes(c)) throw new Error(`--clients: unknown client ${c}`);

/** A way of running the instances: its name and the `uis run` flags it adds. */
interface Variant {
  name: string;
  flags: string[];
}
const variants: Variant[] = args.has('--variants')
  ? args
      .get('--variants')!
      .split(';')
      .map((spec) => {
        const [name, flags] = spec.split(/=(.*)/s);
        if (!name || flags === undefined) throw new Error(`--variants: "${spec}" is not name=flags`);
        return { name: name.trim(), flags: flags.trim().split(/\s+/) };
      })
  : clients.map((client) => ({ name: client, flags: ['--kafka-client', client] }));
/** Records per second in each half minute of each run, by variant. */
const halfMinuteRates = new Map<string, number[][]>();
/** At the end of each half minute: level-0 tables (most of any store), engine heap and stores (MiB). */
interface StoreSample {
  level0Max: number;
  engineHeapMiB: number;
  storesMiB: number;
  /** Each instance's resident anonymous memory (MiB; file-backed pages apart, see bench/memory.ts). */
  anonMiB: number[];
}
const halfMinuteStores = new Map<string, StoreSample[][]>();
/**
 * Per run: CPU microseconds the application's processes used per record processed (every thread, from
 * start to exit; the broker's not included). Less noisy than the rate on a shared machine: it does not
 * depend on how much of the cores the run got.
 */
const cpuPerRecord = new Map<string, number[]>();
/** CPU seconds as microseconds per record, to two decimals. */
const usPerRecord = (cpuSeconds: number, records: number) =>
  Math.round(((cpuSeconds * 1e6) / Math.max(1, records)) * 100) / 100;
const keepCpu = (name: string, cpuSeconds: number, records: number) => {
  const us = usPerRecord(cpuSeconds, records);
  cpuPerRecord.set(name, [...(cpuPerRecord.get(name) ?? []), us]);
  log(`${name}: ${cpuSeconds.toFixed(1)} CPU seconds for ${records} records = ${us} us per record`);
};
/**
 * Per run: our CPU per record split by thread, summed over the instances, read just before they stop.
 * Every thread is called "node", so roles go by CPU time and start order: the serving (main)
 * thread; the engine (the busiest of the others); the threads started before the
 * engine (V8's garbage-collection and compiler helpers, libuv's pool, which also runs LevelDB's batch
 * writes); and those started after it (LevelDB's compaction thread, started at the first compaction).
 */
interface ThreadSplit {
  main: number;
  engine: number;
  startedBefore: number;
  startedAfter: number;
}
const threadSplits = new Map<string, ThreadSplit[]>();
function threadSplit(pids: readonly number[], records: number): ThreadSplit {
  const split: ThreadSplit = { main: 0, engine: 0, startedBefore: 0, startedAfter: 0 };
  for (const pid of pids) {
    const threads = [...threadTimes(pid)];
    // The busiest thread but the main one: the engine runs at nice 0 until the instance first catches
    // up (decision 0026), so its nice value does not tell it apart in a run cut short.
    const engine = threads.filter(([tid]) => tid !== pid).sort((a, b) => b[1].seconds - a[1].seconds)[0]?.[0] ?? pid;
    for (const [tid, { seconds }] of threads) {
      const role: keyof ThreadSplit =
        tid === pid ? 'main' : tid === engine ? 'engine' : tid < engine ? 'startedBefore' : 'startedAfter';
      split[role] += seconds;
    }
  }
  return {
    main: usPerRecord(split.main, records),
    engine: usPerRecord(split.engine, records),
    startedBefore: usPerRecord(split.startedBefore, records),
    startedAfter: usPerRecord(split.startedAfter, records),
  };
}
/**
 * Per run: LevelDB's compaction work by sub-topology (task ids <sub-topology>_<partition>), summed over
 * tasks and instances, as the stores last reported it (every 30 s): seconds of the compaction thread
 * and MiB written to tables. Shows which stores the compaction CPU goes to.
 */
type CompactionBySubtopology = Record<string, { seconds: number; writtenMiB: number }>;
const compactionSplits = new Map<string, CompactionBySubtopology[]>();
async function compactionBySubtopology(urls: readonly string[]): Promise<CompactionBySubtopology> {
  const split: CompactionBySubtopology = {};
  for (const url of urls) {
    const seconds = await metricByLabel(url, 'streams_store_compaction_seconds', 'task');
    const written = await metricByLabel(url, 'streams_store_compaction_written_bytes', 'task');
    for (const [task, s] of seconds) {
      const entry = (split[task.split('_')[0]!] ??= { seconds: 0, writtenMiB: 0 });
      entry.seconds += s;
      entry.writtenMiB += Math.round((written.get(task) ?? 0) / (1024 * 1024));
    }
  }
  return split;
}
/** Per run: held changes the aggregates forwarded (the rest were replaced by newer ones before a commit). */
const heldForwarded = new Map<string, number[]>();
/** Keep each run's internal topics (their changelogs are what bench/restore.ts restores from). */
const keepTopics = args.has('--keep-topics');
const rounds = Number(args.get('--rounds') ?? 3);
const withJava = args.has('--java');
/** 0: each run processes everything; else each stops after this long and its rate so far counts. */
const maxSeconds = Number(args.get('--max-seconds') ?? 0);
/** With --max-seconds: the rate counts only from this many seconds on (leaves out the start). */
const fromSeconds = Number(args.get('--from-seconds') ?? 0);
/** Instances of our application per run (Kafka Streams runs one instance with one stream thread). */
const instanceCount = Number(args.get('--instances') ?? 2);
if (!Number.isInteger(instanceCount) || instanceCount < 1 || instanceCount > 8)
  throw new Error('--instances: a whole number from 1 to 8');
if (fromSeconds > 0 && !(maxSeconds > fromSeconds)) throw new Error('--from-seconds needs a larger --max-seconds');

/** Instances (--instances) of a fresh application on `client`: records processed per second until nothing moves for 5 s. */
async function ours(variant: Variant, round: number): Promise<number> {
  const app = `proc-${variant.name}-${Date.now().toString(36)}`;
  const cpuBefore = endedChildrenCpuSeconds();
  const stateRoot = mkdtempSync(join(tmpdir(), 'uis-proc-'));
  const ports = Array.from({ length: instanceCount }, (_, i) => 3710 + i);
  const started = Date.now();
  const instances = await Promise.all(
    ports.map((port) =>
      startServer(
        `${variant.name} ${port}`,
        [
          'dist/src/cli/main.js',
          'run',
          ...['--application-id', app, '--port', String(port), '--state-dir', join(stateRoot, String(port))],
          ...['--brokers', stack.kafkaBrokers.join(','), '--schema-registry', stack.registryUrl],
          ...['--log-level', 'warn', ...variant.flags],
        ],
        `http://127.0.0.1:${port}/health/ready`,
      ),
    ),
  );
  const processedNow = async () =>
    (await Promise.all(ports.map((p) => metric(`http://127.0.0.1:${p}`, 'streams_records_processed_total')))).reduce(
      (a, b) => a + b,
      0,
    );
  let processed = await processedNow();
  const rates: number[] = [];
  const samples: StoreSample[] = [];
  const sampleStores = async (): Promise<StoreSample> => {
    const urls = ports.map((p) => `http://127.0.0.1:${p}`);
    const all = async (name: string) => (await Promise.all(urls.map((u) => metricValues(u, name)))).flat();
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    const MiB = 1024 * 1024;
    return {
      level0Max: Math.max(0, ...(await all('streams_store_level0_files'))),
      engineHeapMiB: Math.round(sum(await all('uis_engine_heap_used_bytes')) / MiB),
      storesMiB: Math.round(sum(await all('streams_store_size_bytes')) / MiB),
      anonMiB: instances.map((i) => (i.pid === undefined ? NaN : memoryOf(i.pid).anonMiB)),
    };
  };
  let halfMinuteFrom = { at: Date.now(), processed };
  const sampled = () => maxSeconds > 0 && Date.now() - started >= maxSeconds * 1000;
  let from: { at: number; processed: number } | undefined;
  for (let still = 0; still < 5 && !sampled();) {
    await sleep(1000);
    const now = await processedNow();
    if (fromSeconds > 0 && !from && Date.now() - started >= fromSeconds * 1000)
      from = { at: Date.now(), processed: now };
    still = now === processed ? still + 1 : 0;
    processed = now;
    if (Date.now() - halfMinuteFrom.at >= 30_000) {
      const rate = Math.round(((now - halfMinuteFrom.processed) * 1000) / (Date.now() - halfMinuteFrom.at));
      rates.push(rate);
      const stores = await sampleStores();
      samples.push(stores);
      log(
        `round ${round} ${variant.name}: ${now} records, ${rate}/s in the last half minute; ` +
          `level-0 tables at most ${stores.level0Max}, engine heaps ${stores.engineHeapMiB} MiB, stores ${stores.storesMiB} MiB, ` +
          `anonymous ${stores.anonMiB.join(' and ')} MiB`,
      );
      halfMinuteFrom = { at: Date.now(), processed: now };
    }
  }
  halfMinuteRates.set(variant.name, [...(halfMinuteRates.get(variant.name) ?? []), rates]);
  halfMinuteStores.set(variant.name, [...(halfMinuteStores.get(variant.name) ?? []), samples]);
  // Done: the count stood still for the last 5 s, which do not count. Sampled: every second counts.
  const seconds = (Date.now() - started) / 1000 - (sampled() ? 0 : 5);
  const forwarded = (
    await Promise.all(ports.map((p) => metric(`http://127.0.0.1:${p}`, 'streams_held_changes_forwarded_total')))
  ).reduce((a, b) => a + b, 0);
  log(
    `round ${round} ${variant.name}: held count changes forwarded to the joins: ${forwarded} (of ${processed} records)`,
  );
  heldForwarded.set(variant.name, [...(heldForwarded.get(variant.name) ?? []), forwarded]);
  const split = threadSplit(
    instances.flatMap((i) => (i.pid === undefined ? [] : [i.pid])),
    processed,
  );
  threadSplits.set(variant.name, [...(threadSplits.get(variant.name) ?? []), split]);
  const compaction = await compactionBySubtopology(ports.map((p) => `http://127.0.0.1:${p}`));
  compactionSplits.set(variant.name, [...(compactionSplits.get(variant.name) ?? []), compaction]);
  log(
    `round ${round} ${variant.name}: LevelDB compaction by sub-topology: ` +
      Object.entries(compaction)
        .map(([sub, c]) => `${sub}: ${c.seconds} s, ${c.writtenMiB} MiB written`)
        .join('; '),
  );
  log(
    `round ${round} ${variant.name}: CPU per record by thread (us): engine ${split.engine}, serving ${split.main}, ` +
      `started before the engine (V8 helpers, libuv pool) ${split.startedBefore}, after it (LevelDB compaction) ${split.startedAfter}`,
  );
  for (const instance of instances) instance.kill('SIGTERM');
  await Promise.all(instances.map((i) => new Promise((resolve) => i.once('exit', resolve))));
  keepCpu(variant.name, endedChildrenCpuSeconds() - cpuBefore, processed);
  rmSync(stateRoot, { recursive: true, force: true });
  if (keepTopics) log(`kept the internal topics of ${app} (e.g. for bench/restore.ts --application-id ${app})`);
  else await dropTopics(app);
  if (from && sampled()) {
    const since = (Date.now() - from.at) / 1000;
    const perSecond = Math.round((processed - from.processed) / since);
    log(
      `round ${round} ${variant.name}: ${processed - from.processed} records in the ${since.toFixed(1)} s after ${fromSeconds} s = ${perSecond}/s`,
    );
    return perSecond;
  }
  const perSecond = Math.round(processed / seconds);
  log(`round ${round} ${variant.name}: ${processed} records in ${seconds.toFixed(1)} s = ${perSecond}/s`);
  return perSecond;
}

/**
 * Deletes a finished run's internal topics (repartition topics and changelogs): each run is a fresh
 * application, and at 1M users each leaves gigabytes of them (eleven runs filled a 90 GB disk).
 */
async function dropTopics(app: string): Promise<void> {
  const deleted = await deleteTopicsWithPrefix(`${app}-`).catch((error: unknown) => {
    log(`could not delete the topics of ${app}: ${(error as Error).message}`);
    return 0;
  });
  log(`deleted the ${deleted} internal topics of ${app}`);
}

/**
 * The JVM's CPU by thread, as last seen (every 2 s) while it ran, per record: garbage collection, the
 * JIT compilers, RocksDB's background work (compaction and flushes), and the rest (stream and client
 * threads), by the names the JVM and RocksDB give their threads.
 */
const javaThreadSplits: Array<Record<string, number>> = [];
function watchJavaThreads(): { stop(records: number): Record<string, number> } {
  let last: ReturnType<typeof threadTimes> = new Map();
  let pid = 0;
  const timer = setInterval(() => {
    try {
      pid ||= Number(execFileSync('pgrep', ['-f', 'kafka-streams-uis.jar process$'], { encoding: 'utf8' }).trim());
      if (pid > 0) last = threadTimes(pid);
    } catch {
      // not started yet (pgrep exits 1), or ended
    }
  }, 2000);
  return {
    stop(records) {
      clearInterval(timer);
      const split: Record<string, number> = { streamAndClients: 0, gc: 0, jit: 0, rocksdb: 0 };
      for (const { seconds, name } of last.values()) {
        const role = /^(GC Thread|G1 )/.test(name)
          ? 'gc'
          : /^C[12] Compiler/.test(name)
            ? 'jit'
            : /^rocksdb:/.test(name)
              ? 'rocksdb'
              : 'streamAndClients';
        split[role]! += seconds;
      }
      for (const role of Object.keys(split)) split[role] = usPerRecord(split[role]!, records);
      return split;
    },
  };
}

async function java(round: number): Promise<number> {
  const application = `proc-java-${Date.now().toString(36)}`;
  const cpuBefore = endedChildrenCpuSeconds();
  const threads = watchJavaThreads();
  const result = lastJson(
    await run('bash', ['bench/kafka-streams-java/run.sh', 'process'], {
      env: {
        KS_APPLICATION_ID: application,
        TIMEOUT_S: '3600',
        MAX_SECONDS: String(maxSeconds),
        FROM_SECONDS: String(fromSeconds),
      },
    }),
  );
  keepCpu('java', endedChildrenCpuSeconds() - cpuBefore, Number(result.allRecordsProcessed));
  const split = threads.stop(Number(result.allRecordsProcessed));
  javaThreadSplits.push(split);
  log(
    `round ${round} Kafka Streams (Java): CPU per record by thread (us): stream and client threads ${split.streamAndClients}, ` +
      `GC ${split.gc}, JIT ${split.jit}, RocksDB ${split.rocksdb}`,
  );
  await dropTopics(application);
  // Like ours: every record processed (CDC and repartition), as bench/report.ts compares them.
  const fromAt = Number(result.fromSeconds ?? 0);
  const perSecond =
    fromAt > 0
      ? Math.round(Number(result.processedSinceFrom) / (Number(result.seconds) - fromAt))
      : Math.round(Number(result.allRecordsProcessed) / Number(result.seconds));
  log(
    `round ${round} Kafka Streams (Java): ${result.allRecordsProcessed} records in ${result.seconds} s = ${perSecond}/s`,
  );
  return perSecond;
}

await run('npm', ['run', '-s', 'build']);
const figures = new Map<string, number[]>();
for (let round = 1; round <= rounds; round++) {
  // Alternating order, so a drift of the machine does not favour one variant.
  const order = round % 2 === 1 ? variants : [...variants].reverse();
  for (const variant of order)
    figures.set(variant.name, [...(figures.get(variant.name) ?? []), await ours(variant, round)]);
  if (withJava) figures.set('java', [...(figures.get('java') ?? []), await java(round)]);
}
const medians = Object.fromEntries([...figures].map(([name, values]) => [name, median(values)]));
const baseline = withJava ? 'java' : variants[0]!.name;
const summary = {
  ...(maxSeconds > 0
    ? {
        note:
          `each run stopped after ${maxSeconds} s` +
          (fromSeconds > 0 ? `, its rate counted from ${fromSeconds} s on` : '') +
          ': rates of a sample, not of the whole topics',
      }
    : {}),
  command: `node --import tsx bench/processing.ts ${process.argv.slice(2).join(' ')}`.trim(),
  recordsPerSecond: Object.fromEntries(figures),
  halfMinuteRates: Object.fromEntries(halfMinuteRates),
  halfMinuteStores: Object.fromEntries(halfMinuteStores),
  heldChangesForwarded: Object.fromEntries(heldForwarded),
  cpuMicrosecondsPerRecord: Object.fromEntries(cpuPerRecord),
  cpuMicrosecondsPerRecordByThread: {
    ...Object.fromEntries(threadSplits),
    ...(withJava ? { java: javaThreadSplits } : {}),
  },
  levelDbCompactionBySubtopology: Object.fromEntries(compactionSplits),
  medians,
  ratioTo: baseline,
  ratios: Object.fromEntries(
    Object.entries(medians).map(([name, m]) => [name, Math.round((m / medians[baseline]!) * 100) / 100]),
  ),
};
process.stdout.write(JSON.stringify(summary) + '\n');
process.exit(0);
