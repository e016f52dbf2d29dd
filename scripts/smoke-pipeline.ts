// Shows one change flowing PostgreSQL -> Debezium -> Kafka on the local stack:
// upserts a demo user, then prints the change record read back with kafkajs.
import pg from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { stack } from '../test/support/stack.js';

const userId = 4_242_424_242;
const db = new pg.Client(stack.postgres);
await db.connect();
const kafka = new Kafka({ clientId: 'uis-smoke', brokers: stack.kafkaBrokers, logLevel: logLevel.NOTHING });
const consumer = kafka.consumer({ groupId: `uis-smoke-${Date.now()}` });
await consumer.connect();
await consumer.subscribe({ topic: `${stack.cdcTopicPrefix}.public.users`, fromBeginning: false });

const received = new Promise<string>((resolve) => {
  void consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      if (message.key?.toString() === JSON.stringify({ user_id: userId }) && message.value) {
        resolve(`${topic}[${partition}]@${message.offset}\n${message.value.toString()}`);
      }
    },
  });
});
await new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
await new Promise((resolve) => setTimeout(resolve, 1000));

const committedAt = Date.now();
await db.query(
  `INSERT INTO users (user_id, username, name, description) VALUES ($1, 'smoke', 'Smoke Test', $2)
   ON CONFLICT (user_id) DO UPDATE SET description = EXCLUDED.description`,
  [userId, `updated at ${new Date().toISOString()}`],
);
const record = await Promise.race([
  received,
  new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no change record within 15 s')), 15_000)),
]);
console.log(`change record after ${Date.now() - committedAt} ms:\n${record}`);
await consumer.disconnect();
await db.end();
