/**
 * What the exactly_once_v2 producer's check before each transaction's writes costs: one
 * DescribeProducers per leader for the partitions the transaction writes (to commit its own records
 * Kafka left unmarked, docs/engine.md "Hanging transactions"). Times whole commits of the engine's
 * producer (check included) and the DescribeProducers request alone, on the same partitions.
 *
 *   node --import tsx bench/experiments/commit-check-cost.ts [--partitions 12] [--commits 500]
 *
 * Needs the local stack up. Prints the medians and p95s as JSON.
 */
import { parseArgs } from 'node:util';
import { createKafkaClient } from '../../src/kafka/client.js';
import { InstanceProducer } from '../../src/kafka/instance-producer.js';
import { describeProducers } from '../../src/kafka/transaction-admin.js';
import { BrokerConnection } from '../../src/kafka/wire.js';
import { createLogger } from '../../src/util/logger.js';
import { createTopics } from '../../test/support/kafka.js';
import { stack, uniqueName } from '../../test/support/stack.js';

const { values: options } = parseArgs({
  options: { partitions: { type: 'string', default: '12' }, commits: { type: 'string', default: '500' } },
});
const partitionCount = Number(options.partitions);
const commits = Number(options.commits);
const log = (message: string) => process.stderr.write(`[check-cost] ${message}\n`);

const topic = uniqueName('check-cost');
await createTopics([topic], partitionCount);
const partitions = Array.from({ length: partitionCount }, (_, partition) => ({ topic, partition }));
const client = createKafkaClient({
  brokers: stack.kafkaBrokers,
  clientId: 'check-cost',
  logger: createLogger('error'),
});
const admin = client.admin();
await admin.connect();
const [host, port] = stack.kafkaBrokers[0]!.split(':');
const broker = { host: host!, port: Number(port) };
const transactionalId = uniqueName('check-cost');
const producer = new InstanceProducer({
  admin,
  bootstrap: broker,
  transactionalId,
  transactionTimeoutMs: 10_000,
  membership: () => undefined,
  clientId: 'check-cost',
  groupId: transactionalId,
  writtenTopics: [topic],
  logger: createLogger('warn'),
});

const quantiles = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(3));
  return { p50: at(0.5), p95: at(0.95), max: at(1) };
};

const commitTimes: number[] = [];
for (let i = 0; i < commits + 50; i++) {
  const started = performance.now();
  await producer.commit(
    partitions.map(({ partition }) => ({
      topic,
      partition,
      key: Buffer.from(String(i)),
      value: Buffer.from('v'),
      timestamp: Date.now(),
    })),
    { groupId: transactionalId, offsets: new Map() },
  );
  if (i >= 50) commitTimes.push(performance.now() - started);
  if (i % 100 === 0) log(`commit ${i}/${commits + 50}`);
}
await producer.close();

const connection = new BrokerConnection(broker, 'check-cost');
const checkTimes: number[] = [];
for (let i = 0; i < commits + 50; i++) {
  const started = performance.now();
  await describeProducers(connection, partitions);
  if (i >= 50) checkTimes.push(performance.now() - started);
}
connection.close();
await admin.disconnect();

const commit = quantiles(commitTimes);
const check = quantiles(checkTimes);
process.stdout.write(
  JSON.stringify(
    {
      partitions: partitionCount,
      commits,
      commitMs: commit,
      describeProducersMs: check,
      checkShareOfCommitP50: Number((check.p50 / commit.p50).toFixed(3)),
    },
    null,
    2,
  ) + '\n',
);
