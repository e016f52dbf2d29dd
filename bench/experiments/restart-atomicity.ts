/**
 * Are transactions still atomic after the broker restarts in the middle of commits? A transactional
 * producer commits transaction after transaction, each writing its number to every partition of a
 * topic, while the stack's Kafka restarts (SIGTERM). A commit that reaches the broker as it shuts
 * down can be decided with some of its markers skipped (the coordinator finds no leader), leaving
 * the transaction open on those partitions. Then the producer's transactional id starts again (a new
 * epoch: the case where the coordinator's state no longer says how the old transaction ended), the
 * engine's repair runs (`endHangingTransactions`), and every partition is read with read_committed:
 * each transaction must be visible on every partition or on none, and every acknowledged one on all.
 * With `--producer instance` the engine's own exactly_once_v2 producer commits instead, through the
 * restart and 10 s past it (a failed commit followed by the next, as a running instance does), so
 * its own recovery runs (a new epoch that first commits what Kafka left unmarked).
 *
 *   node --import tsx bench/experiments/restart-atomicity.ts [--rounds 3] [--partitions 12] [--producers 4] [--producer kafkajs|instance]
 *
 * Needs the local stack up (`bash stack/stack.sh up`); it restarts its Kafka once per round. Progress
 * on stderr, a JSON summary on stdout; exits 1 if any transaction is visible on only some partitions.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createKafkaClient, type ClusterAdmin } from '../../src/kafka/client.js';
import { InstanceProducer } from '../../src/kafka/instance-producer.js';
import { initProducerId } from '../../src/kafka/group-transactions.js';
import { endHangingTransactions } from '../../src/kafka/hanging-transactions.js';
import {
  type PartitionRef,
  describeProducers,
  describeTransaction,
  findTransactionCoordinator,
} from '../../src/kafka/transaction-admin.js';
import { createLogger } from '../../src/util/logger.js';
import { createTopics, kafka, readTopic } from '../../test/support/kafka.js';
import { stack, uniqueName } from '../../test/support/stack.js';

const { values: options } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    partitions: { type: 'string', default: '12' },
    producers: { type: 'string', default: '4' },
    producer: { type: 'string', default: 'kafkajs' },
  },
});
const rounds = Number(options.rounds);
const partitionCount = Number(options.partitions);
const producerCount = Number(options.producers);
const producerKind = options.producer;
if (producerKind !== 'kafkajs' && producerKind !== 'instance') throw new Error('--producer is kafkajs or instance');
const log = (message: string) =>
  process.stderr.write(`[atomicity ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const [host, port] = stack.kafkaBrokers[0]!.split(':');
const broker = { host: host!, port: Number(port) };

async function retrying<T>(what: string, fn: () => Promise<T>, forMs = 180_000): Promise<T> {
  for (const deadline = Date.now() + forMs; ;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: ${String(error)}`);
      await sleep(1_000);
    }
  }
}

interface Commits {
  /** Numbers of the transactions whose commit was acknowledged, and of those that failed. */
  acknowledged: number[];
  failed: number[];
}

/** A kafkajs transactional producer commits until the broker goes away. */
async function commitWithKafkajs(
  _admin: ClusterAdmin,
  transactionalId: string,
  topic: string,
  partitions: PartitionRef[],
  p: number,
): Promise<Commits> {
  const producer = kafka.producer({
    transactionalId,
    maxInFlightRequests: 1,
    idempotent: true,
    transactionTimeout: 300_000,
    retry: { retries: 1, initialRetryTime: 100 },
  });
  await producer.connect();
  const commits: Commits = { acknowledged: [], failed: [] };
  for (let i = 0; i < 100_000; i++) {
    try {
      const transaction = await producer.transaction();
      await transaction.send({
        topic,
        messages: partitions.map(({ partition }) => ({ partition, key: `${p}:${i}`, value: String(i) })),
      });
      await transaction.commit();
      commits.acknowledged.push(i);
    } catch {
      commits.failed.push(i);
      break;
    }
  }
  await producer.disconnect().catch(() => undefined);
  return commits;
}

/**
 * The engine's exactly_once_v2 producer commits through the restart, as a running instance does:
 * a failed commit is followed by the next one (the producer starts a new epoch), until 10 s after the
 * broker is back.
 */
async function commitWithInstanceProducer(
  admin: ClusterAdmin,
  transactionalId: string,
  topic: string,
  partitions: PartitionRef[],
  p: number,
  restarted: () => boolean,
): Promise<Commits> {
  const [host, port] = stack.kafkaBrokers[0]!.split(':');
  const producer = new InstanceProducer({
    admin,
    bootstrap: { host: host!, port: Number(port) },
    transactionalId,
    transactionTimeoutMs: 10_000,
    membership: () => undefined,
    clientId: 'atomicity',
    groupId: transactionalId,
    writtenTopics: [topic],
    logger: createLogger('warn').child({ producer: p }),
  });
  const commits: Commits = { acknowledged: [], failed: [] };
  let backAt: number | undefined;
  for (let i = 0; i < 5_000; i++) {
    if (restarted()) backAt ??= Date.now();
    if (backAt !== undefined && Date.now() > backAt + 10_000) break;
    try {
      await producer.commit(
        partitions.map(({ partition }) => ({
          topic,
          partition,
          key: Buffer.from(`${p}:${i}`),
          value: Buffer.from(String(i)),
          timestamp: Date.now(),
        })),
        { groupId: transactionalId, offsets: new Map() },
      );
      commits.acknowledged.push(i);
    } catch {
      commits.failed.push(i);
      await sleep(200);
    }
  }
  await producer.close();
  return commits;
}

async function round(n: number) {
  const topic = uniqueName(`atomicity-${n}`);
  const transactionalIds = Array.from({ length: producerCount }, () => uniqueName('atomicity'));
  await createTopics([topic], partitionCount);
  const partitions = Array.from({ length: partitionCount }, (_, partition) => ({ topic, partition }));

  const restart = sleep(3_000).then(() => {
    log(`round ${n}: restarting kafka`);
    const started = Date.now();
    return new Promise<number>((resolve) =>
      spawn('bash', ['stack/stack.sh', 'restart', 'kafka'], { stdio: 'ignore' }).on('exit', () =>
        resolve(Date.now() - started),
      ),
    );
  });
  const client = createKafkaClient({
    brokers: stack.kafkaBrokers,
    clientId: 'atomicity',
    logger: createLogger('error'),
  });
  const admin = client.admin();
  await retrying('admin connect', () => admin.connect());
  let restarted = false;
  void restart.then(() => (restarted = true));
  const commitAll = producerKind === 'instance' ? commitWithInstanceProducer : commitWithKafkajs;
  const commits = await Promise.all(
    transactionalIds.map((transactionalId, p) =>
      commitAll(admin, transactionalId, topic, partitions, p, () => restarted),
    ),
  );
  const acknowledgedBy = commits.map((c) => c.acknowledged.length);
  log(`round ${n}: commits acknowledged per producer: ${acknowledgedBy.join(', ')}; waiting for kafka`);
  const restartMs = await restart;

  const open = await retrying('describe producers', async () => {
    const listed = await describeProducers(broker, partitions);
    return [...listed].flatMap(([key, producers]) =>
      producers.filter((p) => p.currentTxnStartOffset >= 0n).map((p) => ({ key, ...p })),
    );
  });
  // The transactional ids start again: their epochs move on, as an instance's restart does.
  const epochs: string[] = [];
  const states = new Map<bigint, { state: string; producerEpoch: number }>();
  for (const transactionalId of transactionalIds) {
    const coordinator = await retrying('find coordinator', () => findTransactionCoordinator(broker, transactionalId));
    const restarted = await retrying('init producer id', () => initProducerId(coordinator, transactionalId, 300_000));
    const state = await retrying('describe transaction', () => describeTransaction(coordinator, transactionalId));
    epochs.push(`${restarted.producerId}@${restarted.producerEpoch} ${state.state}`);
    states.set(state.producerId, state);
  }
  log(
    `round ${n}: ${open.length} partitions with an open transaction after the restart; restarted ids: ${epochs.join(', ')}`,
  );

  const ended = await retrying('end hanging transactions', () =>
    endHangingTransactions(admin, partitions, createLogger('warn')),
  );
  const stillOpen = [...(await describeProducers(broker, partitions)).values()]
    .flat()
    .filter((p) => p.currentTxnStartOffset >= 0n).length;

  const counts = new Map<string, number>();
  await readTopic(
    topic,
    (message) => {
      const key = message.key!.toString();
      counts.set(key, (counts.get(key) ?? 0) + 1);
    },
    120_000,
  );
  const partial = [...counts].filter(([, c]) => c !== partitionCount);
  await admin.disconnect();
  return {
    round: n,
    topic,
    restartMs,
    acknowledged: acknowledgedBy,
    openAfterRestart: open.length,
    // What the coordinator's current state alone said (the rule before the transaction log was read).
    byCoordinatorState: open.map((o) => {
      const state = states.get(o.producerId);
      const commit =
        state?.producerEpoch === o.producerEpoch && ['PrepareCommit', 'CompleteCommit'].includes(state.state);
      return `${o.key.slice(-8)} epoch ${o.producerEpoch} ${commit ? 'commit' : 'abort'}`;
    }),
    ended: ended.map(
      (h) => `${h.topic.slice(-6)}-${h.partition} epoch ${h.producerEpoch} ${h.commit ? 'commit' : 'abort'}`,
    ),
    stillOpen,
    visibleTransactions: counts.size,
    partial: partial.map(([key, c]) => `${key}: ${c} of ${partitionCount}`),
    failedCommits: commits.map((c) => c.failed.length),
    acknowledgedVisible: commits.every((c, p) =>
      c.acknowledged.every((i) => counts.get(`${p}:${i}`) === partitionCount),
    ),
  };
}

const results = [];
for (let n = 1; n <= rounds; n++) {
  const result = await round(n);
  log(`round ${n}: ${JSON.stringify(result)}`);
  results.push(result);
}
process.stdout.write(JSON.stringify(results, null, 2) + '\n');
process.exit(results.every((r) => r.partial.length === 0 && r.acknowledgedVisible && r.stillOpen === 0) ? 0 : 1);
