// Debezium captures a row's insert, update and delete in PostgreSQL and
// publishes create/update/delete records and a tombstone on the CDC topic,
// flattened by ExtractNewRecordState as stack/connect/ configures it: the row's
// columns plus __op and __source_ts_ms; a delete carries its before image and
// __deleted, then a tombstone.
import t from 'tap';
import pg from 'pg';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { stack, uniqueName, eventually } from '../support/stack.js';

interface FlattenedEvent {
  __op: 'c' | 'u' | 'd' | 'r';
  __source_ts_ms: number;
  __deleted?: string;
  [column: string]: unknown;
}

t.test('insert, update and delete of a user arrive as c, u, d and a tombstone', async (t) => {
  const db = new pg.Client(stack.postgres);
  await db.connect();
  t.teardown(() => db.end());

  const kafka = new Kafka({ clientId: 'cdc-test', brokers: stack.kafkaBrokers, logLevel: logLevel.NOTHING });
  const topic = `${stack.cdcTopicPrefix}.public.users`;
  // Ids below 2^53 here: this test reads the events with JSON.parse.
  const userId = 1_000_000_000 + Math.floor(Math.random() * 1_000_000_000);
  const username = uniqueName('cdc');

  const consumer = kafka.consumer({ groupId: uniqueName('cdc-test') });
  await consumer.connect();
  t.teardown(() => consumer.disconnect());
  await consumer.subscribe({ topic, fromBeginning: false });
  const mine: KafkaMessage[] = [];
  let assigned = false;
  consumer.on(consumer.events.GROUP_JOIN, () => void (assigned = true));
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.key?.toString() === JSON.stringify({ user_id: userId })) mine.push(message);
    },
  });
  await eventually('the consumer to join its group', 30_000, async () => (assigned ? true : undefined));
  // The consumer starts at the end of the topic: give it a moment to fetch its starting offsets.
  await new Promise((resolve) => setTimeout(resolve, 1000));

  const started = Date.now();
  await db.query('INSERT INTO users (user_id, username, name) VALUES ($1, $2, $3)', [userId, username, 'First']);
  await db.query('UPDATE users SET name = $2 WHERE user_id = $1', [userId, 'Second']);
  await db.query('DELETE FROM users WHERE user_id = $1', [userId]);

  await eventually('4 records for the user', 15_000, async () => (mine.length >= 4 ? true : undefined));
  t.comment(`all four records arrived ${Date.now() - started} ms after the first commit`);

  const [created, updated, deleted, tombstone] = mine;
  const parse = (m: KafkaMessage | undefined): FlattenedEvent =>
    JSON.parse(m?.value?.toString() ?? 'null') as FlattenedEvent;
  t.match(parse(created), { __op: 'c', user_id: userId, username, name: 'First' });
  t.notOk('after' in parse(created) || 'source' in parse(created), 'no envelope around the row');
  t.match(parse(updated), { __op: 'u', user_id: userId, name: 'Second' });
  t.match(parse(deleted), { __op: 'd', __deleted: 'true', user_id: userId });
  t.equal(tombstone?.value, null, 'a tombstone follows the delete');
  t.equal(mine.length, 4, 'nothing else for this key');
  const committed = parse(created).__source_ts_ms;
  t.ok(committed >= started - 1000 && committed <= Date.now(), `the source commit time is carried (${committed})`);
});
