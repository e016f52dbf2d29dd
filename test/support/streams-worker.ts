// A process running a test topology (the count/join one, or the windowed one), for tests that kill -9 it.
// Usage: streams-worker.ts <prefix> <endpoint> <stateDir> [exactly_once|exactly_once_v2] [count-join|windowed]
import { KafkaStreams } from '../../src/runtime/kafka-streams.js';
import { createLogger, type LogLevel } from '../../src/util/logger.js';
import { stack } from './stack.js';
import { countJoinTopology, topicsFor } from './count-join-topology.js';
import { windowedTopology } from './windowed-topology.js';

const [prefix, endpoint, stateDir, guarantee = 'exactly_once', topology = 'count-join'] = process.argv.slice(2);
if (!prefix || !endpoint || !stateDir)
  throw new Error('usage: streams-worker.ts <prefix> <endpoint> <stateDir> [guarantee]');
if (guarantee !== 'exactly_once' && guarantee !== 'exactly_once_v2') throw new Error(`unknown guarantee ${guarantee}`);
if (topology !== 'count-join' && topology !== 'windowed') throw new Error(`unknown topology ${topology}`);
const streams = new KafkaStreams(
  topology === 'windowed' ? windowedTopology(prefix) : countJoinTopology(prefix),
  {
    applicationId: prefix,
    brokers: stack.kafkaBrokers,
    stateDir,
    endpoint,
    commitIntervalMs: 50,
    processingGuarantee: guarantee,
    kafkaClient: stack.kafkaClient,
    sessionTimeoutMs: 6000,
  },
  {
    logger: createLogger((process.env.TEST_LOG_LEVEL ?? 'warn') as LogLevel, { endpoint }),
    sinkTopicConfigs: { [topicsFor(prefix).summaries]: { 'cleanup.policy': 'compact' } },
  },
);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void streams.stop().then(() => process.exit(0)));
}
await streams.start();
process.stdout.write('started\n');
