/**
 * The one place that creates kafkajs clients. Everything Kafka-specific the
 * engine needs lives in src/kafka/, so the client library can be swapped.
 */
import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { Logger } from '../util/logger.js';

export type { Admin, Consumer, EachBatchPayload, Producer, Transaction } from 'kafkajs';

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

export function createKafka(options: { brokers: string[]; clientId: string; logger: Logger }): Kafka {
  const log = options.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
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
