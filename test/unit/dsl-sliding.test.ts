// Sliding windows (SlidingWindows, KIP-450): which windows exist, what each aggregate covers, grace
// and late records, null values, retention, and the window rows of the store.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { SlidingWindows } from '../../src/dsl/windows.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import { Serdes, type Serde } from '../../src/serdes/index.js';
import { longNumberSerde } from '../../src/serdes/long-number.js';
import { timeWindowedSerde, type WindowRow } from '../../src/serdes/windowed.js';
import { compileTopology } from '../../src/processor/compile.js';
import { describeText } from '../../src/processor/describe.js';

const S = { keySerde: Serdes.string, valueSerde: Serdes.string };
const longs = longNumberSerde as Serde<number>;

function slidingCount(windows: SlidingWindows, retentionMs?: number) {
  const builder = new StreamsBuilder();
  builder
    .stream('clicks', S)
    .groupByKey(S)
    .windowedBy(windows)
    .count({ storeName: 'sliding', ...(retentionMs === undefined ? {} : { retentionMs }) })
    .toStream()
    .to('counts', { keySerde: timeWindowedSerde(Serdes.string, windows.timeDifferenceMs), valueSerde: longs });
  return new TopologyTestDriver(builder.build());
}

/** The latest count per "key@[start,end]" in the output topic. */
function latest(driver: TopologyTestDriver, difference: number): Record<string, number> {
  const rows: Record<string, number> = {};
  const serdes = { keySerde: timeWindowedSerde(Serdes.string, difference), valueSerde: longs };
  for (const { key, value } of driver.readOutput('counts', serdes))
    rows[`${key!.key}@[${key!.window.start},${key!.window.end}]`] = value!;
  return rows;
}

t.test('bad sliding windows are refused with what is wrong', async (t) => {
  t.throws(() => SlidingWindows.ofTimeDifferenceWithNoGrace(0), /time difference must be .* at least 1/);
  t.throws(() => SlidingWindows.ofTimeDifferenceAndGrace(10, -1), /grace period/);
  const builder = new StreamsBuilder();
  const grouped = builder.stream('clicks', S).groupByKey(S);
  t.throws(
    () => grouped.windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(10, 5)).count({ retentionMs: 24 }),
    /at least 25 ms \(twice the time difference plus grace\)/,
  );
});

t.test('a record makes the window ending at it and, once a later one is near, the window after it', async (t) => {
  const driver = slidingCount(SlidingWindows.ofTimeDifferenceAndGrace(10, 100));
  driver.pipe('clicks', S, 'a', 'x', 100);
  t.same(latest(driver, 10), { 'a@[90,100]': 1 });
  driver.pipe('clicks', S, 'a', 'x', 105);
  t.same(latest(driver, 10), { 'a@[90,100]': 1, 'a@[95,105]': 2, 'a@[101,111]': 1 }, "the first record's right window");
  driver.pipe('clicks', S, 'a', 'x', 103); // out of order, falls in the windows around it
  t.same(latest(driver, 10), {
    'a@[90,100]': 1,
    'a@[95,105]': 3,
    'a@[101,111]': 2,
    'a@[93,103]': 2,
    'a@[104,114]': 1,
  });
  t.same(driver.droppedRecords.get('late') ?? 0, 0);
});

t.test('records before the time difference share the window [0, difference]', async (t) => {
  const driver = slidingCount(SlidingWindows.ofTimeDifferenceWithNoGrace(10));
  driver.pipe('clicks', S, 'a', 'x', 3);
  driver.pipe('clicks', S, 'a', 'x', 7);
  t.same(latest(driver, 10), { 'a@[0,10]': 2, 'a@[4,14]': 1 });
});

t.test('a window closes when stream time passes its end plus grace; later records for it are dropped', async (t) => {
  const driver = slidingCount(SlidingWindows.ofTimeDifferenceAndGrace(10, 5));
  driver.pipe('clicks', S, 'a', 'x', 100);
  driver.pipe('clicks', S, 'b', 'x', 116); // stream time 116: windows ending before 111 are closed
  driver.pipe('clicks', S, 'a', 'x', 100); // [90,100] is closed; even its newest window [100,110] is: dropped
  t.equal(driver.droppedRecords.get('late'), 1);
  driver.pipe('clicks', S, 'a', 'x', 104); // [94,104] would end before 111: dropped too
  t.equal(driver.droppedRecords.get('late'), 2);
  driver.pipe('clicks', S, 'a', 'x', 102); // [102,112] is open: its left window [92,102] is closed
  const rows = latest(driver, 10);
  t.equal(rows['a@[90,100]'], 1, 'a closed window does not change');
  t.equal(rows['a@[101,111]'], 2, "the first record's right window [101,111] is open: 102 joins 105 there");
  t.notOk('a@[92,102]' in rows, 'the closed left window is not made');
  t.equal(driver.droppedRecords.get('late'), 3, 'counted per closed window');
});

t.test('null values are dropped and counted, as Kafka Streams does for sliding windows', async (t) => {
  const driver = slidingCount(SlidingWindows.ofTimeDifferenceWithNoGrace(10));
  driver.pipe('clicks', S, 'a', null, 100);
  t.same(latest(driver, 10), {});
  t.equal(driver.droppedRecords.get('null-key-or-value'), 1);
});

/** A seeded generator (mulberry32), so a failing run can be repeated. */
function seeded(seed: number) {
  let state = seed >>> 0;
  return (n: number) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), state | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

t.test('every window counts exactly the records inside it, and the windows are those KIP-450 defines', async (t) => {
  const D = 20;
  for (const seed of [1, 2, 3, 4, 5]) {
    const next = seeded(seed);
    const driver = slidingCount(SlidingWindows.ofTimeDifferenceAndGrace(D, 1_000));
    const times: Record<string, number[]> = {};
    let now = 0;
    for (let i = 0; i < 150; i++) {
      now += next(8);
      const at = Math.max(0, now - next(30)); // out of order, never late (grace covers it)
      const key = `k${next(3)}`;
      (times[key] ??= []).push(at);
      driver.pipe('clicks', S, key, 'x', at);
    }
    const expected: Record<string, number> = {};
    for (const [key, stamps] of Object.entries(times)) {
      const count = (from: number, to: number) => stamps.filter((s) => s >= from && s <= to).length;
      for (const x of stamps) {
        const left = Math.max(0, x - D);
        expected[`${key}@[${left},${left + D}]`] = count(left, left + D);
        // The right window exists once a later record falls in it.
        const right = count(x + 1, x + 1 + D);
        if (right > 0) expected[`${key}@[${x + 1},${x + 1 + D}]`] = right;
      }
    }
    t.same(latest(driver, D), expected, `seed ${seed}`);
  }
});

t.test('a key keeps its windows in one row; expired windows leave it', async (t) => {
  const driver = slidingCount(SlidingWindows.ofTimeDifferenceAndGrace(10, 10));
  driver.pipe('clicks', S, 'a', 'x', 100);
  driver.pipe('clicks', S, 'a', 'x', 105);
  const rows = driver.get<string, WindowRow<number>[]>('sliding', 'a')!;
  t.same(
    rows.map((r) => [r.start, r.end, r.timestamp, r.aggregate]),
    [
      [90, 100, 100, 1],
      [95, 105, 105, 2],
      [101, 111, 105, 1],
    ],
    'start, end, timestamp (largest record time) and count',
  );
  driver.pipe('clicks', S, 'b', 'x', 200); // the store time moves on: a's windows are past the retention
  driver.pipe('clicks', S, 'a', 'x', 195);
  const after = driver.get<string, WindowRow<number>[]>('sliding', 'a')!;
  t.same(
    after.map((r) => r.start),
    [185],
    'only the windows within the retention (twice the difference plus grace) are kept',
  );
});

t.test('the topology description names the sliding windows', async (t) => {
  const builder = new StreamsBuilder();
  builder
    .stream('clicks', S)
    .groupByKey(S)
    .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(30_000, 5_000))
    .count({ storeName: 'recent' });
  const text = describeText(compileTopology(builder.build(), 'app'));
  t.match(text, /sliding windows: time difference 30000 ms, grace 5000 ms/);
  t.match(text, /store recent-stream-time/, 'its stream time is kept beside it');
});
