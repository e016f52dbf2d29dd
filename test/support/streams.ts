// A KafkaStreams on the local stack as the engine's integration tests run it.
import type { TopologyGraph } from '../../src/dsl/graph.js';
import { KafkaStreams, type KafkaStreamsOptions } from '../../src/runtime/kafka-streams.js';
import type { StreamsSettings } from '../../src/runtime/config.js';
import { createLogger, type LogLevel } from '../../src/util/logger.js';
import { stack } from './stack.js';

/**
 * An application on the stack's broker with the test's Kafka client (UIS_KAFKA_CLIENT), commits every
 * 50 ms, a placeholder endpoint and logs at TEST_LOG_LEVEL (default error); `settings` override any of it.
 */
export function streamsOnStack(
  graph: TopologyGraph,
  settings: Pick<StreamsSettings, 'applicationId' | 'stateDir'> & Partial<StreamsSettings>,
  options: KafkaStreamsOptions = {},
): KafkaStreams {
  return new KafkaStreams(
    graph,
    {
      brokers: stack.kafkaBrokers,
      endpoint: '127.0.0.1:1',
      commitIntervalMs: 50,
      kafkaClient: stack.kafkaClient,
      ...settings,
    },
    { logger: createLogger((process.env.TEST_LOG_LEVEL ?? 'error') as LogLevel), ...options },
  );
}
