// groupBy + count/aggregate on tables: updates that change the group, deletes, tombstones.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import { Serdes, type Serde } from '../../src/serdes/index.js';
import { longNumberSerde } from '../../src/serdes/long-number.js';

interface Tweet {
  userId: string;
  text: string;
}
const tweetSerde = Serdes.json<Tweet>('tweet');
const tweets = { keySerde: Serdes.string, valueSerde: tweetSerde };
const counts = { keySerde: Serdes.string, valueSerde: longNumberSerde as Serde<number> };

function tweetCountTopology() {
  const builder = new StreamsBuilder();
  builder
    .table('tweets', { ...tweets, storeName: 'tweets-by-id' })
    .groupBy((id, tweet) => ({ key: tweet.userId, value: id }), {
      name: 'tweets-by-user',
      keySerde: Serdes.string,
      valueSerde: Serdes.string,
    })
    .count({ storeName: 'tweet-count' })
    .toStream()
    .to('tweet-counts', counts);
  return new TopologyTestDriver(builder.build());
}

t.test('count follows inserts, updates that move a row between groups, and deletes', async (t) => {
  const driver = tweetCountTopology();
  driver.pipe('tweets', tweets, 't1', { userId: 'alice', text: 'a' });
  driver.pipe('tweets', tweets, 't2', { userId: 'alice', text: 'b' });
  driver.pipe('tweets', tweets, 't3', { userId: 'bob', text: 'c' });
  t.equal(driver.get('tweet-count', 'alice'), 2);
  t.equal(driver.get('tweet-count', 'bob'), 1);

  driver.pipe('tweets', tweets, 't1', { userId: 'alice', text: 'edited' });
  t.equal(driver.get('tweet-count', 'alice'), 2, 'an update within the group changes nothing');

  driver.pipe('tweets', tweets, 't2', { userId: 'bob', text: 'b' });
  t.equal(driver.get('tweet-count', 'alice'), 1, 'moving t2 away from alice subtracts it');
  t.equal(driver.get('tweet-count', 'bob'), 2, 'and adds it to bob');

  driver.pipe('tweets', tweets, 't3', null);
  t.equal(driver.get('tweet-count', 'bob'), 1, 'a tombstone deletes the row and subtracts it');
  driver.pipe('tweets', tweets, 't3', null);
  t.equal(driver.get('tweet-count', 'bob'), 1, 'a second tombstone for a missing row changes nothing');

  t.same(Object.fromEntries(driver.readCompacted('tweet-counts', counts)), { alice: 1, bob: 1 });
  t.same(driver.deadLetters, []);
});

t.test('replaying the same row is not counted twice', async (t) => {
  const driver = tweetCountTopology();
  for (let i = 0; i < 3; i++) driver.pipe('tweets', tweets, 't1', { userId: 'alice', text: 'same' });
  t.equal(driver.get('tweet-count', 'alice'), 1);
});

t.test('aggregate with adder and subtractor keeps a sum exact under updates', async (t) => {
  interface Order {
    customer: string;
    amount: number;
  }
  const orders = { keySerde: Serdes.string, valueSerde: Serdes.json<Order>('order') };
  const builder = new StreamsBuilder();
  builder
    .table('orders', orders)
    .groupBy((_id, order) => ({ key: order.customer, value: order.amount }), {
      keySerde: Serdes.string,
      valueSerde: Serdes.json<number>(),
    })
    .aggregate(
      () => 0,
      (_customer, amount, total) => total + amount,
      (_customer, amount, total) => total - amount,
      { storeName: 'totals', valueSerde: Serdes.json<number>() },
    );
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('orders', orders, 'o1', { customer: 'c1', amount: 10 });
  driver.pipe('orders', orders, 'o2', { customer: 'c1', amount: 5 });
  driver.pipe('orders', orders, 'o1', { customer: 'c1', amount: 7 });
  t.equal(driver.get('totals', 'c1'), 12, 'the update replaces 10 with 7');
  driver.pipe('orders', orders, 'o2', { customer: 'c2', amount: 5 });
  t.equal(driver.get('totals', 'c1'), 7);
  t.equal(driver.get('totals', 'c2'), 5);
  driver.pipe('orders', orders, 'o1', null);
  t.equal(driver.get('totals', 'c1'), 0);
});

t.test('a stream grouped by a new key counts every record', async (t) => {
  const clicks = { keySerde: Serdes.string, valueSerde: Serdes.string };
  const builder = new StreamsBuilder();
  builder
    .stream('clicks', clicks)
    .filter((_k, page) => page !== 'ignored')
    .mapValues((page) => page.toUpperCase())
    .groupBy((_user, page) => page, { keySerde: Serdes.string, valueSerde: Serdes.string })
    .count({ storeName: 'clicks-per-page' });
  const driver = new TopologyTestDriver(builder.build());
  for (const page of ['home', 'about', 'home', 'ignored', 'home']) driver.pipe('clicks', clicks, 'u1', page);
  t.equal(driver.get('clicks-per-page', 'HOME'), 3);
  t.equal(driver.get('clicks-per-page', 'ABOUT'), 1);
  t.equal(driver.get('clicks-per-page', 'IGNORED'), null);
});

t.test('selectKey gives records a new key on their way out', async (t) => {
  const strings = { keySerde: Serdes.string, valueSerde: Serdes.string };
  const builder = new StreamsBuilder();
  builder
    .stream('events', strings)
    .selectKey((_k, v) => v.split(':')[0]!)
    .mapValues((v) => v.split(':')[1]!)
    .to('by-user', strings);
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('events', strings, 'e1', 'alice:login');
  driver.pipe('events', strings, 'e2', 'bob:logout');
  t.same(
    driver.readOutput('by-user', strings).map((r) => [r.key, r.value]),
    [
      ['alice', 'login'],
      ['bob', 'logout'],
    ],
  );
});
