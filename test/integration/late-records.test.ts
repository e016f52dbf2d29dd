// Late records to the dead-letter topic (lateRecords: dead-letter): a record too late for its
// window is counted, copied once to the dead-letter topic with reason "late" and where it came
// from, and processing goes on; by default (drop) it is only counted.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { TimeWindows } from '../../src/dsl/windows.js';
import { Serdes, timeWindowedSerde, type Serde } from '../../src/serdes/index.js';
import { longNumberSerde } from '../../src/serdes/long-number.js';
import { connectedProducer, createTopics, readTopic } from '../support/kafka.js';
import { eventually, uniqueName } from '../support/stack.js';
import { streamsOnStack } from '../support/streams.js';

const S = { keySerde: Serdes.string, valueSerde: Serdes.string };
const counts = { keySerde: timeWindowedSerde(Serdes.string, 10_000), valueSerde: longNumberSerde as Serde<number> };

t.test('a late record goes to the dead-letter topic once, and processing goes on', async (t) => {
  const prefix = uniqueName('late');
  const input = `${prefix}-clicks`;
  const output = `${prefix}-counts`;
  await createTopics([input, output], 1);
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-late-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const builder = new StreamsBuilder();
  const grouped = builder.stream(input, S).groupByKey(S);
  // Two windowed aggregates: a record late for both is still one dead letter.
  for (const storeName of ['a', 'b']) {
    grouped
      .windowedBy(TimeWindows.ofSizeAndGrace(10_000, 1_000))
      .count({ storeName })
      .toStream()
      .filter(() => storeName === 'a')
      .to(output, counts);
  }
  const app = streamsOnStack(builder.build(), { applicationId: prefix, stateDir, lateRecords: 'dead-letter' });
  t.teardown(() => app.stop());
  await app.start();

  // Recent times: the broker deletes records older than its retention (a week) by their timestamps.
  const base = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
  const producer = await connectedProducer();
  t.teardown(() => producer.disconnect());
  const send = (value: string, at: number) =>
    producer.send({
      topic: input,
      messages: [{ key: 'k', value, timestamp: String(base + at), headers: { trace: value } }],
    });
  await send('first', 1_000);
  await send('moves-time-on', 12_000); // the window [0, 10 s) closes at 11 s
  await send('late', 2_000);
  await send('after', 13_000);

  const rows = async () => {
    const table = new Map<string, number>();
    await readTopic(output, (m) => {
      const { key, window } = counts.keySerde.deserialize(m.key!);
      table.set(`${key}@${window.start - base}`, counts.valueSerde.deserialize(m.value!));
    });
    return Object.fromEntries(table);
  };
  await eventually('the records after the late one to be counted', 60_000, async () =>
    (await rows())['k@10000'] === 2 ? true : undefined,
  );
  t.same(await rows(), { 'k@0': 1, 'k@10000': 2 }, 'the late record changed nothing, the next one counted');

  const letters: Array<{ value: string; headers: Record<string, string> }> = [];
  await eventually('the dead letter', 60_000, async () => {
    letters.length = 0;
    await readTopic(`${prefix}-dead-letters`, (m) =>
      letters.push({
        value: m.value!.toString(),
        headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])),
      }),
    );
    return letters.length > 0 ? true : undefined;
  });
  t.equal(letters.length, 1, 'one dead letter, though two aggregates dropped the record');
  t.equal(letters[0]!.value, 'late');
  t.match(letters[0]!.headers, {
    trace: 'late',
    'dlq.reason': 'late',
    'dlq.source.topic': input,
    'dlq.source.offset': '2',
  });
  t.match(letters[0]!.headers['dlq.error'], /window it falls in had closed/);
});
