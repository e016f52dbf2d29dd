// The Processor API: processors with stores, headers, named children, metadata, punctuation on stream
// time and wall-clock time, failures taken back; in the test driver, by hand and inside the DSL.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { Topology } from '../../src/dsl/topology.js';
import type { Processor, ProcessorContext, StreamRecord } from '../../src/processor/api.js';
import { compileTopology } from '../../src/processor/compile.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import { Serdes } from '../../src/serdes/index.js';

const text = { keySerde: Serdes.string, valueSerde: Serdes.string };

/** Forwards a key's first value only, remembering seen keys in a store. */
class FirstSeen implements Processor<string, string, string, string> {
  private context!: ProcessorContext<string, string>;
  init(context: ProcessorContext<string, string>) {
    this.context = context;
  }
  process(record: StreamRecord<string, string>) {
    const seen = this.context.getStateStore<string, string>('seen');
    if (seen.get(record.key) !== null) return;
    seen.put(record.key, record.value);
    this.context.forward({ ...record, headers: [{ key: 'first', value: Buffer.from('yes') }] });
  }
}

t.test('KStream.process: a processor with a store, forwarding with headers', async (t) => {
  const builder = new StreamsBuilder();
  builder.addStateStore({ storeName: 'seen', ...text });
  builder
    .stream('in', text)
    .process(() => new FirstSeen(), { name: 'first-seen', stores: ['seen'] })
    .mapValues((v) => v.toUpperCase())
    .to('out', text);
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('in', text, 'a', 'one');
  driver.pipe('in', text, 'a', 'two');
  driver.pipe('in', text, 'b', 'three');
  t.same(
    driver.readOutput('out', text).map((r) => [r.key, r.value]),
    [
      ['a', 'ONE'],
      ['b', 'THREE'],
    ],
  );
  t.same(
    driver.outputHeaders('out').map((headers) => headers.map((h) => `${h.key}=${h.value.toString()}`)),
    [['first=yes'], ['first=yes']],
    'the headers the processor forwarded reach the sink through a DSL operator',
  );
  t.equal(driver.get('seen', 'a'), 'one', 'the store holds what the processor wrote');
  t.same([...compileTopology(builder.build(), 'app').changelogTopics], ['app-seen-changelog'], 'with a changelog');
});

t.test('Topology by hand: forward to one child by name; record metadata', async (t) => {
  const metadata: unknown[] = [];
  const topology = new Topology()
    .addSource('source', 'in', text)
    .addProcessor(
      'router',
      (): Processor<string, string, string, string> => {
        let context: ProcessorContext<string, string>;
        return {
          init: (c) => (context = c),
          process: (record) => {
            metadata.push(context.recordMetadata());
            context.forward(record, record.value.startsWith('x') ? 'to-x' : 'to-rest');
          },
        };
      },
      'source',
    )
    .addSink('to-x', 'x', text, 'router')
    .addSink('to-rest', 'rest', text, 'router');
  const driver = new TopologyTestDriver(topology.build());
  driver.pipe('in', text, 'k1', 'xray');
  driver.pipe('in', text, 'k2', 'yankee');
  t.same(
    driver.readOutput('x', text).map((r) => r.value),
    ['xray'],
  );
  t.same(
    driver.readOutput('rest', text).map((r) => r.value),
    ['yankee'],
  );
  t.same(metadata, [
    { topic: 'in', partition: 0, offset: '0' },
    { topic: 'in', partition: 0, offset: '1' },
  ]);
});

t.test('stream-time punctuation: aligned to 0, at most once per record, in stream time', async (t) => {
  const fired: number[] = [];
  let metadataInPunctuator: unknown = 'unset';
  const builder = new StreamsBuilder();
  builder
    .stream('in', text)
    .process((): Processor<string, string, string, string> => {
      let context: ProcessorContext<string, string>;
      return {
        init: (c) => {
          context = c;
          c.schedule(10, 'stream-time', (time) => {
            fired.push(time);
            metadataInPunctuator = context.recordMetadata();
            context.forward({ key: 'tick', value: String(time), timestamp: time, headers: [] });
          });
        },
        process: () => undefined,
      };
    })
    .to('ticks', text);
  const driver = new TopologyTestDriver(builder.build());
  for (const ts of [0, 5, 12, 8, 35]) driver.pipe('in', text, 'k', 'v', ts);
  t.same(
    fired,
    [0, 12, 35],
    'at 0, then past 10 (at 12), then once past 20 and 30 (at 35); an older record moves nothing',
  );
  t.same(
    driver.readOutput('ticks', text).map((r) => r.value),
    ['0', '12', '35'],
    'what the punctuator forwards is output',
  );
  t.equal(metadataInPunctuator, undefined, 'no record metadata while a punctuator runs');
});

t.test('wall-clock punctuation: fires as the clock passes, without bursts; cancel stops it', async (t) => {
  const fired: number[] = [];
  let cancel = () => undefined as void;
  const builder = new StreamsBuilder();
  builder.addStateStore({ storeName: 'ticks', keySerde: Serdes.string, valueSerde: Serdes.json<number>() });
  builder.stream('in', text).process(
    (): Processor<string, string> => ({
      init: (context) => {
        const ticks = context.getStateStore<string, number>('ticks');
        const schedule = context.schedule(1000, 'wall-clock-time', (time) => {
          fired.push(time);
          ticks.put('count', (ticks.get('count') ?? 0) + 1);
        });
        cancel = () => schedule.cancel();
      },
      process: () => undefined,
    }),
    { stores: ['ticks'] },
  );
  const driver = new TopologyTestDriver(builder.build(), 'app', { wallClockStartMs: 100 });
  driver.advanceWallClockTime(500);
  t.same(fired, []);
  driver.advanceWallClockTime(600);
  t.same(fired, [1200]);
  driver.advanceWallClockTime(5000);
  t.same(fired, [1200, 6200], 'five intervals passed at once fire it once');
  t.equal(driver.get('ticks', 'count'), 2, 'its store writes are kept');
  cancel();
  driver.advanceWallClockTime(5000);
  t.same(fired, [1200, 6200]);
});

t.test('a punctuator that throws: its writes and records are taken back, processing goes on', async (t) => {
  const builder = new StreamsBuilder();
  builder.addStateStore({ storeName: 'st', ...text });
  builder
    .stream('in', text)
    .process(
      (): Processor<string, string, string, string> => {
        let context: ProcessorContext<string, string>;
        return {
          init: (c) => {
            context = c;
            c.schedule(10, 'wall-clock-time', () => {
              c.getStateStore<string, string>('st').put('half', 'written');
              c.forward({ key: 'half', value: 'sent', timestamp: 0, headers: [] });
              throw new Error('punctuator broke');
            });
          },
          process: (record) => context.forward(record),
        };
      },
      { stores: ['st'] },
    )
    .to('out', text);
  const driver = new TopologyTestDriver(builder.build());
  driver.advanceWallClockTime(10);
  t.same(
    driver.punctuationErrors.map((e) => e.message),
    ['punctuator broke'],
  );
  t.equal(driver.get('st', 'half'), null, 'the write was taken back');
  driver.pipe('in', text, 'k', 'v');
  t.same(
    driver.readOutput('out', text).map((r) => [r.key, r.value]),
    [['k', 'v']],
    'nothing of the failed punctuation was sent',
  );
});

t.test('stores: only connected ones are visible; a store is not shared across sub-topologies', async (t) => {
  const builder = new StreamsBuilder();
  builder.addStateStore({ storeName: 'mine', ...text });
  builder.addStateStore({ storeName: 'other', ...text });
  builder.stream('in', text).process(
    (): Processor<string, string> => ({
      init: (context) => void context.getStateStore('other'),
      process: () => undefined,
    }),
    { stores: ['mine'] },
  );
  t.throws(() => new TopologyTestDriver(builder.build()), /the store "other" is not connected/);

  t.throws(
    () => new StreamsBuilder().stream('in', text).process(() => ({ process: () => undefined }), { stores: ['nope'] }),
    /was not added/,
  );

  const shared = new StreamsBuilder();
  shared.addStateStore({ storeName: 'shared', ...text });
  const processor = () => ({ process: () => undefined });
  shared.stream('a', text).process(processor, { stores: ['shared'] });
  shared.stream('b', text).process(processor, { stores: ['shared'] });
  t.throws(() => compileTopology(shared.build(), 'app'), /used by processors in different sub-topologies/);
});

t.test('close() reaches every processor', async (t) => {
  let closed = 0;
  const topology = new Topology()
    .addSource('s', 'in', text)
    .addProcessor('p', () => ({ process: () => undefined, close: () => void closed++ }), 's');
  const driver = new TopologyTestDriver(topology.build());
  driver.close();
  t.equal(closed, 1);
});

/** Forwards each record under another key: what processValues refuses. */
class Rekey implements Processor<string, string, string, string> {
  private context!: ProcessorContext<string, string>;
  init(context: ProcessorContext<string, string>) {
    this.context = context;
  }
  process(record: StreamRecord<string, string>) {
    this.context.forward({ ...record, key: `${record.key}!` });
  }
}

t.test('KStream.processValues: keys are kept, so grouping after it needs no repartition', async (t) => {
  const builder = new StreamsBuilder();
  builder.addStateStore({ storeName: 'seen', ...text });
  builder
    .stream('in', text)
    .processValues(() => new FirstSeen(), { name: 'first-seen', stores: ['seen'] })
    .groupByKey(text)
    .count({ storeName: 'firsts' });
  const compiled = compileTopology(builder.build(), 'app');
  t.equal(compiled.repartitionTopics.length, 0, 'grouped in place');
  t.equal(compiled.subtopologies.length, 1);

  const rekeying = new StreamsBuilder();
  rekeying
    .stream('in', text)
    .processValues(() => new Rekey())
    .to('out', text);
  const driver = new TopologyTestDriver(rekeying.build());
  driver.pipe('in', text, 'a', 'one');
  t.same(driver.readOutput('out', text), [], 'nothing forwarded');
  t.match(driver.deadLetters[0]?.error.message, /processValues\) may only forward records with the key/);
});
