// Suppression: final results of windows (untilWindowCloses), rate limiting (untilTimeLimit), full
// buffers, lookups of a suppressed table, and the buffer restored from its store after a restart.
import t, { type Test } from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { BufferConfig, Suppressed } from '../../src/dsl/suppressed.js';
import { TimeWindows } from '../../src/dsl/windows.js';
import { compileTopology } from '../../src/processor/compile.js';
import { TaskCore } from '../../src/runtime/task-core.js';
import { Serdes, timeWindowedSerde, type Serde } from '../../src/serdes/index.js';
import { longNumberSerde } from '../../src/serdes/long-number.js';
import { MemoryBackend } from '../../src/state/memory-backend.js';
import { TaskState } from '../../src/state/task-state.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';

const S = { keySerde: Serdes.string, valueSerde: Serdes.string };
const longs = longNumberSerde as Serde<number>;
const windowedOut = { keySerde: timeWindowedSerde(Serdes.string, 10), valueSerde: longs };

function finalCounts(buffer = BufferConfig.unbounded()) {
  const builder = new StreamsBuilder();
  builder
    .stream('clicks', S)
    .groupByKey(S)
    .windowedBy(TimeWindows.ofSizeAndGrace(10, 5))
    .count({ storeName: 'counts' })
    .suppress(Suppressed.untilWindowCloses(buffer).withName('final'))
    .toStream()
    .to('final-counts', windowedOut);
  return builder;
}

const emitted = (driver: TopologyTestDriver) =>
  driver.readOutput('final-counts', windowedOut).map(({ key, value, timestamp }) => ({
    at: `${key!.key}@${key!.window.start}`,
    value,
    timestamp,
  }));

t.test('untilWindowCloses: one final result per window, once stream time passes its end plus grace', async (t) => {
  const driver = new TopologyTestDriver(finalCounts().build());
  driver.pipe('clicks', S, 'a', 'x', 1);
  driver.pipe('clicks', S, 'a', 'x', 3);
  driver.pipe('clicks', S, 'b', 'x', 7);
  driver.pipe('clicks', S, 'a', 'x', 12);
  driver.pipe('clicks', S, 'a', 'x', 9); // late for nothing yet: [0, 10) closes at 15
  t.same(emitted(driver), [], 'nothing before [0, 10) closes');
  driver.pipe('clicks', S, 'c', 'x', 15);
  t.same(
    emitted(driver),
    [
      { at: 'a@0', value: 3, timestamp: 9 },
      { at: 'b@0', value: 1, timestamp: 7 },
    ],
    'the final counts, in key order, with the timestamps of their last records',
  );
  driver.pipe('clicks', S, 'a', 'x', 4); // late: dropped by the count, nothing emitted again
  driver.pipe('clicks', S, 'c', 'x', 25);
  t.same(emitted(driver).slice(2), [
    { at: 'a@10', value: 1, timestamp: 12 },
    { at: 'c@10', value: 1, timestamp: 15 },
  ]);
  t.equal(driver.droppedRecords.get('late'), 1);
});

t.test('untilWindowCloses needs a windowed aggregation upstream and a buffer that does not emit early', async (t) => {
  t.throws(() => Suppressed.untilWindowCloses(BufferConfig.maxRecords(10)), /must not emit early/);
  const builder = new StreamsBuilder();
  const table = builder.table('rows', { ...S, storeName: 'rows' });
  t.throws(
    () => table.suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded())),
    /does not come from a windowed aggregation/,
  );
  t.throws(() => BufferConfig.maxRecords(0), /positive whole number/);
  t.throws(() => Suppressed.untilTimeLimit(-1, BufferConfig.unbounded()), /0 or more/);
});

function rateLimited(buffer: BufferConfig) {
  const builder = new StreamsBuilder();
  builder
    .table('prices', { ...S, storeName: 'prices' })
    .suppress(Suppressed.untilTimeLimit(100, buffer))
    .toStream()
    .to('limited', S);
  return new TopologyTestDriver(builder.build());
}

const limited = (driver: TopologyTestDriver) =>
  driver.readOutput('limited', S).map(({ key, value, timestamp }) => `${key}=${value}@${timestamp}`);

t.test("untilTimeLimit: a key's latest change, once the limit has passed since its first buffered one", async (t) => {
  const driver = rateLimited(BufferConfig.unbounded());
  driver.pipe('prices', S, 'x', '1', 1000);
  driver.pipe('prices', S, 'x', '2', 1050);
  driver.pipe('prices', S, 'y', '5', 1060);
  driver.pipe('prices', S, 'x', '3', 1099);
  t.same(limited(driver), []);
  driver.pipe('prices', S, 'z', '9', 1100); // x waited 100 ms since 1000
  t.same(limited(driver), ['x=3@1099']);
  driver.pipe('prices', S, 'y', null, 1150); // a tombstone is a change like any other here
  driver.pipe('prices', S, 'z', '10', 1200);
  t.same(limited(driver), ['x=3@1099', 'y=null@1150', 'z=10@1200']);
});

t.test('a full buffer emits its oldest early, or stops the application under shutDownWhenFull', async (t) => {
  const early = rateLimited(BufferConfig.maxRecords(2));
  early.pipe('prices', S, 'a', '1', 1);
  early.pipe('prices', S, 'b', '1', 2);
  early.pipe('prices', S, 'c', '1', 3);
  t.same(limited(early), ['a=1@1'], 'the oldest went early');

  const strict = rateLimited(BufferConfig.maxRecords(2).shutDownWhenFull());
  strict.pipe('prices', S, 'a', '1', 1);
  strict.pipe('prices', S, 'b', '1', 2);
  strict.pipe('prices', S, 'c', '1', 3);
  t.equal(strict.deadLetters.length, 1);
  t.match(strict.deadLetters[0]!.error.message, /suppression buffer full: 3 records/);
  strict.pipe('prices', S, 'a', '2', 200);
  t.same(limited(strict), ['a=2@200', 'b=1@2'], 'the failed record took nothing with it');
});

t.test('a lookup of a suppressed table sees the value from before the buffered changes', async (t) => {
  const builder = new StreamsBuilder();
  const prices = builder
    .table('prices', { ...S, storeName: 'prices' })
    .suppress(Suppressed.untilTimeLimit(100, BufferConfig.unbounded()));
  builder
    .stream('orders', S)
    .join(prices, (order, price) => `${order}@${price}`)
    .to('priced', S);
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('prices', S, 'x', '1', 0);
  driver.pipe('prices', S, 'y', '7', 100); // x=1 has waited its 100 ms: emitted
  driver.pipe('prices', S, 'x', '2', 120); // waits until 220
  driver.pipe('orders', S, 'x', 'o1', 130);
  driver.pipe('orders', S, 'y', 'o2', 140);
  t.same(
    driver.readOutput('priced', S).map((r) => r.value),
    ['o1@1'],
    "a waiting key's row is the one emitted last; a key never emitted has none",
  );
});

/**
 * The final-counts task over one backend: `start()` makes a new owner of the task on what is
 * committed there (as after a restart), `pipe` processes a click and flushes, returning late drops.
 */
function restartable(t: Test) {
  const topology = compileTopology(finalCounts().build(), 'app');
  const sub = topology.subtopologies[0]!;
  const backend = new MemoryBackend();
  let offset = 0;
  return {
    async start(): Promise<TaskCore> {
      const core = new TaskCore(topology, sub, 0, new TaskState(backend, sub.stores, 0), { cacheChanges: true });
      await core.loadBuffers();
      return core;
    },
    pipe(core: TaskCore, key: string, timestamp: number, flush = true): number {
      const letter = core.process({
        topic: 'clicks',
        partition: 0,
        offset: String(offset++),
        timestamp,
        key: Buffer.from(key),
        value: Buffer.from('x'),
      });
      t.equal(letter, undefined);
      if (flush) core.flush();
      return core.takeDrops().get('late') ?? 0;
    },
  };
}

t.test('the buffer survives a restart: it is restored from its store and emits as it would have', async (t) => {
  const { start, pipe } = restartable(t);
  const first = await start();
  pipe(first, 'a', 1);
  pipe(first, 'a', 2);
  pipe(first, 'b', 13);
  t.same(
    first.drainOutbox().filter((r) => r.topic === 'final-counts'),
    [],
    'nothing final yet',
  );
  await first.state.startCommit().apply(new Map());

  const second = await start(); // a new owner of the task, on the committed state
  pipe(second, 'c', 15); // stream time was 13 before the restart; 15 closes [0, 10)
  const out = second.drainOutbox().filter((r) => r.topic === 'final-counts');
  t.same(
    out.map((r) => {
      const { key, window } = windowedOut.keySerde.deserialize(r.key!);
      return `${key}@${window.start}=${longs.deserialize(r.value!)}`;
    }),
    ['a@0=2'],
    'the count buffered before the restart, emitted once its window closed',
  );
});

t.test('stream time survives a restart: a record late before it is late after it', async (t) => {
  const { start, pipe } = restartable(t);
  const first = await start();
  pipe(first, 'a', 1);
  pipe(first, 'a', 30); // stream time 30: [0, 10) closed at 15
  t.equal(pipe(first, 'a', 2), 1, 'late before the restart');
  await first.state.startCommit().apply(new Map());

  const second = await start();
  t.equal(pipe(second, 'a', 3), 1, 'and after it: the aggregate still knows stream time 30');
  const finals = second.drainOutbox().filter((r) => r.topic === 'final-counts');
  t.same(finals, [], 'nothing new for the closed window');
});

t.test('a final result stays final when one flush holds changes of several windows', async (t) => {
  const { start, pipe } = restartable(t);
  const core = await start();
  pipe(core, 'a', 1); // [0, 10) = 1, waiting in the buffer
  // Held until one flush: [10, 20) first, then an out-of-order record for [0, 10) (still open: stream
  // time 11 less the grace is 6), then [10, 20) again at 16, which closes [0, 10) (at 10 + 5).
  pipe(core, 'a', 11, false);
  pipe(core, 'a', 9, false);
  pipe(core, 'a', 16, false);
  core.flush();
  pipe(core, 'b', 40);
  const finals = core
    .drainOutbox()
    .filter((r) => r.topic === 'final-counts')
    .map((r) => {
      const { key, window } = windowedOut.keySerde.deserialize(r.key!);
      return `${key}@${window.start}=${longs.deserialize(r.value!)}`;
    });
  t.same(finals, ['a@0=2', 'a@10=2'], '[0, 10) once, with both its records');
});
