// Our side of the differential tests: the topologies of
// bench/kafka-streams-java/src/main/java/uis/bench/DslCatalog.java, operator for operator, and what
// each one reads and writes. Keys and values are UTF-8 strings; numbers 64-bit big-endian.
import { StreamsBuilder } from '../../src/dsl/builder.js';
import type { TopologyGraph } from '../../src/dsl/graph.js';
import { Serdes, sessionWindowedSerde, timeWindowedSerde, type Serde } from '../../src/serdes/index.js';
import { JoinWindows, SessionWindows, SlidingWindows, TimeWindows } from '../../src/dsl/windows.js';
import { BufferConfig, Suppressed } from '../../src/dsl/suppressed.js';
import type { KeyValueStore } from '../../src/processor/types.js';
import type { Processor, ProcessorContext, StreamRecord } from '../../src/processor/api.js';

const S = { keySerde: Serdes.string, valueSerde: Serdes.string };
const L = { keySerde: Serdes.string, valueSerde: Serdes.int64 };
/** A count written as Kafka Streams' Serdes.Long writes it: our counts are numbers, its are longs. */
const countSerde: Serde<number> = {
  name: 'count-as-int64',
  serialize: (n) => Serdes.int64.serialize(BigInt(n)),
  deserialize: (bytes) => Number(Serdes.int64.deserialize(bytes)),
};

export type CatalogName =
  'stateless' | 'tables' | 'stream-table' | 'global-table' | 'fk-join' | 'processor' | 'windowed';

export interface CatalogEntry {
  /** Input topic names (after the input prefix); `tables` are read as tables. */
  inputs: string[];
  /**
   * Inputs read as global tables: written before either application starts (both restore them
   * whole before processing; later updates would reach each at its own time).
   */
  preloaded?: string[];
  /**
   * Output topics (after the output prefix), each read as a stream or, compacted, as a table; keys
   * are strings, or `windowed` ones: time-windowed (the key's bytes, then the window's start) or
   * session-windowed (the key's bytes, the session's end, its start).
   */
  outputs: Record<string, { kind: 'stream' | 'table'; numbers: boolean; windowed?: 'time' | 'session' }>;
  build(inPrefix: string, outPrefix: string): TopologyGraph;
}

export const catalog: Record<CatalogName, CatalogEntry> = {
  stateless: {
    inputs: ['a', 'b'],
    outputs: {
      'word-count': { kind: 'table', numbers: true },
      'split-a': { kind: 'stream', numbers: false },
      'split-long': { kind: 'stream', numbers: false },
      'split-rest': { kind: 'stream', numbers: false },
      merged: { kind: 'stream', numbers: false },
      'initial-sum': { kind: 'table', numbers: true },
    },
    build(inPrefix, out) {
      const builder = new StreamsBuilder();
      const a = builder.stream(`${inPrefix}-a`, S);
      const b = builder.stream(`${inPrefix}-b`, S);

      a.flatMapValues((v) => (v === null ? [] : v.split(' ')))
        .filterNot((_k, w) => w === '')
        .map((k, w) => ({ key: w, value: k ?? '-' }))
        .repartition({ name: 'words', ...S })
        .groupByKey(S)
        .count({ storeName: 'word-count' })
        .toStream()
        .to(`${out}-word-count`, { keySerde: Serdes.string, valueSerde: countSerde });

      const branches = a
        .split('s-')
        .branch((_k, v) => v !== null && v.startsWith('a'), {
          name: 'a',
          chain: (s) => s.mapValues((v) => v!.toUpperCase()),
        })
        .branch((_k, v) => v !== null && v.length > 12, { name: 'long' })
        .defaultBranch({ name: 'rest' });
      branches['s-a']!.to(`${out}-split-a`, S);
      branches['s-long']!.to(`${out}-split-long`, S);
      branches['s-rest']!.to(`${out}-split-rest`, S);

      const merged = a.merge(b).peek(() => undefined);
      merged.to(`${out}-merged`, S);
      merged
        .filter((_k, v) => v !== null && v !== '')
        .flatMap((_k, v) => [
          { key: v!.slice(0, 1), value: BigInt(v!.length) },
          { key: 'all', value: 1n },
        ])
        .groupByKey({ name: 'by-initial', ...L })
        .reduce((x, y) => x + y, { storeName: 'initial-sum' })
        .toStream()
        .to(`${out}-initial-sum`, L);
      return builder.build();
    },
  },

  tables: {
    inputs: ['left', 'right'],
    outputs: {
      inner: { kind: 'table', numbers: false },
      left: { kind: 'table', numbers: false },
      outer: { kind: 'table', numbers: false },
      'initial-length': { kind: 'table', numbers: true },
      'value-count': { kind: 'table', numbers: true },
    },
    build(inPrefix, out) {
      const builder = new StreamsBuilder();
      const left = builder.table(`${inPrefix}-left`, { ...S, storeName: 'left' });
      const right = builder.table(`${inPrefix}-right`, { ...S, storeName: 'right' });
      left
        .join(right, (l, r) => `${l}+${r}`)
        .toStream()
        .to(`${out}-inner`, S);
      left
        .leftJoin(right, (l, r) => `${l}+${r ?? '-'}`)
        .toStream()
        .to(`${out}-left`, S);
      left
        .outerJoin(right, (l, r) => `${l ?? '-'}+${r ?? '-'}`)
        .toStream()
        .to(`${out}-outer`, S);
      left
        .groupBy((_k, v) => ({ key: v.slice(0, 1), value: BigInt(v.length) }), { name: 'by-initial', ...L })
        .reduce(
          (agg, v) => agg + v,
          (agg, v) => agg - v,
          { storeName: 'initial-length' },
        )
        .toStream()
        .to(`${out}-initial-length`, L);
      left
        .groupBy((k, v) => ({ key: v, value: k }), { name: 'by-value', ...S })
        .count({ storeName: 'value-count' })
        .toStream()
        .to(`${out}-value-count`, { keySerde: Serdes.string, valueSerde: countSerde });
      return builder.build();
    },
  },

  'stream-table': {
    inputs: ['profiles', 'events'],
    outputs: {
      join: { kind: 'stream', numbers: false },
      'left-join': { kind: 'stream', numbers: false },
      'rekeyed-join': { kind: 'stream', numbers: false },
    },
    build(inPrefix, out) {
      const builder = new StreamsBuilder();
      const profiles = builder.table(`${inPrefix}-profiles`, { ...S, storeName: 'profiles' });
      const events = builder.stream(`${inPrefix}-events`, S);
      events.join(profiles, (e, p) => `${e}@${p}`).to(`${out}-join`, S);
      events.leftJoin(profiles, (e, p) => `${e}@${p ?? '-'}`).to(`${out}-left-join`, S);
      events
        .filter((_k, v) => v !== null)
        .selectKey((_k, v) => v!)
        .repartition({ name: 'by-value', ...S })
        .join(profiles, (e, p) => `${e}@${p}`)
        .to(`${out}-rekeyed-join`, S);
      return builder.build();
    },
  },

  'global-table': {
    inputs: ['profiles', 'renames', 'events'],
    preloaded: ['profiles', 'renames'],
    outputs: {
      join: { kind: 'stream', numbers: false },
      'left-join': { kind: 'stream', numbers: false },
      'key-left-join': { kind: 'stream', numbers: false },
      'rekeyed-join': { kind: 'stream', numbers: false },
      renamed: { kind: 'stream', numbers: false },
    },
    build(inPrefix, out) {
      const builder = new StreamsBuilder();
      const profiles = builder.globalTable(`${inPrefix}-profiles`, { ...S, storeName: 'profiles-global' });
      const events = builder.stream(`${inPrefix}-events`, S);
      events
        .join(
          profiles,
          (_k, v) => v,
          (e, p) => `${e}@${p}`,
        )
        .to(`${out}-join`, S);
      events
        .leftJoin(
          profiles,
          (_k, v) => v,
          (e, p) => `${e}@${p ?? '-'}`,
        )
        .to(`${out}-left-join`, S);
      events
        .leftJoin(
          profiles,
          (k) => k,
          (e, p) => `${e}@${p ?? '-'}`,
        )
        .to(`${out}-key-left-join`, S);
      events
        .filter((_k, v) => v !== null)
        .selectKey((_k, v) => v!)
        .join(
          profiles,
          (k) => k,
          (e, p, k) => `${k}:${e}@${p}`,
        )
        .to(`${out}-rekeyed-join`, S);
      // A global store kept by a processor: how many renames each profile had (a null value resets it).
      const counts = { keySerde: Serdes.string, valueSerde: countSerde };
      builder.addGlobalStore({ storeName: 'renames-count', ...counts }, `${inPrefix}-renames`, S, () => {
        let store: KeyValueStore<string, number>;
        return {
          init: (context) => void (store = context.getStateStore<string, number>('renames-count')),
          process: ({ key, value }: StreamRecord<string | null, string | null>) => {
            if (key === null) return;
            store.put(key, value === null ? null : (store.get(key) ?? 0) + 1);
          },
        };
      });
      events
        .process(() => {
          let context: ProcessorContext<string, string>;
          return {
            init: (c: ProcessorContext<string, string>) => void (context = c),
            process: (record: StreamRecord<string, string | null>) => {
              if (record.value === null) return;
              const count = context.getStateStore<string, number>('renames-count').get(record.value);
              context.forward({ ...record, value: `${record.value}#${count ?? '-'}` });
            },
          };
        })
        .to(`${out}-renamed`, S);
      return builder.build();
    },
  },

  'fk-join': {
    inputs: ['orders', 'customers'],
    outputs: {
      join: { kind: 'table', numbers: false },
      'left-join': { kind: 'table', numbers: false },
    },
    build(inPrefix, out) {
      const builder = new StreamsBuilder();
      const orders = builder.table(`${inPrefix}-orders`, { ...S, storeName: 'orders' });
      const customers = builder.table(`${inPrefix}-customers`, { ...S, storeName: 'customers' });
      const customerOf = (order: string) => order.split('|')[0] || null;
      orders
        .join(customers, customerOf, (o, c) => `${o}@${c}`, {
          name: 'fk-inner',
          materialized: { valueSerde: Serdes.string },
        })
        .toStream()
        .to(`${out}-join`, S);
      orders
        .leftJoin(customers, customerOf, (o, c) => `${o}@${c ?? '-'}`, {
          name: 'fk-left',
          materialized: { valueSerde: Serdes.string },
        })
        .toStream()
        .to(`${out}-left-join`, S);
      return builder.build();
    },
  },

  processor: {
    inputs: ['a'],
    outputs: {
      sums: { kind: 'stream', numbers: true },
      big: { kind: 'stream', numbers: true },
    },
    build(inPrefix, out) {
      const builder = new StreamsBuilder();
      builder.addStateStore({ storeName: 'sums', keySerde: Serdes.string, valueSerde: Serdes.int64 });
      // Sums the lengths of each key's values in a store; a null value resets the key. Big sums also go to "big".
      const summer = (): Processor<string | null, string | null, string, bigint> => {
        let context: ProcessorContext<string, bigint>;
        let store: KeyValueStore<string, bigint>;
        return {
          init(c) {
            context = c;
            store = c.getStateStore<string, bigint>('sums');
          },
          process(record) {
            if (record.key === null) return;
            if (record.value === null) {
              store.put(record.key, null);
              return;
            }
            const sum = (store.get(record.key) ?? 0n) + BigInt(record.value.length);
            store.put(record.key, sum);
            context.forward({ ...record, key: record.key, value: sum });
            if (sum > 20n)
              context.forward(
                { key: `big:${record.key}`, value: sum, timestamp: record.timestamp, headers: [] },
                'big',
              );
          },
        };
      };
      const sums = builder.stream(`${inPrefix}-a`, S).process(summer, { name: 'summer', stores: ['sums'] });
      sums.to(`${out}-sums`, L);
      sums.filter(() => true, 'big').to(`${out}-big`, L);
      return builder.build();
    },
  },

  windowed: {
    inputs: ['events'],
    outputs: {
      'hopping-count': { kind: 'table', numbers: true, windowed: 'time' },
      'session-count': { kind: 'table', numbers: true, windowed: 'session' },
      'tumbling-joined': { kind: 'table', numbers: false, windowed: 'time' },
      'tumbling-max': { kind: 'table', numbers: false, windowed: 'time' },
      // Final results: one record per closed window, the same stream as Kafka Streams' (headers too).
      'final-count': { kind: 'stream', numbers: true, windowed: 'time' },
      'sliding-count': { kind: 'table', numbers: true, windowed: 'time' },
      'sliding-joined': { kind: 'table', numbers: false, windowed: 'time' },
      'inner-join': { kind: 'stream', numbers: false },
      'left-join': { kind: 'stream', numbers: false },
      'outer-join': { kind: 'stream', numbers: false },
    },
    build(inPrefix, out) {
      const builder = new StreamsBuilder();
      const events = builder.stream(`${inPrefix}-events`, S);
      events
        .groupByKey(S)
        .windowedBy(TimeWindows.ofSizeAndGrace(10_000, 5_000).advanceBy(5_000))
        .count({ storeName: 'hopping-count' })
        .toStream()
        .to(`${out}-hopping-count`, { keySerde: timeWindowedSerde(Serdes.string, 10_000), valueSerde: countSerde });
      events
        .groupByKey(S)
        .windowedBy(SessionWindows.ofInactivityGapAndGrace(3_000, 2_000))
        .count({ storeName: 'session-count' })
        .toStream()
        .to(`${out}-session-count`, { keySerde: sessionWindowedSerde(Serdes.string), valueSerde: countSerde });
      const present = events.filter((_k, v) => v !== null).groupByKey(S);
      present
        .windowedBy(TimeWindows.ofSizeAndGrace(20_000, 3_000))
        .aggregate(
          () => '',
          (_k, v, agg) => (agg === '' ? v! : `${agg},${v}`),
          {
            storeName: 'tumbling-joined',
            valueSerde: Serdes.string,
          },
        )
        .toStream()
        .to(`${out}-tumbling-joined`, {
          keySerde: timeWindowedSerde(Serdes.string, 20_000),
          valueSerde: Serdes.string,
        });
      present
        .windowedBy(TimeWindows.ofSizeAndGrace(20_000, 3_000))
        .count({ storeName: 'final-count' })
        .suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded()).withName('final'))
        .toStream()
        .to(`${out}-final-count`, { keySerde: timeWindowedSerde(Serdes.string, 20_000), valueSerde: countSerde });
      present
        .windowedBy(TimeWindows.ofSizeWithNoGrace(20_000))
        .reduce((a, b) => (a! >= b! ? a : b), { storeName: 'tumbling-max' })
        .toStream()
        .to(`${out}-tumbling-max`, { keySerde: timeWindowedSerde(Serdes.string, 20_000), valueSerde: Serdes.string });
      events
        .groupByKey(S)
        .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(5_000, 2_000))
        .count({ storeName: 'sliding-count' })
        .toStream()
        .to(`${out}-sliding-count`, { keySerde: timeWindowedSerde(Serdes.string, 5_000), valueSerde: countSerde });
      present
        .windowedBy(SlidingWindows.ofTimeDifferenceWithNoGrace(8_000))
        .aggregate(
          () => '',
          (_k, v, agg) => (agg === '' ? v! : `${agg},${v}`),
          {
            storeName: 'sliding-joined',
            valueSerde: Serdes.string,
          },
        )
        .toStream()
        .to(`${out}-sliding-joined`, { keySerde: timeWindowedSerde(Serdes.string, 8_000), valueSerde: Serdes.string });
      // Both sides of the joins come from one partition, so both engines see them in the same order.
      const left = events.filter((_k, v) => v === null || v < 'c');
      const right = events.filter((_k, v) => v === null || v >= 'c');
      const J = { keySerde: Serdes.string, valueSerde: Serdes.string, otherValueSerde: Serdes.string };
      left
        .join(right, (l, r) => `${l}+${r}`, JoinWindows.ofTimeDifferenceAndGrace(2_000, 1_000), {
          ...J,
          storeName: 'inner',
        })
        .to(`${out}-inner-join`, S);
      left
        .leftJoin(
          right,
          (l, r) => `${l}+${r ?? '-'}`,
          JoinWindows.ofTimeDifferenceAndGrace(3_000, 1_000).before(1_000),
          {
            ...J,
            storeName: 'left',
          },
        )
        .to(`${out}-left-join`, S);
      left
        .outerJoin(
          right,
          (l, r) => `${l ?? '-'}+${r ?? '-'}`,
          JoinWindows.ofTimeDifferenceAndGrace(2_000, 2_000).after(4_000),
          { ...J, storeName: 'outer' },
        )
        .to(`${out}-outer-join`, S);
      return builder.build();
    },
  },
};
