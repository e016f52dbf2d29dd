// A windowed topology for the recovery tests: final results of tumbling windows (suppressed until
// they close), session counts, sliding-window counts and a windowed left join of the events with
// themselves (split by value), over events with out-of-order and late timestamps.
import { StreamsBuilder } from '../../src/dsl/builder.js';
import type { TopologyGraph } from '../../src/dsl/graph.js';
import { BufferConfig, Suppressed } from '../../src/dsl/suppressed.js';
import { JoinWindows, SessionWindows, SlidingWindows, TimeWindows } from '../../src/dsl/windows.js';
import { longNumberSerde } from '../../src/serdes/long-number.js';
import { Serdes, sessionWindowedSerde, timeWindowedSerde, type Serde } from '../../src/serdes/index.js';

const S = { keySerde: Serdes.string, valueSerde: Serdes.string };
const longs = longNumberSerde as Serde<number>;
export const WINDOW_MS = 10_000;
export const finalSerdes = { keySerde: timeWindowedSerde(Serdes.string, WINDOW_MS), valueSerde: longs };
export const sessionSerdes = { keySerde: sessionWindowedSerde(Serdes.string), valueSerde: longs };
export const SLIDING_MS = 3_000;
export const slidingSerdes = { keySerde: timeWindowedSerde(Serdes.string, SLIDING_MS), valueSerde: longs };

export function windowedTopics(inPrefix: string, outPrefix = inPrefix) {
  return {
    events: `${inPrefix}-events`,
    final: `${outPrefix}-final`,
    sessions: `${outPrefix}-sessions`,
    sliding: `${outPrefix}-sliding`,
    joined: `${outPrefix}-joined`,
  };
}

export function windowedTopology(inPrefix: string, outPrefix = inPrefix): TopologyGraph {
  const topics = windowedTopics(inPrefix, outPrefix);
  const builder = new StreamsBuilder();
  const events = builder.stream(topics.events, S);
  const grouped = events.groupByKey(S);
  grouped
    .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW_MS, 2_000))
    .count({ storeName: 'tumbling' })
    .suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded()).withName('final'))
    .toStream()
    .to(topics.final, finalSerdes);
  grouped
    .windowedBy(SessionWindows.ofInactivityGapAndGrace(2_000, 1_000))
    .count({ storeName: 'sessions' })
    .toStream()
    .to(topics.sessions, sessionSerdes);
  grouped
    .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(SLIDING_MS, 1_000))
    .count({ storeName: 'sliding' })
    .toStream()
    .to(topics.sliding, slidingSerdes);
  const left = events.filter((_k, v) => v !== null && v < 'v2');
  const right = events.filter((_k, v) => v !== null && v >= 'v2');
  left
    .leftJoin(right, (l, r) => `${l}+${r ?? '-'}`, JoinWindows.ofTimeDifferenceAndGrace(1_000, 500), {
      keySerde: Serdes.string,
      valueSerde: Serdes.string,
      otherValueSerde: Serdes.string,
      storeName: 'joined',
    })
    .to(topics.joined, S);
  return builder.build();
}
