// A small count/sum/join topology for the engine's integration tests, and the
// result it must reach for a given final input (computed independently).
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { Serdes } from '../../src/serdes/index.js';

export interface Item {
  group: string;
  n: number;
}
export interface GroupSummary {
  label: string;
  count: number;
  sum: number;
}

export const itemSerdes = { keySerde: Serdes.string, valueSerde: Serdes.json<Item>('item') };
export const labelSerdes = { keySerde: Serdes.string, valueSerde: Serdes.string };
export const summarySerdes = { keySerde: Serdes.string, valueSerde: Serdes.json<GroupSummary>('summary') };

export function topicsFor(prefix: string) {
  return { items: `${prefix}-items`, labels: `${prefix}-labels`, summaries: `${prefix}-summaries` };
}

/** items (by id) regrouped by group: count and sum; left-joined onto labels (by group). */
export function countJoinTopology(prefix: string) {
  const topics = topicsFor(prefix);
  const builder = new StreamsBuilder();
  const byGroup = builder
    .table(topics.items, { ...itemSerdes, storeName: 'items' })
    .groupBy((_id, item) => ({ key: item.group, value: item.n }), {
      name: 'items-by-group',
      keySerde: Serdes.string,
      valueSerde: Serdes.json<number>(),
    });
  const counts = byGroup.count({ storeName: 'group-counts' });
  const sums = byGroup.aggregate(
    () => 0,
    (_g, n, total) => total + n,
    (_g, n, total) => total - n,
    { storeName: 'group-sums', valueSerde: Serdes.json<number>() },
  );
  builder
    .table(topics.labels, { ...labelSerdes, storeName: 'labels' })
    .leftJoin(counts, (label, count) => ({ label, count: count ?? 0, sum: 0 }))
    .leftJoin(sums, (summary, sum) => ({ ...summary, sum: sum ?? 0 }), { storeName: 'summaries', ...summarySerdes })
    .toStream()
    .to(topics.summaries, summarySerdes);
  return builder.build();
}

/** The summaries the topology must end with, from the final items and labels. */
export function expectedSummaries(items: Map<string, Item>, labels: Map<string, string>): Map<string, GroupSummary> {
  const expected = new Map<string, GroupSummary>();
  for (const [group, label] of labels) expected.set(group, { label, count: 0, sum: 0 });
  for (const item of items.values()) {
    const summary = expected.get(item.group);
    if (summary) {
      summary.count += 1;
      summary.sum += item.n;
    }
  }
  return expected;
}
