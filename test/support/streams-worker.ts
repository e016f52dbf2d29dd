// A process running the count/join test topology, for tests that kill -9 it.
// Usage: streams-worker.ts <prefix> <endpoint> <stateDir>
import { KafkaStreams } from '../../src/runtime/kafka-streams.js';
import { createLogger, type LogLevel } from '../../src/util/logger.js';
import { stack } from './stack.js';
import { countJoinTopology, topicsFor } from './count-join-topology.js';

const [prefix, endpoint, stateDir] = process.argv.slice(2);
if (!prefix || !endpoint || !stateDir) throw new Error('usage: streams-worker.ts <prefix> <endpoint> <stateDir>');
const streams = new KafkaStreams(
  countJoinTopology(prefix),
  {
    applicationId: prefix,
    brokers: stack.kafkaBrokers,
    stateDir,
    endpoint,
    commitIntervalMs: 50,
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
