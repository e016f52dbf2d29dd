// Headers travel with what a record causes, as in Kafka Streams: through stateless operators,
// repartition topics, aggregates and joins to the sinks; the engine's own `uis-*` headers stay inside.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { repartitionTopicName } from '../../src/processor/compile.js';
import { applicationHeaders } from '../../src/processor/record-headers.js';
import type { Header } from '../../src/processor/types.js';
import { Serdes } from '../../src/serdes/index.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';

const text = { keySerde: Serdes.string, valueSerde: Serdes.string };
const header = (key: string, value: string): Header => ({ key, value: Buffer.from(value) });
const shown = (headers: ReadonlyArray<readonly Header[]>) =>
  headers.map((list) => list.map((h) => `${h.key}=${h.value.toString()}`));
const pipe = (driver: TopologyTestDriver, topic: string, key: string, value: string | null, headers?: Header[]) =>
  driver.pipeRaw(topic, Buffer.from(key), value === null ? null : Buffer.from(value), undefined, headers);

t.test('applicationHeaders leaves out only the engine-owned uis-* headers', async (t) => {
  t.equal(applicationHeaders(undefined), undefined);
  t.equal(applicationHeaders([]), undefined);
  const mine = [header('trace', '1'), header('tenant', 'x')];
  t.equal(applicationHeaders(mine), mine, 'no engine header: the same list, not a copy');
  t.equal(applicationHeaders([header('uis-lineage', 'l')]), undefined);
  t.same(shown([applicationHeaders([header('uis-inputs', 'i'), header('trace', '1'), header('uis-lineage', 'l')])!]), [
    ['trace=1'],
  ]);
});

t.test('stateless operators and a repartition topic pass the input headers to the sink', async (t) => {
  const builder = new StreamsBuilder();
  builder
    .stream('in', text)
    .flatMapValues((v) => (v ?? '').split(' '))
    .map((_k, w) => ({ key: w, value: w.toUpperCase() }))
    .repartition({ name: 'words', ...text })
    .filter((_k, v) => v !== 'SKIP')
    .to('out', text);
  const driver = new TopologyTestDriver(builder.build());
  pipe(driver, 'in', 'k1', 'a skip b', [header('trace', 't1'), header('uis-lineage', 'forged')]);
  pipe(driver, 'in', 'k2', 'c');
  t.same(
    driver.readOutput('out', text).map((r) => r.value),
    ['A', 'B', 'C'],
  );
  t.same(shown(driver.outputHeaders('out')), [['trace=t1'], ['trace=t1'], []]);
  t.same(
    shown(driver.outputHeaders(repartitionTopicName('test-app', 'words'))),
    [['trace=t1'], ['trace=t1'], ['trace=t1'], []],
    'the repartition records carry them too',
  );
});

t.test(
  "an aggregate's output carries the headers of the record that last changed it; a join passes them on",
  async (t) => {
    const builder = new StreamsBuilder();
    const counts = builder.stream('clicks', text).groupByKey(text).count({ storeName: 'clicks-per-user' });
    const names = builder.table('names', { ...text, storeName: 'names' });
    counts
      .join(names, (count, name) => `${name}:${count}`)
      .toStream()
      .to('out', text);
    const driver = new TopologyTestDriver(builder.build());
    pipe(driver, 'names', 'u1', 'ann', [header('source', 'names')]);
    pipe(driver, 'clicks', 'u1', 'x', [header('trace', 'c1')]);
    pipe(driver, 'clicks', 'u1', 'y', [header('trace', 'c2')]);
    pipe(driver, 'names', 'u1', 'anna');
    t.same(
      driver.readOutput('out', text).map((r) => r.value),
      ['ann:1', 'ann:2', 'anna:2'],
    );
    t.same(shown(driver.outputHeaders('out')), [['trace=c1'], ['trace=c2'], []]);
  },
);
