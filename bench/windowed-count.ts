/**
 * Windowed-count throughput, ours against Kafka Streams on the same input: events per key in tumbling
 * one-minute windows with ten seconds of grace (DslCatalog.java `windowed-count`, the same topology
 * here), every update to an output topic, exactly-once v2 and each engine's default record cache.
 * Writes `--events` events (keys from `--keys`, time moving on with some out-of-order and late ones)
 * to a topic of `--partitions` partitions once, then runs each engine from empty on it, alternating
 * for `--rounds` rounds. The rate of a run is the records committed from its first commit to its
 * last over that time (startup and group join left out, the same way for both); its CPU is the
 * process's (ours: this process, where it runs; Kafka Streams: the JVM's, once it has ended).
 * Progress on stderr, medians and the ratio as JSON on stdout.
 *
 *   node --import tsx bench/windowed-count.ts [--events 1000000] [--keys 10000] [--partitions 4] [--rounds 2]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { StreamsBuilder } from '../src/dsl/builder.js';
import { TimeWindows } from '../src/dsl/windows.js';
import { KafkaStreams } from '../src/runtime/kafka-streams.js';
import { longNumberSerde } from '../src/serdes/long-number.js';
import { Serdes, timeWindowedSerde, type Serde } from '../src/serdes/index.js';
import { createLogger } from '../src/util/logger.js';
import { connectedProducer, createTopics, deleteTopicsWithPrefix, kafka } from '../test/support/kafka.js';
import { stack } from '../test/support/stack.js';
import { endedChildrenCpuSeconds } from './threads.js';
import { log, root, sleep } from './processes.js';
import { median } from './stats.js';

const { values: options } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    keys: { type: 'string', default: '10000' },
    partitions: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '2' },
  },
});
const events = Number(options.events);
const keys = Number(options.keys);
const partitions = Number(options.partitions);
const rounds = Number(options.rounds);
for (const [name, value] of Object.entries({ events, keys, partitions, rounds })) {
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive whole number`);
}

const prefix = `bench-wcount-${Date.now()}`;
const input = `${prefix}-events`;
const S = { keySerde: Serdes.string, valueSerde: Serdes.string };

/** The topology of DslCatalog.windowedCount. */
function topology(outPrefix: string) {
  const builder = new StreamsBuilder();
  builder
    .stream(input, S)
    .groupByKey(S)
    .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 10_000))
    .count({ storeName: 'windowed-count' })
    .toStream()
    .to(`${outPrefix}-windowed-count`, {
      keySerde: timeWindowedSerde(Serdes.string, 60_000),
      valueSerde: longNumberSerde as Serde<number>,
    });
  return builder.build();
}

async function writeInput(): Promise<void> {
  // Kept whatever its records' times: they are in the past, and the broker's time-based retention
  // would otherwise delete them before the second engine reads them.
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: input, numPartitions: partitions, configEntries: [{ name: 'retention.ms', value: '-1' }] }],
  });
  await admin.disconnect();
  const producer = await connectedProducer();
  let seed = 7;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  let now = Date.now() - events * 20; // in the past whatever the count (at most 19 ms per event)
  const batch = 10_000;
  for (let sent = 0; sent < events; sent += batch) {
    const messages = [];
    for (let i = 0; i < Math.min(batch, events - sent); i++) {
      now += random(20);
      // Mostly a little out of order; now and then later than the grace.
      const late = random(50) === 0 ? 15_000 + random(60_000) : random(3_000);
      messages.push({ key: `user-${random(keys)}`, value: 'tweet', timestamp: String(now - late) });
    }
    await producer.send({ topic: input, messages });
    if ((sent / batch) % 20 === 0) log(`input: ${sent + messages.length} of ${events} events written`);
  }
  await producer.disconnect();
}

/** Committed offsets of a group on the input topic, summed over partitions. */
async function committed(groupId: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [input] });
    return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

interface Result {
  recordsPerSecond: number;
  seconds: number;
  cpuMicrosecondsPerRecord: number;
}

/**
 * Polls the group's commits until it has committed every event; the rate from its first commit on.
 * `failed` says why the engine cannot finish (it exited), if it cannot.
 */
async function measure(
  groupId: string,
  engine: string,
  failed: () => string | undefined = () => undefined,
): Promise<{ recordsPerSecond: number; seconds: number }> {
  const deadline = Date.now() + 30 * 60_000;
  let first: { at: number; offset: number } | undefined;
  let lastLog = 0;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`${engine} did not commit every event within 30 minutes`);
    const failure = failed();
    if (failure) throw new Error(`${engine} ${failure}`);
    const offset = await committed(groupId);
    const at = Date.now();
    if (first === undefined && offset > 0) first = { at, offset };
    if (at - lastLog > 5_000) {
      log(`${engine}: ${offset} of ${events} events committed`);
      lastLog = at;
    }
    if (offset >= events) {
      if (!first || at === first.at) throw new Error(`${engine}: no commit before the last one to measure from`);
      const seconds = (at - first.at) / 1000;
      return { recordsPerSecond: (offset - first.offset) / seconds, seconds };
    }
    await sleep(250);
  }
}

async function runOurs(round: number): Promise<Result> {
  const applicationId = `${prefix}-ours-${round}`;
  await createTopics([`${applicationId}-windowed-count`], partitions);
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-wcount-'));
  const streams = new KafkaStreams(
    topology(applicationId),
    {
      applicationId,
      brokers: stack.kafkaBrokers,
      stateDir,
      endpoint: '127.0.0.1:1',
      internalPartitions: partitions,
      kafkaClient: stack.kafkaClient,
    },
    { logger: createLogger('error') },
  );
  const cpuBefore = process.cpuUsage();
  try {
    await streams.start();
    const rate = await measure(applicationId, 'ours');
    const cpu = process.cpuUsage(cpuBefore);
    return { ...rate, cpuMicrosecondsPerRecord: (cpu.user + cpu.system) / events };
  } finally {
    await streams.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function runKafkaStreams(round: number): Promise<Result> {
  const applicationId = `${prefix}-ks-${round}`;
  await createTopics([`${applicationId}-windowed-count`], partitions); // Kafka Streams creates no sink topic
  const stateDir = mkdtempSync(join(tmpdir(), 'ks-wcount-'));
  const cpuBefore = endedChildrenCpuSeconds();
  const child = spawn('bash', [join(root, 'bench/kafka-streams-java/run.sh'), 'dsl', 'windowed-count'], {
    env: {
      ...process.env,
      KAFKA_BROKERS: stack.kafkaBrokers.join(','),
      APPLICATION_ID: applicationId,
      STATE_DIR: stateDir,
      IN_PREFIX: prefix,
      OUT_PREFIX: applicationId,
      // Kafka Streams' default record cache (10 MiB) back on: the catalog turns it off for the
      // differential tests; our engine holds changes by default too (cacheMaxEntries).
      STREAMS_CONFIG: 'statestore.cache.max.bytes=10485760',
    },
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  try {
    const rate = await measure(applicationId, 'Kafka Streams', () =>
      exitCode === undefined ? undefined : `exited with ${exitCode} before committing every event`,
    );
    child.stdin.end();
    await exited;
    return { ...rate, cpuMicrosecondsPerRecord: ((endedChildrenCpuSeconds() - cpuBefore) * 1e6) / events };
  } finally {
    child.kill('SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  }
}

log(`windowed count: ${events} events over ${keys} keys, ${partitions} partitions, ${rounds} rounds`);
await writeInput();
const ours: Result[] = [];
const theirs: Result[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    // Alternating which goes first, so neither always runs on a warmer machine.
    const order = round % 2 === 1 ? (['ours', 'ks'] as const) : (['ks', 'ours'] as const);
    for (const engine of order) {
      const result = engine === 'ours' ? await runOurs(round) : await runKafkaStreams(round);
      (engine === 'ours' ? ours : theirs).push(result);
      log(
        `round ${round} ${engine}: ${Math.round(result.recordsPerSecond)} records/s, ${result.cpuMicrosecondsPerRecord.toFixed(1)} us CPU/record`,
      );
    }
  }
} finally {
  await deleteTopicsWithPrefix(prefix);
}
const rate = (results: Result[]) => median(results.map((r) => r.recordsPerSecond));
const cpu = (results: Result[]) => median(results.map((r) => r.cpuMicrosecondsPerRecord));
console.log(
  JSON.stringify({
    command: `node --import tsx bench/windowed-count.ts ${process.argv.slice(2).join(' ')}`.trim(),
    events,
    keys,
    partitions,
    rounds,
    ours: {
      recordsPerSecond: Math.round(rate(ours)),
      cpuMicrosecondsPerRecord: Number(cpu(ours).toFixed(1)),
      runs: ours,
    },
    kafkaStreams: {
      recordsPerSecond: Math.round(rate(theirs)),
      cpuMicrosecondsPerRecord: Number(cpu(theirs).toFixed(1)),
      runs: theirs,
    },
    rateRatio: Number((rate(ours) / rate(theirs)).toFixed(2)),
    cpuPerRecordRatio: Number((cpu(ours) / cpu(theirs)).toFixed(2)),
  }),
);
process.exit(0);
