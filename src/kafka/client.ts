/**
 * The one place that creates kafkajs clients. Everything Kafka-specific the
 * engine needs lives in src/kafka/, so the client library can be swapped.
 */
import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { Logger } from '../util/logger.js';

export type { Admin, Consumer, EachBatchPayload, Producer, Transaction } from 'kafkajs';

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
        // kafkajs logs its own retries of a rebalance in progress as errors; they are expected.
        if (typeof fields.error === 'string' && /rebalanc/i.test(fields.error)) log.debug(message, fields);
        else log[at](message, fields);
      },
  });
}
