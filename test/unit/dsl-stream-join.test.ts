// Windowed stream-stream joins (JoinWindows): which records join, the results' times, left and outer
// joins that wait for their window to close (no spurious early results), null keys and values,
// retention, and a failed record taking back what it did to the join's buffer.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { JoinWindows } from '../../src/dsl/windows.js';
import type { JoinMode } from '../../src/dsl/graph.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import { Serdes } from '../../src/serdes/index.js';
import { compileTopology } from '../../src/processor/compile.js';
import { describeText } from '../../src/processor/describe.js';

const S = { keySerde: Serdes.string, valueSerde: Serdes.string };
const joined = { keySerde: Serdes.string, valueSerde: Serdes.string, otherValueSerde: Serdes.string };

function joinOf(mode: JoinMode, windows: JoinWindows, joiner?: (l: string | null, r: string | null) => string) {
  const builder = new StreamsBuilder();
  const left = builder.stream('left', S);
  const right = builder.stream('right', S);
  const join = joiner ?? ((l: string | null, r: string | null) => `${l ?? '-'}+${r ?? '-'}`);
  const out =
    mode === 'inner'
      ? left.join(right, join, windows, { ...joined, storeName: 'j' })
      : mode === 'left'
        ? left.leftJoin(right, join, windows, { ...joined, storeName: 'j' })
        : left.outerJoin(right, join, windows, { ...joined, storeName: 'j' });
  out.to('joined', S);
  return new TopologyTestDriver(builder.build());
}

const seen = new WeakMap<TopologyTestDriver, number>();

/** The output since the last call, as "key: value @time". */
function output(driver: TopologyTestDriver): string[] {
  const all = driver.readOutput('joined', S).map((r) => `${r.key}: ${r.value} @${r.timestamp}`);
  const from = seen.get(driver) ?? 0;
  seen.set(driver, all.length);
  return all.slice(from);
}

t.test('bad join windows are refused with what is wrong', async (t) => {
  t.throws(() => JoinWindows.ofTimeDifferenceWithNoGrace(-1), /time difference must be/);
  t.throws(() => JoinWindows.ofTimeDifferenceAndGrace(10, -1), /grace period must be/);
  t.throws(() => JoinWindows.ofTimeDifferenceWithNoGrace(10).before(-11), /before \+ after must not be negative/);
  const windows = JoinWindows.ofTimeDifferenceWithNoGrace(10).before(-5);
  t.same([windows.beforeMs, windows.afterMs], [-5, 10], 'one side may be negative');
});

t.test('an inner join matches records of a key within the window, either side first', async (t) => {
  const driver = joinOf('inner', JoinWindows.ofTimeDifferenceAndGrace(10, 100));
  driver.pipe('left', S, 'a', 'l1', 100);
  driver.pipe('right', S, 'a', 'r1', 105); // within 10 after l1
  driver.pipe('right', S, 'a', 'r2', 111); // 11 after l1: no
  driver.pipe('left', S, 'a', 'l2', 101); // out of order: r1 (4 after) and r2 (10 after)
  driver.pipe('right', S, 'b', 'r3', 101); // another key
  t.same(output(driver), ['a: l1+r1 @105', 'a: l2+r1 @105', 'a: l2+r2 @111'], 'each at the later time of the two');
});

t.test('before and after set the window from the left side', async (t) => {
  const driver = joinOf('inner', JoinWindows.ofTimeDifferenceAndGrace(0, 100).before(5).after(2));
  driver.pipe('left', S, 'a', 'l', 100);
  for (const at of [94, 95, 102, 103]) driver.pipe('right', S, 'a', `r${at}`, at);
  t.same(output(driver), ['a: l+r95 @100', 'a: l+r102 @102'], 'right records from 5 before to 2 after');
});

t.test('a left join emits an unmatched record only once its window and grace have passed', async (t) => {
  const driver = joinOf('left', JoinWindows.ofTimeDifferenceAndGrace(10, 5));
  driver.pipe('left', S, 'a', 'l1', 100);
  driver.pipe('left', S, 'b', 'l2', 112);
  t.same(output(driver), [], 'nothing yet: a match may still come');
  driver.pipe('right', S, 'a', 'r1', 108); // matches l1 in time
  driver.pipe('left', S, 'c', 'l3', 115); // stream time 115: l1 would have closed (100 + 10 + 5 < 116), but it matched
  t.same(output(driver), ['a: l1+r1 @108']);
  driver.pipe('left', S, 'c', 'l4', 128); // stream time 128: l2 (112 + 15 = 127 < 128) closes, joined with null
  t.same(output(driver), ['b: l2+- @112'], 'at its own time, before the triggering record');
});

t.test(
  'a right record arriving after the window closed still matches, as Kafka Streams keeps records for the retention',
  async (t) => {
    const driver = joinOf('left', JoinWindows.ofTimeDifferenceAndGrace(10, 5));
    driver.pipe('left', S, 'a', 'l1', 100);
    driver.pipe('left', S, 'b', 'x', 120); // l1's window closes: emitted with null
    t.same(output(driver), ['a: l1+- @100']);
    driver.pipe('right', S, 'a', 'r1', 106); // out of order but within l1's retention
    t.same(output(driver), ['a: l1+r1 @106']);
  },
);

t.test('an outer join waits on both sides; records too late for the buffer are emitted at once', async (t) => {
  const driver = joinOf('outer', JoinWindows.ofTimeDifferenceWithNoGrace(10));
  driver.pipe('right', S, 'a', 'r1', 100);
  driver.pipe('left', S, 'b', 'l1', 200); // closes r1's window
  t.same(output(driver), ['a: -+r1 @100']);
  driver.pipe('left', S, 'c', 'l2', 150); // 150 + 10 < 200: its window has passed already
  t.same(output(driver), ['c: l2+- @150']);
});

t.test('null keys and values: an outer side passes a keyless record on at once, the rest are dropped', async (t) => {
  const driver = joinOf('left', JoinWindows.ofTimeDifferenceWithNoGrace(10));
  driver.pipe('left', S, null, 'l1', 100);
  driver.pipe('right', S, null, 'r1', 100);
  driver.pipe('left', S, 'a', null, 100);
  t.same(output(driver), ['null: l1+- @100'], "KIP-962: the left side's keyless record joined with null");
  t.equal(driver.droppedRecords.get('null-key-or-value'), 2);
});

t.test('records leave the join stores after the retention (before + after + grace)', async (t) => {
  const driver = joinOf('inner', JoinWindows.ofTimeDifferenceAndGrace(10, 5));
  driver.pipe('right', S, 'a', 'r1', 100);
  driver.pipe('right', S, 'b', 'r2', 130); // the right store's time 130: r1 (100 <= 130 - 25) has expired
  driver.pipe('left', S, 'a', 'l1', 105);
  t.same(output(driver), [], 'r1 is gone though within 10 of l1');
  driver.pipe('right', S, 'a', 'r3', 131);
  t.same(
    driver.get<string, Array<{ aggregate: string }>>('j-other-join-store', 'a')!.map((r) => r.aggregate),
    ['r3'],
    "a key's expired records leave its row when it is written next",
  );
});

t.test('a joiner that throws takes back its record: the buffer and times are as before', async (t) => {
  let fail = false;
  const driver = joinOf('left', JoinWindows.ofTimeDifferenceWithNoGrace(10), (l, r) => {
    if (fail) throw new Error('joiner failed');
    return `${l ?? '-'}+${r ?? '-'}`;
  });
  driver.pipe('left', S, 'a', 'l1', 100);
  fail = true;
  driver.pipe('left', S, 'b', 'l2', 200); // would emit l1 with null, and throws
  t.equal(driver.deadLetters.length, 1, 'the record goes to the dead letters');
  t.same(output(driver), []);
  fail = false;
  // Stream time is 100 again (200 was taken back with its record), so 150 is in order: it emits l1
  // and waits itself. (At 200 it would have been emitted at once, and l1 kept waiting.)
  driver.pipe('left', S, 'c', 'l3', 150);
  t.same(output(driver), ['a: l1+- @100']);
  driver.pipe('left', S, 'd', 'l4', 300);
  t.same(output(driver), ['c: l3+- @150']);
});

t.test('the description names the join and its stores', async (t) => {
  const builder = new StreamsBuilder();
  builder
    .stream('left', S)
    .outerJoin(builder.stream('right', S), (l, r) => `${l}${r}`, JoinWindows.ofTimeDifferenceAndGrace(5_000, 1_000), {
      ...joined,
      storeName: 'clicks',
    });
  const text = describeText(compileTopology(builder.build(), 'app'));
  t.match(text, /stream-stream outer join of .*: 5000 ms before, 5000 ms after, grace 1000 ms/);
  for (const store of [
    'clicks-outer-this-join-store',
    'clicks-outer-other-join-store',
    'clicks-outer-shared-join-store',
    'clicks-outer-this-join-store-stream-time',
  ])
    t.match(text, new RegExp(`store ${store},`));
});

t.test('a join of a stream whose key was changed is refused', async (t) => {
  const builder = new StreamsBuilder();
  const left = builder.stream('left', S).selectKey((_k, v) => v);
  left.join(builder.stream('right', S), (l, r) => `${l}${r}`, JoinWindows.ofTimeDifferenceWithNoGrace(5), joined);
  t.throws(() => compileTopology(builder.build(), 'app'), /key was changed .* repartition it first/);
});
