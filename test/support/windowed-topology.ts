// A windowed topology for the recovery tests: final results of tumbling windows (suppressed until
// they close) and session counts, over events with out-of-order and late timestamps.
import { StreamsBuilder } from '../../src/dsl/builder.js';
import type { TopologyGraph } from '../../src/dsl/graph.js';
import { BufferConfig, Suppressed } from '../../src/dsl/suppressed.js';
import { SessionWindows, TimeWindows } from '../../src/dsl/windows.js';
import { longNumberSerde } from '../../src/serdes/long-number.js';
import { Serdes, sessionWindowedSerde, timeWindowedSerde, type Serde } from '../../src/serdes/index.js';

const S = { keySerde: Serdes.string, valueSerde: Serdes.string };
const longs = longNumberSerde as Serde<number>;
export const WINDOW_MS = 10_000;
export const finalSerdes = { keySerde: timeWindowedSerde(Serdes.string, WINDOW_MS), valueSerde: longs };
export const sessionSerdes = { keySerde: sessionWindowedSerde(Serdes.string), valueSerde: longs };

export function windowedTopics(inPrefix: string, outPrefix = inPrefix) {
  return { events: `${inPrefix}-events`, final: `${outPrefix}-final`, sessions: `${outPrefix}-sessions` };
}

export function windowedTopology(inPrefix: string, outPrefix = inPrefix): TopologyGraph {
  const topics = windowedTopics(inPrefix, outPrefix);
  const builder = new StreamsBuilder();
  const grouped = builder.stream(topics.events, S).groupByKey(S);
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
  return builder.build();
}
