// The stream operators: map, flatMap, flatMapValues, peek, foreach, filterNot, merge, split,
// repartition, groupByKey, reduce; stream-table joins and table outer joins. In the test driver.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { compileTopology } from '../../src/processor/compile.js';
import { describeText } from '../../src/processor/describe.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import { Serdes, type Serde } from '../../src/serdes/index.js';
import { longNumberSerde } from '../../src/serdes/long-number.js';

const text = { keySerde: Serdes.string, valueSerde: Serdes.string };
const numbers = { keySerde: Serdes.string, valueSerde: longNumberSerde as Serde<number> };

/** The records a topic got, as [key, value] pairs. */
function pairs<V>(
  driver: TopologyTestDriver,
  topic: string,
  serdes: { keySerde: Serde<string>; valueSerde: Serde<V> },
) {
  return driver.readOutput(topic, serdes).map((r) => [r.key, r.value]);
}

t.test('map, flatMap, flatMapValues, filterNot and peek', async (t) => {
  const builder = new StreamsBuilder();
  const seen: string[] = [];
  const lines = builder.stream('lines', text);
  lines
    .flatMapValues((line) => line.split(' '))
    .filterNot((_key, word) => word === '')
    .peek((key, word) => seen.push(`${key}:${word}`))
    .map((key, word) => ({ key: word, value: `${word}@${key}` }))
    .to('words', text);
  lines
    .flatMap((key, line) => [...line].slice(0, 2).map((c, i) => ({ key: `${key}${i}`, value: c })))
    .to('chars', text);
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('lines', text, 'l1', 'to be  or');
  t.same(pairs(driver, 'words', text), [
    ['to', 'to@l1'],
    ['be', 'be@l1'],
    ['or', 'or@l1'],
  ]);
  t.same(seen, ['l1:to', 'l1:be', 'l1:or'], 'peek saw each record once, in order');
  t.same(pairs(driver, 'chars', text), [
    ['l10', 't'],
    ['l11', 'o'],
  ]);
});

t.test('foreach sees every record and ends the stream', async (t) => {
  const builder = new StreamsBuilder();
  const seen: Array<[string | null, string | null]> = [];
  builder.stream('in', text).foreach((key, value) => seen.push([key, value]));
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('in', text, 'a', '1');
  driver.pipe('in', text, 'b', null);
  t.same(seen, [
    ['a', '1'],
    ['b', null],
  ]);
});

t.test('merge: both streams records in one, in processing order', async (t) => {
  const builder = new StreamsBuilder();
  const left = builder.stream('left', text).mapValues((v) => `L${v}`);
  const right = builder.stream('right', text);
  left.merge(right, 'both').to('out', text);
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('left', text, 'k', '1');
  driver.pipe('right', text, 'k', '2');
  driver.pipe('left', text, 'k', '3');
  t.same(pairs(driver, 'out', text), [
    ['k', 'L1'],
    ['k', '2'],
    ['k', 'L3'],
  ]);
  t.equal(driver.topology.subtopologies.length, 1, 'a merge runs its inputs in one task');
});

t.test('split: the first matching branch takes a record; the default branch the rest', async (t) => {
  const builder = new StreamsBuilder();
  const branches = builder
    .stream('in', numbers)
    .split('n-')
    .branch((_k, n) => n < 0, { name: 'negative' })
    .branch((_k, n) => n < 10, { name: 'small', chain: (s) => s.mapValues((n) => n * 100) })
    .branch((_k, n) => n > 1000, { chain: (s) => void s.to('huge', numbers) })
    .defaultBranch();
  t.same(Object.keys(branches).sort(), ['n-0', 'n-negative', 'n-small'], 'a chain that returns nothing is left out');
  branches['n-negative']!.to('negative', numbers);
  branches['n-small']!.to('small', numbers);
  branches['n-0']!.to('rest', numbers);
  const driver = new TopologyTestDriver(builder.build());
  for (const [key, n] of [
    ['a', -1],
    ['b', 5],
    ['c', 50],
    ['d', 5000],
    ['e', -20],
  ] as const)
    driver.pipe('in', numbers, key, n);
  t.same(pairs(driver, 'negative', numbers), [
    ['a', -1],
    ['e', -20],
  ]);
  t.same(pairs(driver, 'small', numbers), [['b', 500]], 'the chain ran on its branch');
  t.same(pairs(driver, 'huge', numbers), [['d', 5000]]);
  t.same(pairs(driver, 'rest', numbers), [['c', 50]]);
});

t.test('split without a default branch drops what matches no branch; a branch after the end is refused', async (t) => {
  const builder = new StreamsBuilder();
  const split = builder.stream('in', numbers).split();
  const branches = split.branch((_k, n) => n > 0).noDefaultBranch();
  branches['1']!.to('positive', numbers);
  t.throws(() => split.branch(() => true), /has ended/);
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('in', numbers, 'a', 1);
  driver.pipe('in', numbers, 'b', -1);
  t.same(pairs(driver, 'positive', numbers), [['a', 1]]);
});

t.test('repartition: records go through an internal topic, keyed by their new key, to a new task', async (t) => {
  const builder = new StreamsBuilder();
  builder
    .stream('orders', text)
    .selectKey((_id, customer) => customer)
    .repartition({ name: 'by-customer', ...text })
    .mapValues((customer) => customer.toUpperCase())
    .to('out', text);
  const topology = compileTopology(builder.build(), 'app');
  t.same(topology.repartitionTopics, ['app-by-customer-repartition']);
  t.equal(topology.subtopologies.length, 2, 'the repartition topic cuts the topology in two');
  t.same(
    topology.subtopologies[1]!.sources.map((s) => [s.topic, s.internal]),
    [['app-by-customer-repartition', true]],
  );
  const driver = new TopologyTestDriver(builder.build(), 'app');
  driver.pipe('orders', text, 'o1', 'ann');
  t.same(pairs(driver, 'app-by-customer-repartition', text), [['ann', 'ann']]);
  t.same(pairs(driver, 'out', text), [['ann', 'ANN']]);
  t.match(describeText(topology), /map-values-1 <- topic app-by-customer-repartition\n/);
});

t.test('groupByKey: in place on an unchanged key, through a topic after a key change', async (t) => {
  const inPlace = new StreamsBuilder();
  inPlace.stream('clicks', text).groupByKey(text).count({ storeName: 'clicks' }).toStream().to('counts', numbers);
  const local = compileTopology(inPlace.build(), 'app');
  t.same(local.repartitionTopics, [], 'no repartition topic');
  t.equal(local.subtopologies.length, 1);
  const driver = new TopologyTestDriver(inPlace.build());
  driver.pipe('clicks', text, 'ann', 'x');
  driver.pipe('clicks', text, 'ann', 'y');
  driver.pipe('clicks', text, 'bob', null);
  t.equal(driver.get('clicks', 'ann'), 2);
  t.equal(driver.get('clicks', 'bob'), null, 'a null value is not counted');
  t.same(pairs(driver, 'counts', numbers), [
    ['ann', 1],
    ['ann', 2],
  ]);

  const rekeyed = new StreamsBuilder();
  rekeyed
    .stream('clicks', text)
    .selectKey((_k, page) => page)
    .groupByKey({ name: 'by-page', ...text })
    .count({ storeName: 'pages' });
  const cut = compileTopology(rekeyed.build(), 'app');
  t.same(cut.repartitionTopics, ['app-by-page-repartition']);
  const d2 = new TopologyTestDriver(rekeyed.build());
  d2.pipe('clicks', text, 'ann', 'home');
  d2.pipe('clicks', text, 'bob', 'home');
  t.equal(d2.get('pages', 'home'), 2);
});

t.test('reduce on a stream: the first value, then each folded in', async (t) => {
  const builder = new StreamsBuilder();
  builder
    .stream('amounts', numbers)
    .groupByKey(numbers)
    .reduce((total, n) => total + n, { storeName: 'totals' })
    .toStream()
    .to('totals', numbers);
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('amounts', numbers, 'a', 5);
  driver.pipe('amounts', numbers, 'a', 7);
  driver.pipe('amounts', numbers, 'b', 1);
  t.same(pairs(driver, 'totals', numbers), [
    ['a', 5],
    ['a', 12],
    ['b', 1],
  ]);
});

t.test('reduce on a table: an update subtracts the old row and adds the new one', async (t) => {
  const builder = new StreamsBuilder();
  builder
    .table('balances', { ...numbers, storeName: 'balances' })
    .groupBy((_account, n) => ({ key: 'all', value: n }), { name: 'all', ...numbers })
    .reduce(
      (sum, n) => sum + n,
      (sum, n) => sum - n,
      { storeName: 'sum' },
    );
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('balances', numbers, 'x', 10);
  driver.pipe('balances', numbers, 'y', 5);
  t.equal(driver.get('sum', 'all'), 15);
  driver.pipe('balances', numbers, 'x', 1);
  t.equal(driver.get('sum', 'all'), 6, 'the old 10 out, the new 1 in');
  driver.pipe('balances', numbers, 'y', null);
  t.equal(driver.get('sum', 'all'), 1, 'a deleted row is taken out');
});

t.test('stream-table join and left join: each record looks up the current row', async (t) => {
  const builder = new StreamsBuilder();
  const customers = builder.table('customers', { ...text, storeName: 'customers' });
  const orders = builder.stream('orders', text);
  orders.join(customers, (order, name) => `${order} for ${name}`).to('joined', text);
  orders.leftJoin(customers, (order, name) => `${order} for ${name ?? '?'}`).to('left-joined', text);
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('orders', text, 'c1', 'early order');
  driver.pipe('customers', text, 'c1', 'Ann');
  driver.pipe('orders', text, 'c1', 'book');
  driver.pipe('customers', text, 'c1', 'Ann B');
  driver.pipe('orders', text, 'c1', 'pen');
  driver.pipe('orders', text, 'c1', null);
  driver.pipe('customers', text, 'c1', null);
  driver.pipe('orders', text, 'c1', 'late');
  driver.pipe('orders', text, null, 'no key');
  t.same(pairs(driver, 'joined', text), [
    ['c1', 'book for Ann'],
    ['c1', 'pen for Ann B'],
  ]);
  t.same(pairs(driver, 'left-joined', text), [
    ['c1', 'early order for ?'],
    ['c1', 'book for Ann'],
    ['c1', 'pen for Ann B'],
    ['c1', 'late for ?'],
    [null, 'no key for ?'],
  ]);
});

t.test('a stream whose key changed cannot join a table without a repartition', async (t) => {
  const builder = new StreamsBuilder();
  const customers = builder.table('customers', text);
  builder
    .stream('orders', text)
    .selectKey((_k, v) => v)
    .join(customers, (o, c) => o + c)
    .to('out', text);
  t.throws(() => compileTopology(builder.build(), 'app'), /repartition the stream first/);

  const fixed = new StreamsBuilder();
  const table = fixed.table('customers', text);
  fixed
    .stream('orders', text)
    .selectKey((_k, v) => v)
    .repartition(text)
    .join(table, (o, c) => `${o}+${c}`)
    .to('out', text);
  const driver = new TopologyTestDriver(fixed.build());
  driver.pipe('customers', text, 'ann', 'Ann');
  driver.pipe('orders', text, 'o1', 'ann');
  t.same(pairs(driver, 'out', text), [['ann', 'ann+Ann']]);
});

t.test('table outer join: a row while either side has one', async (t) => {
  const builder = new StreamsBuilder();
  const left = builder.table('left', text);
  const right = builder.table('right', text);
  left
    .outerJoin(right, (l, r) => `${l ?? '-'}|${r ?? '-'}`, { storeName: 'both', ...text })
    .toStream()
    .to('out', text);
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('right', text, 'k', 'r1');
  t.equal(driver.get('both', 'k'), '-|r1');
  driver.pipe('left', text, 'k', 'l1');
  t.equal(driver.get('both', 'k'), 'l1|r1');
  driver.pipe('right', text, 'k', null);
  t.equal(driver.get('both', 'k'), 'l1|-');
  driver.pipe('left', text, 'k', null);
  t.equal(driver.get('both', 'k'), null);
  t.same(pairs(driver, 'out', text), [
    ['k', '-|r1'],
    ['k', 'l1|r1'],
    ['k', 'l1|-'],
    ['k', null],
  ]);
});

t.test('merge and repartition take streams, not tables', async (t) => {
  const builder = new StreamsBuilder();
  const table = builder.table('t', text);
  const stream = builder.stream('s', text);
  stream.merge(table as never).to('out', text);
  t.throws(() => compileTopology(builder.build(), 'app'), /a table; use toStream\(\) first/);
});

t.test('every operator can be named; the names are the nodes of the described topology', async (t) => {
  const builder = new StreamsBuilder();
  const table = builder.table('customers', { ...text, name: 'customers-in', storeName: 'customers' });
  builder
    .stream('orders', { ...text, name: 'orders-in' })
    .mapValues((v) => v, 'trim')
    .join(table, (o, c) => `${o}${c}`, 'enrich')
    .groupByKey(text)
    .count({ storeName: 'order-count', name: 'count-orders' })
    .toStream('count-changes')
    .to('counts', { ...numbers, name: 'counts-out' });
  table
    .mapValues((c) => c.length, undefined, 'name-length')
    .filter((_k, n) => n > 0, undefined, 'non-empty')
    .outerJoin(table, (a, b) => `${a}${b}`, undefined, 'self')
    .toStream()
    .to('lengths', text);
  const described = describeText(compileTopology(builder.build(), 'app'));
  for (const name of ['customers-in', 'orders-in', 'trim', 'enrich', 'count-orders', 'count-changes', 'counts-out'])
    t.match(described, new RegExp(`^    ${name}\\b`, 'm'), name);
  for (const name of ['name-length', 'non-empty', 'self']) t.match(described, new RegExp(`^    ${name}\\b`, 'm'), name);
  t.throws(() => new StreamsBuilder().stream('x', text).peek(() => undefined, 'bad name!'), /may only contain/);
  const twice = new StreamsBuilder();
  const s = twice.stream('x', text);
  s.peek(() => undefined, 'same');
  t.throws(() => s.peek(() => undefined, 'same'), /used twice/);
});
