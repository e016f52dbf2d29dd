// A task's producer fences the task's previous owner when it connects, on the real broker:
// the old owner's open transaction is aborted and it can commit nothing more, so what the new
// owner reads next (changelog ends, committed offsets) is final. kafkajs sends InitProducerId
// with the transactional id only when a first transaction begins; before the fix a new owner's
// `connect` fenced nothing, and the old owner's commits went on landing after the new owner had
// read its starting point (counts too high, and renames lost, in issue 10).
import t from 'tap';
import { createLogger } from '../../src/util/logger.js';
import { createKafkaClient } from '../../src/kafka/client.js';
import { isFencedError } from '../../src/kafka/commit-writer.js';
import { createTopics, kafka as testKafka, readTable } from '../support/kafka.js';
import { stack, uniqueName } from '../support/stack.js';

const kafka = createKafkaClient({
  brokers: stack.kafkaBrokers,
  clientId: 'fencing-test',
  logger: createLogger('error'),
});
const record = (topic: string, key: string) => ({
  topic,
  partition: 0,
  key: Buffer.from(key),
  value: Buffer.from('v'),
  timestamp: Date.now(),
});
const noOffsets = { groupId: 'unused', offsets: new Map() };

t.test('connecting fences the previous producer of the same transactional id', async (t) => {
  const topic = uniqueName('fencing');
  await createTopics([topic], 1);
  const transactionalId = uniqueName('task');

  const old = kafka.taskWriter(transactionalId);
  await old.connect();
  await old.commit([record(topic, 'before')], noOffsets);

  const successor = kafka.taskWriter(transactionalId);
  await successor.connect();
  t.teardown(async () => {
    await old.disconnect().catch(() => undefined);
    await successor.disconnect();
  });

  const error = await old.commit([record(topic, 'zombie')], noOffsets).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error, "the old owner's next commit fails");
  t.ok(isFencedError(error), `and is recognised as fenced (${String((error as Error)?.message)})`);
  await successor.commit([record(topic, 'after')], noOffsets);
  t.same([...(await readTable(topic)).keys()].sort(), ['after', 'before'], 'nothing of the fenced commit is visible');
});

t.test("connecting aborts the previous producer's open transaction at once", async (t) => {
  const topic = uniqueName('fencing-open');
  await createTopics([topic], 1);
  const transactionalId = uniqueName('task');

  // The old owner is in the middle of a transaction (it was paused, or is slow to commit).
  const oldProducer = testKafka.producer({ transactionalId, maxInFlightRequests: 1 });
  await oldProducer.connect();
  const transaction = await oldProducer.transaction();
  await transaction.send({ topic, messages: [{ partition: 0, key: 'open', value: 'v' }] });

  const successor = kafka.taskWriter(transactionalId);
  await successor.connect();
  t.teardown(async () => {
    await oldProducer.disconnect().catch(() => undefined);
    await successor.disconnect();
  });
  await t.rejects(transaction.commit(), 'the open transaction can no longer be committed');
  // The topic is readable to its end right away: nothing stays pending behind the aborted transaction.
  t.same([...(await readTable(topic)).keys()], [], 'its records are aborted, not pending');
});
