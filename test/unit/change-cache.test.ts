// Held changes (the record cache): aggregates forward only the newest change per key, at flush time,
// with the value downstream saw before; failures during a flush become dead letters; a failed
// record's holds are taken back.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { compileTopology } from '../../src/processor/compile.js';
import { encodeChangePair } from '../../src/processor/change-pair.js';
import { TaskCore, type InputRecord } from '../../src/runtime/task-core.js';
import { Serdes, type Serde } from '../../src/serdes/index.js';
import { longNumberSerde } from '../../src/serdes/long-number.js';
import { MemoryBackend } from '../../src/state/memory-backend.js';
import { TaskState } from '../../src/state/task-state.js';

const counts = { keySerde: Serdes.string, valueSerde: longNumberSerde as Serde<number> };

/** The task (holding changes) that reads the by-user repartition topic of app "app". */
function repartitionTask(builder: StreamsBuilder): TaskCore {
  const topology = compileTopology(builder.build(), 'app');
  const sub = topology.subtopologies.find((s) => s.sources.some((x) => x.topic === 'app-by-user-repartition'))!;
  return new TaskCore(topology, sub, 0, new TaskState(new MemoryBackend(), sub.stores, 0), { cacheChanges: true });
}

/** The task reading the repartition topic of a count whose output goes through `mapCount`. */
function countTask(mapCount: (n: number) => number = (n) => n) {
  const builder = new StreamsBuilder();
  builder
    .table('tweets', { keySerde: Serdes.string, valueSerde: Serdes.string })
    .groupBy((id, user) => ({ key: user, value: id }), {
      name: 'by-user',
      keySerde: Serdes.string,
      valueSerde: Serdes.string,
    })
    .count({ storeName: 'tweet-count' })
    .mapValues((n) => mapCount(n))
    .toStream()
    .to('out', counts);
  const task = repartitionTask(builder);
  let offset = 0;
  /** A repartition record adding (or, with `remove`, subtracting) tweet `id` to/from `user`. */
  const record = (user: string, id: string, remove = false): InputRecord => ({
    topic: 'app-by-user-repartition',
    partition: 0,
    offset: String(offset++),
    timestamp: offset,
    key: Buffer.from(user),
    value: remove ? encodeChangePair(null, Buffer.from(id)) : encodeChangePair(Buffer.from(id), null),
  });
  const output = () =>
    task
      .drainOutbox()
      .filter((r) => r.topic === 'out')
      .map((r) => [r.key!.toString(), longNumberSerde.deserialize(r.value!), r.timestamp]);
  return { task, record, output };
}

t.test('only the newest change per key leaves the aggregate, at the flush', async (t) => {
  const { task, record, output } = countTask();
  for (let i = 0; i < 5; i++) t.equal(task.process(record('alice', `t${i}`)), undefined);
  task.process(record('bob', 'b1'));
  t.equal(task.heldChanges, 2, 'one held change per key');
  t.same(output(), [], 'nothing is forwarded before the flush');
  t.equal(task.state.store('tweet-count').get('alice'), 5, 'the store is written at once (joins read it)');

  t.same(task.flush(), []);
  t.equal(task.heldChanges, 0);
  t.same(
    output(),
    [
      ['alice', 5, 5],
      ['bob', 1, 6],
    ],
    'the newest value with the newest timestamp',
  );

  task.process(record('alice', 't0', true));
  task.process(record('alice', 't1', true));
  task.flush();
  t.same(output(), [['alice', 3, 8]]);
});

t.test('a change that fails downstream at the flush is a dead letter of the record that made it last', async (t) => {
  const { task, record, output } = countTask((n) => {
    if (n === 2) throw new RangeError('two is not allowed');
    return n;
  });
  task.process(record('alice', 't1'));
  const culprit = record('alice', 't2');
  task.process(culprit);
  task.process(record('bob', 'b1'));
  const letters = task.flush();
  t.equal(letters.length, 1);
  t.equal(letters[0]!.record, culprit);
  t.equal(letters[0]!.reason, 'RangeError');
  t.same(output(), [['bob', 1, 3]], 'the other key is forwarded');
});

t.test("a failed record's holds are taken back", async (t) => {
  // Two aggregates of one grouping read the same repartition record: the second fails after the
  // first has held its change.
  const builder = new StreamsBuilder();
  const grouped = builder
    .table('tweets', { keySerde: Serdes.string, valueSerde: Serdes.string })
    .groupBy((id, user) => ({ key: user, value: id }), {
      name: 'by-user',
      keySerde: Serdes.string,
      valueSerde: Serdes.string,
    });
  grouped.count({ storeName: 'tweet-count' }).toStream().to('out', counts);
  grouped
    .aggregate<number>(
      () => 0,
      (_user, id, n) => {
        if (id === 'bad') throw new TypeError('bad tweet');
        return n + 1;
      },
      (_user, _id, n) => n - 1,
      { storeName: 'checked-count', valueSerde: longNumberSerde as Serde<number> },
    )
    .toStream()
    .to('checked', counts);
  const task = repartitionTask(builder);
  const record = (offset: number, id: string): InputRecord => ({
    topic: 'app-by-user-repartition',
    partition: 0,
    offset: String(offset),
    timestamp: offset,
    key: Buffer.from('alice'),
    value: encodeChangePair(Buffer.from(id), null),
  });
  t.equal(task.process(record(0, 't1')), undefined);
  t.equal(task.process(record(1, 'bad'))?.reason, 'TypeError');
  t.equal(task.state.store('tweet-count').get('alice'), 1, "the failed record's count is taken back");
  t.same(task.flush(), []);
  const out = task.drainOutbox().map((r) => [r.topic, longNumberSerde.deserialize(r.value!), r.timestamp]);
  t.same(
    out,
    [
      ['out', 1, 0],
      ['checked', 1, 0],
    ],
    'and so is its held change',
  );
});
