/** The engine's Kafka client on kafkajs (the design's client): the one place kafkajs clients are created. */
import { Kafka, logLevel, type KafkaConfig, type LogEntry } from 'kafkajs';
import type { KafkaClient, KafkaClientOptions } from '../client.js';
import type { KafkaSecurity } from '../security.js';
import { KafkajsAdmin } from './admin.js';
import { KafkajsGroupConsumer } from './group-consumer.js';
import { TransactionalWriter } from './transactional-writer.js';

const expected = new RegExp(
  [
    'rebalanc',
    'concurrent operation on the same transaction',
    'not the leader for that topic-partition',
    'coordinator is loading',
    'coordinator is not available',
    'topic creation errors',
  ].join('|'),
  'i',
);

export function createKafkajsClient(options: KafkaClientOptions): KafkaClient {
  const kafka = createKafka(options);
  return {
    admin: () => new KafkajsAdmin(kafka.admin(), options.security),
    groupConsumer: (consumerOptions) => new KafkajsGroupConsumer(kafka, consumerOptions),
    taskWriter: (transactionalId) => new TransactionalWriter(kafka, transactionalId),
  };
}

/** A kafkajs client whose log goes to ours. */
function createKafka(options: KafkaClientOptions): Kafka {
  const log = options.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    ...kafkajsSecurity(options.security),
    connectionTimeout: 3000,
    retry: { initialRetryTime: 100, retries: 8 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...fields } = entry;
        const at = level <= logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : 'debug';
        // kafkajs logs as errors conditions that are retried and expected: a rebalance in
        // progress, a transaction begun while the broker completes the previous one, a leader
        // still being elected for a partition just created, a coordinator still loading its
        // state after a broker start, and a topic another instance created first (a real
        // creation failure is thrown, and the caller reports it).
        if (expected.test(`${message} ${String(fields.error ?? '')}`)) log.debug(message, fields);
        else log[at](message, fields);
      },
  });
}

/** kafkajs' `ssl` and `sasl` for our settings. */
export function kafkajsSecurity(security: KafkaSecurity | undefined): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  if (!security?.tls) return {};
  const ssl = security.tls.ca !== undefined ? { ca: [security.tls.ca] } : true;
  const sasl = security.sasl;
  if (!sasl) return { ssl };
  const { username, password } = sasl;
  switch (sasl.mechanism) {
    case 'SCRAM-SHA-512':
      return { ssl, sasl: { mechanism: 'scram-sha-512', username, password } };
    case 'SCRAM-SHA-256':
      return { ssl, sasl: { mechanism: 'scram-sha-256', username, password } };
    case 'PLAIN':
      return { ssl, sasl: { mechanism: 'plain', username, password } };
  }
}
