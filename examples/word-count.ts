/**
 * Word count, Kafka Streams' first example: lines of text in, the count of each word out, kept in a
 * store and written as a table (one record per change of a word's count).
 */
import { StreamsBuilder } from '../src/dsl/builder.js';
import type { TopologyGraph } from '../src/dsl/graph.js';
import { Serdes } from '../src/serdes/index.js';

export const lines = { keySerde: Serdes.string, valueSerde: Serdes.string };
export const counts = { keySerde: Serdes.string, valueSerde: Serdes.json<number>('count') };

export function wordCount(topics: { lines: string; counts: string }): TopologyGraph {
  const builder = new StreamsBuilder();
  builder
    .stream(topics.lines, { ...lines, name: 'lines' })
    .flatMapValues(
      (line) =>
        (line ?? '')
          .toLowerCase()
          .split(/[^\p{L}\p{N}']+/u)
          .filter(Boolean),
      'words',
    )
    .groupBy((_key, word) => word, { name: 'by-word', keySerde: Serdes.string, valueSerde: Serdes.string })
    .count({ storeName: 'word-counts', name: 'count' })
    .toStream('count-changes')
    .to(topics.counts, { ...counts, name: 'counts' });
  return builder.build();
}
