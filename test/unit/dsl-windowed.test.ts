// Time-windowed aggregations (TimeWindows): which windows a record falls in, stream time and the
// grace period, late records, the windowed key's bytes, and aggregate timestamps.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { SessionWindows, TimeWindows, type Windowed } from '../../src/dsl/windows.js';
import { BufferConfig, Suppressed } from '../../src/dsl/suppressed.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import { Serdes, type Serde } from '../../src/serdes/index.js';
import { longNumberSerde } from '../../src/serdes/long-number.js';
import { sessionWindowedSerde, timeWindowedSerde, valueAndTimestampSerde } from '../../src/serdes/windowed.js';
import { compileTopology } from '../../src/processor/compile.js';
import { describeText } from '../../src/processor/describe.js';
import { changelogConfigs } from '../../src/runtime/internal-topics.js';
import { TaskCore } from '../../src/runtime/task-core.js';
import { TaskState } from '../../src/state/task-state.js';
import { MemoryBackend } from '../../src/state/memory-backend.js';
import type { WindowRow } from '../../src/serdes/windowed.js';

const S = { keySerde: Serdes.string, valueSerde: Serdes.string };
const longs = longNumberSerde as Serde<number>;

t.test('windowsFor: tumbling and hopping windows, aligned to the epoch, none before it', async (t) => {
  const tumbling = TimeWindows.ofSizeWithNoGrace(10);
  t.same(tumbling.windowsFor(0), [{ start: 0, end: 10 }]);
  t.same(tumbling.windowsFor(9), [{ start: 0, end: 10 }]);
  t.same(tumbling.windowsFor(10), [{ start: 10, end: 20 }], 'the end is exclusive');
  const hopping = TimeWindows.ofSizeAndGrace(10, 5).advanceBy(3);
  t.same(
    hopping.windowsFor(12),
    [
      { start: 3, end: 13 },
      { start: 6, end: 16 },
      { start: 9, end: 19 },
      { start: 12, end: 22 },
    ],
    'every window whose [start, end) holds the timestamp',
  );
  t.same(
    hopping.windowsFor(4),
    [
      { start: 0, end: 10 },
      { start: 3, end: 13 },
    ],
    'no window starts before the epoch',
  );
  t.equal(hopping.graceMs, 5);
});

t.test('bad windows are refused with what is wrong', async (t) => {
  t.throws(() => TimeWindows.ofSizeWithNoGrace(0), /size must be .* at least 1/);
  t.throws(() => TimeWindows.ofSizeAndGrace(10, -1), /grace period must be/);
  t.throws(() => TimeWindows.ofSizeWithNoGrace(10).advanceBy(11), /must not exceed the size/);
  t.throws(() => TimeWindows.ofSizeWithNoGrace(1.5), /whole number/);
});

t.test('the windowed key is written as Kafka Streams writes it: key bytes, then the start as 8 bytes', async (t) => {
  const serde = timeWindowedSerde(Serdes.string, 60_000);
  const bytes = serde.serialize({ key: 'ab', window: { start: 120_000, end: 180_000 } });
  t.same([...bytes], [0x61, 0x62, 0, 0, 0, 0, 0, 0x01, 0xd4, 0xc0]);
  t.same(serde.deserialize(bytes), { key: 'ab', window: { start: 120_000, end: 180_000 } }, 'the end from the size');
  t.throws(() => serde.deserialize(Buffer.from([1, 2])), /at least 8 bytes/);
  const timestamped = valueAndTimestampSerde(longs);
  t.same(timestamped.deserialize(timestamped.serialize({ value: 7, timestamp: 1234 })), { value: 7, timestamp: 1234 });
});

function countsPerWindow(windows: TimeWindows) {
  const builder = new StreamsBuilder();
  builder
    .stream('clicks', S)
    .groupByKey(S)
    .windowedBy(windows)
    .count({ storeName: 'clicks-per-window' })
    .toStream()
    .to('click-counts', { keySerde: timeWindowedSerde(Serdes.string, windows.sizeMs), valueSerde: longs });
  return new TopologyTestDriver(builder.build());
}

/** The latest count per "key@start" in the output topic. */
function latest(driver: TopologyTestDriver, sizeMs: number): Record<string, number> {
  const rows: Record<string, number> = {};
  const serdes = { keySerde: timeWindowedSerde(Serdes.string, sizeMs), valueSerde: longs };
  for (const { key, value } of driver.readOutput('click-counts', serdes))
    rows[`${key!.key}@${key!.window.start}`] = value!;
  return rows;
}

t.test('a tumbling count: one row per key and window', async (t) => {
  const driver = countsPerWindow(TimeWindows.ofSizeAndGrace(10, 100));
  driver.pipe('clicks', S, 'a', 'x', 1);
  driver.pipe('clicks', S, 'a', 'x', 9);
  driver.pipe('clicks', S, 'b', 'x', 5);
  driver.pipe('clicks', S, 'a', 'x', 10);
  driver.pipe('clicks', S, 'a', 'x', 3); // out of order, within grace
  t.same(latest(driver, 10), { 'a@0': 3, 'b@0': 1, 'a@10': 1 });
  const row = driver.get<Windowed<string>, { value: number; timestamp: number }>('clicks-per-window', {
    key: 'a',
    window: { start: 0, end: 10 },
  });
  t.same(row, { value: 3, timestamp: 9 }, "an aggregate's timestamp is the largest of its records'");
  t.same(driver.droppedRecords.get('late') ?? 0, 0);
});

t.test('a hopping count adds each record to every window it falls in', async (t) => {
  const driver = countsPerWindow(TimeWindows.ofSizeAndGrace(10, 100).advanceBy(5));
  driver.pipe('clicks', S, 'a', 'x', 7);
  driver.pipe('clicks', S, 'a', 'x', 12);
  t.same(latest(driver, 10), { 'a@0': 1, 'a@5': 2, 'a@10': 1 });
});

t.test('after the grace period a window is closed: late records are dropped and counted', async (t) => {
  const driver = countsPerWindow(TimeWindows.ofSizeAndGrace(10, 5));
  driver.pipe('clicks', S, 'a', 'x', 2); // window [0, 10)
  driver.pipe('clicks', S, 'a', 'x', 14); // stream time 14: [0, 10) closes at 10 + 5 = 15
  driver.pipe('clicks', S, 'a', 'x', 4); // still open
  t.same(latest(driver, 10), { 'a@0': 2, 'a@10': 1 });
  driver.pipe('clicks', S, 'b', 'x', 15); // stream time 15 (of the node, over every key): [0, 10) is closed
  driver.pipe('clicks', S, 'a', 'x', 6); // late
  driver.pipe('clicks', S, 'c', 'x', 9); // late too: stream time is not per key
  t.same(latest(driver, 10), { 'a@0': 2, 'a@10': 1, 'b@10': 1 });
  t.equal(driver.droppedRecords.get('late'), 2);
  t.same(driver.deadLetters, [], 'a late record is not an error');
  t.same(
    driver.lateRecords.map((r) => r.offset),
    ['4', '5'],
    'the late input records, each once (what lateRecords: dead-letter sends to the dead-letter topic)',
  );
});

t.test('a record late for one hopping window still counts in the others', async (t) => {
  const driver = countsPerWindow(TimeWindows.ofSizeWithNoGrace(10).advanceBy(5));
  driver.pipe('clicks', S, 'a', 'x', 11); // [5, 15) and [10, 20); stream time 11 closes [0, 10)
  driver.pipe('clicks', S, 'a', 'x', 8); // [0, 10) is closed, [5, 15) is open
  t.same(latest(driver, 10), { 'a@5': 2, 'a@10': 1 });
  t.equal(driver.droppedRecords.get('late'), 1, 'counted per closed window, as Kafka Streams does');
});

t.test('windowed aggregate and reduce', async (t) => {
  const builder = new StreamsBuilder();
  const grouped = builder.stream('words', S).groupByKey(S);
  const windows = TimeWindows.ofSizeWithNoGrace(100);
  grouped
    .windowedBy(windows)
    .aggregate(
      () => '',
      (_k, v, agg) => (agg === '' ? (v ?? '-') : `${agg},${v ?? '-'}`),
      {
        storeName: 'joined',
        valueSerde: Serdes.string,
      },
    )
    .toStream()
    .to('joined-out', { keySerde: timeWindowedSerde(Serdes.string, 100), valueSerde: Serdes.string });
  grouped
    .windowedBy(windows)
    .reduce((a, b) => (b !== null && b > a ? b : a), { storeName: 'max' })
    .toStream()
    .to('max-out', { keySerde: timeWindowedSerde(Serdes.string, 100), valueSerde: Serdes.string });
  const driver = new TopologyTestDriver(builder.build());
  for (const [w, ts] of [
    ['b', 10],
    ['a', 20],
    ['c', 150],
    ['z', 30],
  ] as const)
    driver.pipe('words', S, 'k', w, ts);
  const read = (topic: string) =>
    Object.fromEntries(
      driver
        .readOutput(topic, { keySerde: timeWindowedSerde(Serdes.string, 100), valueSerde: Serdes.string })
        .map(({ key, value }) => [`${key!.key}@${key!.window.start}`, value]),
    );
  t.same(read('joined-out'), { 'k@0': 'b,a', 'k@100': 'c' }, 'z came after [0, 100) closed (no grace)');
  t.same(read('max-out'), { 'k@0': 'b', 'k@100': 'c' });
  t.equal(driver.droppedRecords.get('late'), 2, 'dropped by each aggregate');
});

t.test('the topology description shows the windows', async (t) => {
  const builder = new StreamsBuilder();
  builder
    .stream('clicks', S)
    .groupByKey(S)
    .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 5_000).advanceBy(30_000))
    .count({ storeName: 'per-minute' });
  const text = describeText(compileTopology(builder.build(), 'app'));
  t.match(text, /time windows: size 60000 ms, advance 30000 ms, grace 5000 ms/);
  t.match(text, /per-minute/);
});

t.test('lineage is refused on a windowed aggregate', async (t) => {
  const builder = new StreamsBuilder();
  t.throws(
    () =>
      builder.stream('clicks', S).groupByKey(S).windowedBy(TimeWindows.ofSizeWithNoGrace(10)).count({ lineage: true }),
    /windowed aggregates do not keep lineage/,
  );
});

t.test('null values: windowed aggregates take them (as Kafka Streams does), the others do not', async (t) => {
  const builder = new StreamsBuilder();
  const selected: Array<string | null> = [];
  const clicks = builder.stream('clicks', S);
  const windows = TimeWindows.ofSizeWithNoGrace(100);
  const wout = { keySerde: timeWindowedSerde(Serdes.string, 100), valueSerde: longs };
  clicks.groupByKey(S).windowedBy(windows).count({ storeName: 'in-place' }).toStream().to('in-place', wout);
  clicks.groupByKey(S).count({ storeName: 'plain' });
  // Through a repartition topic: the selector sees the null value only because a windowed count reads it.
  clicks
    .groupBy(
      (k, v) => {
        selected.push(v);
        return (k ?? 'none').toUpperCase();
      },
      { name: 'upper', ...S },
    )
    .windowedBy(windows)
    .count({ storeName: 'regrouped' })
    .toStream()
    .to('regrouped', wout);
  clicks.groupBy((k, v) => `${k}:${v!.length}`, { name: 'by-length', ...S }).count({ storeName: 'by-length' });
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('clicks', S, 'a', 'x', 1);
  driver.pipe('clicks', S, 'a', null, 2);
  driver.pipe('clicks', S, null, 'y', 3);
  const latestOf = (topic: string) =>
    Object.fromEntries(
      driver.readOutput(topic, wout).map(({ key, value }) => [`${key!.key}@${key!.window.start}`, value]),
    );
  t.same(latestOf('in-place'), { 'a@0': 2 }, 'the null value is counted, the null key is not');
  t.same(latestOf('regrouped'), { 'A@0': 2, 'NONE@0': 1 }, 'a key chosen for a null key counts');
  t.equal(driver.get('plain', 'a'), 1, 'a plain count leaves the null value out');
  t.equal(driver.get('by-length', 'a:1'), 1, "a plain count's selector never sees it");
  t.same(selected, ['x', null, 'y']);
  t.same(driver.deadLetters, []);
});

t.test('a windowed reduce whose result is null has no row for that window', async (t) => {
  const builder = new StreamsBuilder();
  builder
    .stream('words', S)
    .groupByKey(S)
    .windowedBy(TimeWindows.ofSizeWithNoGrace(100))
    .reduce((a, b) => b, { storeName: 'last' });
  const driver = new TopologyTestDriver(builder.build());
  const window = { start: 0, end: 100 };
  driver.pipe('words', S, 'k', null, 1);
  t.equal(driver.get('last', { key: 'k', window }), null, 'a first null value gives no row');
  driver.pipe('words', S, 'k', 'a', 2);
  t.same(driver.get('last', { key: 'k', window }), { value: 'a', timestamp: 2 });
  driver.pipe('words', S, 'k', null, 3);
  t.equal(driver.get('last', { key: 'k', window }), null, 'a null result deletes the row');
});

t.test('windows are deleted once their retention has passed in stream time', async (t) => {
  const builder = new StreamsBuilder();
  builder
    .stream('clicks', S)
    .groupByKey(S)
    .windowedBy(TimeWindows.ofSizeAndGrace(10_000, 5_000))
    .count({ storeName: 'kept', retentionMs: 60_000 });
  const driver = new TopologyTestDriver(builder.build());
  const starts = async () =>
    [...(await driver.all<Windowed<string>, unknown>('kept')).keys()].map((w) => `${w.key}@${w.window.start}`).sort();
  driver.pipe('clicks', S, 'a', 'x', 1_000);
  driver.pipe('clicks', S, 'b', 'x', 15_000);
  t.same(await starts(), ['a@0', 'b@10000']);
  // Stream time 60,999: [0, 10 s) started more than the retention ago, but expired windows are
  // deleted once per segment interval (half the retention, at least a minute): not yet.
  driver.pipe('clicks', S, 'a', 'x', 60_999);
  t.same(await starts(), ['a@0', 'a@60000', 'b@10000']);
  // Stream time 125,000: every window that started before 65,001 goes.
  driver.pipe('clicks', S, 'c', 'x', 125_000);
  t.same(await starts(), ['c@120000']);
});

t.test("a window store's retention is at least the windows' size and grace", async (t) => {
  const grouped = () => new StreamsBuilder().stream('clicks', S).groupByKey(S);
  t.throws(
    () => grouped().windowedBy(TimeWindows.ofSizeAndGrace(10, 5)).count({ retentionMs: 14 }),
    /retention \(14 ms\) must be .* at least 15 ms \(the windows' size plus grace\)/,
  );
  const builder = new StreamsBuilder();
  builder.stream('clicks', S).groupByKey(S).windowedBy(TimeWindows.ofSizeAndGrace(10, 5)).count({ storeName: 'w' });
  t.equal(compileTopology(builder.build(), 'app').store('w').retentionMs, 15, 'by default, size plus grace');
});

t.test("a window store's changelog compacts and deletes after the retention and a day", async (t) => {
  const builder = new StreamsBuilder();
  builder
    .stream('clicks', S)
    .groupByKey(S)
    .windowedBy(TimeWindows.ofSizeWithNoGrace(60_000))
    .count({ storeName: 'w', retentionMs: 3_600_000 });
  builder.stream('other', S).groupByKey(S).count({ storeName: 'plain' });
  const topology = compileTopology(builder.build(), 'app');
  t.same(changelogConfigs(topology.store('w')), { 'cleanup.policy': 'compact,delete', 'retention.ms': '90000000' });
  t.same(changelogConfigs(topology.store('plain')), { 'cleanup.policy': 'compact' });
});

function sessionCounts(windows: SessionWindows, retentionMs?: number) {
  const builder = new StreamsBuilder();
  builder
    .stream('clicks', S)
    .groupByKey(S)
    .windowedBy(windows)
    .count({ storeName: 'sessions', ...(retentionMs ? { retentionMs } : {}) })
    .toStream()
    .to('session-counts', { keySerde: sessionWindowedSerde(Serdes.string), valueSerde: longs });
  return new TopologyTestDriver(builder.build());
}

/** Every record of the output, as "key[start,end]=count" (null: a tombstone). */
function sessionRecords(driver: TopologyTestDriver): string[] {
  return driver
    .readOutput('session-counts', { keySerde: sessionWindowedSerde(Serdes.string), valueSerde: longs })
    .map(({ key, value, timestamp }) => `${key!.key}[${key!.window.start},${key!.window.end}]=${value}@${timestamp}`);
}

t.test('session windows: records within the gap make one session; a bridging record merges two', async (t) => {
  const driver = sessionCounts(SessionWindows.ofInactivityGapAndGrace(15, 100));
  driver.pipe('clicks', S, 'a', 'x', 0);
  driver.pipe('clicks', S, 'a', 'x', 5); // within 15 of 0: extends [0, 0] to [0, 5]
  driver.pipe('clicks', S, 'a', 'x', 30); // 25 after 5: a new session
  driver.pipe('clicks', S, 'a', 'x', 18); // within 15 of 5 and of 30: merges both
  t.same(sessionRecords(driver), [
    'a[0,0]=1@0',
    'a[0,0]=null@0',
    'a[0,5]=2@5',
    'a[30,30]=1@30',
    'a[0,5]=null@5',
    'a[30,30]=null@30',
    'a[0,30]=4@30',
  ]);
  t.same(
    [...(await driver.all<string, Array<{ start: number; end: number; aggregate: number }>>('sessions'))],
    [['a', [{ start: 0, end: 30, timestamp: 30, aggregate: 4 }]]],
    "the key's one live session",
  );
});

t.test('a session closes after its end plus the gap plus the grace period', async (t) => {
  const driver = sessionCounts(SessionWindows.ofInactivityGapAndGrace(10, 5));
  driver.pipe('clicks', S, 'a', 'x', 0);
  driver.pipe('clicks', S, 'b', 'x', 14); // stream time 14: [0, 0] closes at 0 + 10 + 5 = 15
  driver.pipe('clicks', S, 'a', 'x', 4); // joins [0, 0]
  driver.pipe('clicks', S, 'b', 'x', 20); // stream time 20: [0, 4] is closed (4 + 15 < 20)
  driver.pipe('clicks', S, 'a', 'x', 2); // late
  t.same(sessionRecords(driver).slice(-3), ['a[0,4]=2@4', 'b[14,14]=null@14', 'b[14,20]=2@20']);
  t.equal(driver.droppedRecords.get('late'), 1);
  const rows = await driver.all<string, Array<{ start: number; end: number; aggregate: number }>>('sessions');
  t.equal(rows.get('a'), undefined, 'and [0, 4] has expired since (the retention: gap plus grace)');
  t.same(rows.get('b'), [{ start: 14, end: 20, timestamp: 20, aggregate: 2 }]);
});

t.test('expired sessions are dropped from the store', async (t) => {
  const driver = sessionCounts(SessionWindows.ofInactivityGapWithNoGrace(1_000), 60_000);
  driver.pipe('clicks', S, 'a', 'x', 0);
  driver.pipe('clicks', S, 'b', 'x', 10_000);
  driver.pipe('clicks', S, 'c', 'x', 90_000); // both ended more than a minute ago
  const rows = await driver.all('sessions');
  t.same([...rows.keys()], ['c']);
});

t.test('session windows are refused with what is wrong', async (t) => {
  t.throws(() => SessionWindows.ofInactivityGapWithNoGrace(0), /gap must be .* at least 1/);
  t.throws(() => SessionWindows.ofInactivityGapAndGrace(10, -1), /grace period/);
  const grouped = new StreamsBuilder().stream('clicks', S).groupByKey(S);
  t.throws(
    () => grouped.windowedBy(SessionWindows.ofInactivityGapAndGrace(10, 5)).count({ retentionMs: 10 }),
    /at least 15 ms \(the gap plus grace\)/,
  );
});

t.test('session-windowed keys are written as Kafka Streams writes them: key bytes, end, then start', async (t) => {
  const serde = sessionWindowedSerde(Serdes.string);
  const bytes = serde.serialize({ key: 'k', window: { start: 1, end: 2 } });
  t.same([...bytes], [0x6b, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
  t.same(serde.deserialize(bytes), { key: 'k', window: { start: 1, end: 2 } });
});

t.test('a session reduce and aggregate merge with the reducer and the merger', async (t) => {
  const builder = new StreamsBuilder();
  const grouped = builder.stream('words', S).groupByKey(S);
  const sessions = SessionWindows.ofInactivityGapAndGrace(10, 20);
  grouped
    .windowedBy(sessions)
    .reduce((a, b) => `${a}+${b}`, { storeName: 'joined' })
    .suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded()))
    .toStream()
    .to('joined-out', { keySerde: sessionWindowedSerde(Serdes.string), valueSerde: Serdes.string });
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('words', S, 'k', 'a', 0);
  driver.pipe('words', S, 'k', 'c', 20);
  driver.pipe('words', S, 'k', 'b', 10); // merges [0, 0] and [20, 20]
  driver.pipe('words', S, 'other', 'z', 100); // closes [0, 20]: 20 + 10 + 20 <= 100
  t.same(
    driver
      .readOutput('joined-out', { keySerde: sessionWindowedSerde(Serdes.string), valueSerde: Serdes.string })
      .map(({ key, value }) => `${key!.key}[${key!.window.start},${key!.window.end}]=${value}`),
    ['k[0,20]=a+c+b'],
    'one final result: the sessions merged in end order, then the bridging record',
  );
});

t.test('pruning after a commit goes by that commit, not by records processed while it was in flight', async (t) => {
  const builder = new StreamsBuilder();
  builder
    .stream('clicks', S)
    .groupByKey(S)
    .windowedBy(SessionWindows.ofInactivityGapAndGrace(2_000, 1_000))
    .count({ storeName: 'visits' });
  const topology = compileTopology(builder.build(), 'app');
  const sub = topology.subtopologies[0]!;
  const backend = new MemoryBackend();
  let offset = 0;
  const pipe = (core: TaskCore, key: string, timestamp: number) =>
    t.equal(
      core.process({
        topic: 'clicks',
        partition: 0,
        offset: String(offset++),
        timestamp,
        key: Buffer.from(key),
        value: Buffer.from('x'),
      }),
      undefined,
    );
  const core = new TaskCore(topology, sub, 0, new TaskState(backend, sub.stores, 0), { cacheChanges: true });
  pipe(core, 'a', 100_000);
  const snapshot = core.state.startCommit();
  const expiries = core.windowExpiries();
  pipe(core, 'b', 200_000); // processed while the commit is in flight: a's session expires by it
  await snapshot.apply(new Map());
  await core.expireWindows(expiries);
  // A crash now: the task starts again from the committed state, on the same local store.
  const again = new TaskCore(topology, sub, 0, new TaskState(backend, sub.stores, 0), { cacheChanges: true });
  offset = 1;
  pipe(again, 'a', 101_500); // within the gap of a's session, in the committed state's terms
  const sessions = again.state.store<string, WindowRow<number>[]>('visits').get('a');
  t.same(
    sessions?.map((s) => [s.start, s.end, s.aggregate]),
    [[100_000, 101_500, 2]],
    "the record joins a's session: it was not pruned by the uncommitted record's time",
  );
});
