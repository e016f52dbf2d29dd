/**
 * Are transactions still atomic after the broker restarts in the middle of commits? A transactional
 * producer commits transaction after transaction, each writing its number to every partition of a
 * topic, while the stack's Kafka restarts (SIGTERM). A commit that reaches the broker as it shuts
 * down can be decided with some of its markers skipped (the coordinator finds no leader), leaving
 * the transaction open on those partitions. Then the producer's transactional id starts again (a new
 * epoch: the case where the coordinator's state no longer says how the old transaction ended), the
 * engine's repair runs (`endHangingTransactions`), and every partition is read with read_committed:
 * each transaction must be visible on every partition or on none.
 *
 *   node --import tsx bench/experiments/restart-atomicity.ts [--rounds 3] [--partitions 12] [--producers 4]
 *
 * Needs the local stack up (`bash stack/stack.sh up`); it restarts its Kafka once per round. Progress
 * on stderr, a JSON summary on stdout; exits 1 if any transaction is visible on only some partitions.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createKafkaClient } from '../../src/kafka/client.js';
import { initProducerId } from '../../src/kafka/group-transactions.js';
import { endHangingTransactions } from '../../src/kafka/hanging-transactions.js';
import {
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
  },
});
const rounds = Number(options.rounds);
const partitionCount = Number(options.partitions);
const producerCount = Number(options.producers);
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
  // Each producer commits until the broker goes away.
  const acknowledgedBy = await Promise.all(
    transactionalIds.map(async (transactionalId, p) => {
      const producer = kafka.producer({
        transactionalId,
        maxInFlightRequests: 1,
        idempotent: true,
        transactionTimeout: 300_000,
        retry: { retries: 1, initialRetryTime: 100 },
      });
      await producer.connect();
      let acknowledged = 0;
      for (let i = 0; i < 100_000; i++) {
        try {
          const transaction = await producer.transaction();
          await transaction.send({
            topic,
            messages: partitions.map(({ partition }) => ({ partition, key: `${p}:${i}`, value: String(i) })),
          });
          await transaction.commit();
          acknowledged++;
        } catch {
          break;
        }
      }
      await producer.disconnect().catch(() => undefined);
      return acknowledged;
    }),
  );
  log(`round ${n}: commits acknowledged per producer: ${acknowledgedBy.join(', ')}; waiting for kafka`);
  const restartMs = await restart;

  const client = createKafkaClient({
    brokers: stack.kafkaBrokers,
    clientId: 'atomicity',
    logger: createLogger('error'),
  });
  const admin = client.admin();
  await retrying('admin connect', () => admin.connect());
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
    acknowledgedVisible: acknowledgedBy.every((count, p) =>
      [...Array(count).keys()].every((i) => counts.get(`${p}:${i}`) === partitionCount),
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
