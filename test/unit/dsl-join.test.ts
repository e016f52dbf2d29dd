// Table-table joins: left-join nulls, rows arriving in any order, deletes, inner joins.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import { Serdes } from '../../src/serdes/index.js';

interface Profile {
  name: string;
}
interface View {
  name: string;
  tweets: number;
  followers: number;
}
const profiles = { keySerde: Serdes.string, valueSerde: Serdes.json<Profile>('profile') };
const numbers = { keySerde: Serdes.string, valueSerde: Serdes.json<number>('number') };
const views = { keySerde: Serdes.string, valueSerde: Serdes.json<View>('view') };

function viewTopology(inner = false) {
  const builder = new StreamsBuilder();
  const users = builder.table('profiles', profiles);
  const tweetCounts = builder.table('tweet-counts', numbers);
  const followerCounts = builder.table('follower-counts', numbers);
  const withTweets = inner
    ? users.join(tweetCounts, (p, n) => ({ name: p.name, tweets: n, followers: 0 }))
    : users.leftJoin(tweetCounts, (p, n) => ({ name: p.name, tweets: n ?? 0, followers: 0 }));
  withTweets
    .leftJoin(followerCounts, (v, n) => ({ ...v, followers: n ?? 0 }), { storeName: 'views', ...views })
    .toStream()
    .to('views', views);
  return new TopologyTestDriver(builder.build());
}

t.test('left join: a user with no counts has zeros', async (t) => {
  const driver = viewTopology();
  driver.pipe('profiles', profiles, 'u1', { name: 'Ann' });
  t.same(driver.get('views', 'u1'), { name: 'Ann', tweets: 0, followers: 0 });
});

t.test('left join: counts that arrive before their user are joined when the user appears', async (t) => {
  const driver = viewTopology();
  driver.pipe('tweet-counts', numbers, 'u1', 5);
  driver.pipe('follower-counts', numbers, 'u1', 7);
  t.equal(driver.get('views', 'u1'), null, 'no row without the user');
  t.same(driver.readOutput('views', views), [], 'and nothing emitted');
  driver.pipe('profiles', profiles, 'u1', { name: 'Ann' });
  t.same(driver.get('views', 'u1'), { name: 'Ann', tweets: 5, followers: 7 });
  driver.pipe('follower-counts', numbers, 'u1', 8);
  t.same(driver.get('views', 'u1'), { name: 'Ann', tweets: 5, followers: 8 });
});

t.test('deleting the user deletes the row and emits a tombstone; later counts emit nothing', async (t) => {
  const driver = viewTopology();
  driver.pipe('profiles', profiles, 'u1', { name: 'Ann' });
  driver.pipe('tweet-counts', numbers, 'u1', 2);
  driver.pipe('profiles', profiles, 'u1', null);
  t.equal(driver.get('views', 'u1'), null);
  const out = driver.readOutput('views', views);
  t.same(out.at(-1), { key: 'u1', value: null, timestamp: out.at(-1)!.timestamp }, 'the last record is a tombstone');
  const emitted = out.length;
  driver.pipe('tweet-counts', numbers, 'u1', 3);
  t.equal(driver.readOutput('views', views).length, emitted, 'a count for a deleted user emits nothing');
  driver.pipe('profiles', profiles, 'u1', { name: 'Ann again' });
  t.same(driver.get('views', 'u1'), { name: 'Ann again', tweets: 3, followers: 0 }, 'the count was kept');
  t.same(Object.fromEntries(driver.readCompacted('views', views)), {
    u1: { name: 'Ann again', tweets: 3, followers: 0 },
  });
});

t.test('inner join: a row exists only while both sides have one', async (t) => {
  const driver = viewTopology(true);
  driver.pipe('profiles', profiles, 'u1', { name: 'Ann' });
  t.equal(driver.get('views', 'u1'), null);
  driver.pipe('tweet-counts', numbers, 'u1', 1);
  t.same(driver.get('views', 'u1'), { name: 'Ann', tweets: 1, followers: 0 });
  driver.pipe('tweet-counts', numbers, 'u1', null);
  t.equal(driver.get('views', 'u1'), null);
  t.equal(driver.readOutput('views', views).at(-1)?.value, null, 'losing the right side emits a tombstone');
});

t.test('table mapValues and filter, and the tables they compute on lookup', async (t) => {
  const builder = new StreamsBuilder();
  const scores = builder.table('scores', numbers);
  const names = builder.table('names', { keySerde: Serdes.string, valueSerde: Serdes.string });
  const doubledPositive = scores.filter((_k, n) => n > 0).mapValues((n) => n * 2);
  names
    .leftJoin(doubledPositive, (name, n) => `${name}:${n ?? 'none'}`, {
      storeName: 'labels',
      keySerde: Serdes.string,
      valueSerde: Serdes.string,
    })
    .toStream()
    .to('labels', { keySerde: Serdes.string, valueSerde: Serdes.string });
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('names', { keySerde: Serdes.string, valueSerde: Serdes.string }, 'k', 'kay');
  driver.pipe('scores', numbers, 'k', 4);
  t.equal(driver.get('labels', 'k'), 'kay:8');
  driver.pipe('scores', numbers, 'k', -1);
  t.equal(driver.get('labels', 'k'), 'kay:none', 'a filtered-out row is a missing row');
});

// Rows whose changes reach only toStream and sinks are not read back as old rows (Kafka Streams'
// sendOldValues); what reaches the topic must be the same: a value per change, a tombstone for a
// deleted row, nothing for the delete of a row that never was.
t.test('tables feeding only a topic emit the same records without reading old rows', async (t) => {
  const builder = new StreamsBuilder();
  const names = builder.table('names', { keySerde: Serdes.string, valueSerde: Serdes.string });
  const scores = builder.table('scores', numbers);
  names
    .leftJoin(scores, (name, n) => `${name}:${n ?? 0}`)
    .mapValues((label) => label.toUpperCase(), {
      storeName: 'labels',
      keySerde: Serdes.string,
      valueSerde: Serdes.string,
    })
    .toStream()
    .to('labels', { keySerde: Serdes.string, valueSerde: Serdes.string });
  builder.table('plain', numbers).toStream().to('plain', numbers);
  const driver = new TopologyTestDriver(builder.build());
  const strings = { keySerde: Serdes.string, valueSerde: Serdes.string };
  driver.pipe('names', strings, 'a', 'ann');
  driver.pipe('scores', numbers, 'a', 3);
  driver.pipe('scores', numbers, 'b', 5); // no name: the left join has no row
  driver.pipe('names', strings, 'b', null); // the delete of a row that never was
  driver.pipe('names', strings, 'a', null);
  t.same(
    driver.readOutput('labels', strings).map((r) => [r.key, r.value]),
    [
      ['a', 'ANN:0'],
      ['a', 'ANN:3'],
      ['a', null],
    ],
  );
  t.equal(driver.get('labels', 'a'), null, 'the deleted row is gone from the store');
  driver.pipe('plain', numbers, 'x', 1);
  driver.pipe('plain', numbers, 'y', null);
  driver.pipe('plain', numbers, 'x', null);
  t.same(
    driver.readOutput('plain', numbers).map((r) => [r.key, r.value]),
    [
      ['x', 1],
      ['x', null],
    ],
  );
});
