// Compiling the graph: sub-topologies, internal topic names, describe(), and errors at build time.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { compileTopology } from '../../src/processor/compile.js';
import { describeMermaid, describeText } from '../../src/processor/describe.js';
import { InvalidRecordError } from '../../src/processor/errors.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import { Serdes } from '../../src/serdes/index.js';

const strings = { keySerde: Serdes.string, valueSerde: Serdes.string };

function twoStageTopology() {
  const builder = new StreamsBuilder();
  builder
    .table('items', { ...strings, storeName: 'items' })
    .groupBy((_k, v) => ({ key: v, value: v }), { name: 'by-value', ...strings })
    .count({ storeName: 'value-counts' })
    .toStream()
    .to('out', { keySerde: Serdes.string, valueSerde: Serdes.json<number>() });
  return builder.build();
}

t.test('a groupBy splits the graph into two sub-topologies joined by a repartition topic', async (t) => {
  const topology = compileTopology(twoStageTopology(), 'app');
  t.equal(topology.subtopologies.length, 2);
  const [first, second] = topology.subtopologies;
  t.same(
    first!.sources.map((s) => s.topic),
    ['items'],
  );
  t.same(first!.sinkTopics, ['app-by-value-repartition']);
  t.same(second!.sources, [{ topic: 'app-by-value-repartition', internal: true, nodeIds: ['aggregate-1'] }]);
  t.same(second!.sinkTopics, ['out']);
  t.same(topology.repartitionTopics, ['app-by-value-repartition']);
  t.same(topology.changelogTopics, ['app-items-changelog', 'app-value-counts-changelog']);
});

t.test('describe() gives text and a Mermaid flowchart', async (t) => {
  const topology = compileTopology(twoStageTopology(), 'app');
  const text = describeText(topology);
  t.match(text, /Sub-topology 0: one task per partition of items/);
  t.match(text, /group-by-1 -> topic app-by-value-repartition/);
  t.match(text, /store value-counts, changelog app-value-counts-changelog/);
  const mermaid = describeMermaid(topology);
  t.match(mermaid, /^flowchart TD/);
  t.match(mermaid, /subgraph sub1/);
  t.match(mermaid, /topic_app_by_value_repartition\[\/"app-by-value-repartition"\/\]/);
});

t.test('a join merges both sides into one sub-topology', async (t) => {
  const builder = new StreamsBuilder();
  const a = builder.table('a', strings);
  const b = builder.table('b', strings);
  a.join(b, (x, y) => x + y)
    .toStream()
    .to('ab', strings);
  const topology = compileTopology(builder.build(), 'app');
  t.equal(topology.subtopologies.length, 1);
  t.same(topology.subtopologies[0]!.sources.map((s) => s.topic).sort(), ['a', 'b']);
});

t.test('mistakes are reported when the topology is built', async (t) => {
  const rekeyed = new StreamsBuilder();
  rekeyed
    .stream('s', strings)
    .selectKey((_k, v) => v)
    .toTable({ storeName: 't', ...strings });
  t.throws(
    () => compileTopology(rekeyed.build(), 'app'),
    /key was changed \(selectKey, map or flatMap\); repartition or group it first/,
  );

  const sameStore = new StreamsBuilder();
  sameStore.table('x', { ...strings, storeName: 'dup' });
  sameStore.table('y', { ...strings, storeName: 'dup' });
  t.throws(() => compileTopology(sameStore.build(), 'app'), /store name "dup" is used twice/);

  t.throws(() => new StreamsBuilder().table('bad topic!', strings), /may only contain/);
});

t.test('a bad record becomes a dead letter, its writes are taken back, and the next record is processed', async (t) => {
  const builder = new StreamsBuilder();
  builder
    .table('items', { keySerde: Serdes.string, valueSerde: Serdes.json<{ group: string }>() })
    .mapValues((item) => {
      if (item.group === 'poison') throw new InvalidRecordError('poisoned group');
      return item;
    })
    .groupBy((_k, item) => ({ key: item.group, value: item.group }), strings)
    .count({ storeName: 'group-counts' });
  const driver = new TopologyTestDriver(builder.build());
  driver.pipeRaw('items', Buffer.from('i1'), Buffer.from('{"group":"a"}'));
  driver.pipeRaw('items', Buffer.from('i2'), Buffer.from('{"group": not json'));
  driver.pipeRaw('items', Buffer.from('i3'), Buffer.from('{"group":"poison"}'));
  driver.pipeRaw('items', Buffer.from('i4'), Buffer.from('{"group":"a"}'));
  t.equal(driver.get('group-counts', 'a'), 2, 'records after the bad ones are processed');
  t.same(
    driver.deadLetters.map((d) => [d.record.key?.toString(), d.reason, d.record.offset]),
    [
      ['i2', 'DeserializationError', '1'],
      ['i3', 'InvalidRecordError', '2'],
    ],
  );
  const items = await driver.all<string, { group: string }>('items-table');
  t.same([...items.keys()].sort(), ['i1', 'i4'], 'the poisoned record left no row in the table');
});
