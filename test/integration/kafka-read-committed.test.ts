// read_committed through kafkajs, on the real broker: records of aborted transactions are never
// delivered, also when aborted transactions interleave. kafkajs 2.2.4 delivered them then (the
// broker lists aborted transactions in the order they ended, kafkajs assumed the order they began);
// every restore, standby and repartition read of the engine depends on it. patches/kafkajs+2.2.4.patch.
import t from 'tap';
import { createTopics, kafka, readTable } from '../support/kafka.js';
import { uniqueName } from '../support/stack.js';

t.test('interleaved aborted transactions are filtered out', async (t) => {
  const topic = uniqueName('aborted');
  await createTopics([topic], 1);
  const producer = async (name: string) => {
    const p = kafka.producer({ transactionalId: `${topic}-${name}`, maxInFlightRequests: 1 });
    await p.connect();
    t.teardown(() => p.disconnect());
    return p;
  };
  const [a, b, c] = [await producer('a'), await producer('b'), await producer('c')];
  // a begins first and ends last: its abort marker comes after b's.
  const ta = await a.transaction();
  await ta.send({ topic, messages: [{ key: 'a1', value: 'x' }] });
  const tb = await b.transaction();
  await tb.send({ topic, messages: [{ key: 'b1', value: 'x' }] });
  await ta.send({ topic, messages: [{ key: 'a2', value: 'x' }] });
  await tb.abort();
  await ta.abort();
  const tc = await c.transaction();
  await tc.send({ topic, messages: [{ key: 'committed', value: 'x' }] });
  await tc.commit();
  t.same([...(await readTable(topic)).keys()], ['committed'], 'only the committed record is read');
});
