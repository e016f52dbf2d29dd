/**
 * The engine's Kafka client with @platformatic/kafka for group membership and
 * our own fetch loop for the records (group-consumer.ts). Cluster metadata,
 * offsets and the per-task producers of exactly_once stay on kafkajs.
 */
import type { KafkaClient, KafkaClientOptions } from '../client.js';
import { createKafkajsClient } from '../kafkajs/client.js';
import { PlatformaticGroupConsumer } from './group-consumer.js';

export function createPlatformaticClient(options: KafkaClientOptions): KafkaClient {
  const kafkajs = createKafkajsClient(options);
  return {
    admin: () => kafkajs.admin(),
    groupConsumer: (consumerOptions) =>
      new PlatformaticGroupConsumer(consumerOptions, {
        clientId: options.clientId,
        brokers: options.brokers,
        ...(options.security ? { security: options.security } : {}),
        admin: kafkajs.admin(),
        logger: options.logger,
      }),
    taskWriter: (transactionalId) => kafkajs.taskWriter(transactionalId),
  };
}
