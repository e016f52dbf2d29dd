// The examples on the real stack: each run by the engine on Kafka gives what the test driver gives on
// the same input (test/unit/examples.test.ts has the driver's side alone).
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TopologyGraph } from '../../src/dsl/graph.js';
import type { KafkaStreams } from '../../src/runtime/kafka-streams.js';
import type { Serde } from '../../src/serdes/index.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import { counts, lines, wordCount } from '../../examples/word-count.js';
import { customers, enriched, orderEnrichment, orders } from '../../examples/order-enrichment.js';
import { catalog, products, productSuppliers, suppliers } from '../../examples/product-suppliers.js';
import { connectedProducer, createTopics, readTopic } from '../support/kafka.js';
import { eventually, uniqueName } from '../support/stack.js';
import { streamsOnStack } from '../support/streams.js';

type Serdes<K, V> = { keySerde: Serde<K>; valueSerde: Serde<V> };
interface Input {
  topic: string;
  serdes: Serdes<string, unknown>;
  records: Array<[string | null, unknown]>;
}

/**
 * Runs a topology on the stack over `phases` of input; before each next phase, `processed(streams)`
 * must hold (e.g. a table's rows are in its store), so the result does not depend on timing.
 */
async function onStack(
  t: Test,
  graph: TopologyGraph,
  app: string,
  phases: Input[][],
  processed: (streams: KafkaStreams) => boolean,
  output: string,
  expected: number,
) {
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-example-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const streams = streamsOnStack(graph, { applicationId: app, stateDir });
  t.teardown(() => streams.stop());
  await streams.start();
  const producer = await connectedProducer();
  t.teardown(() => producer.disconnect());
  for (const [index, phase] of phases.entries()) {
    for (const input of phase) {
      await producer.send({
        topic: input.topic,
        messages: input.records.map(([key, value]) => ({
          key,
          value: value === null ? null : input.serdes.valueSerde.serialize(value),
        })),
      });
    }
    if (index < phases.length - 1) {
      await eventually(`phase ${index + 1} processed`, 60_000, async () => {
        try {
          return processed(streams) ? true : undefined;
        } catch {
          return undefined; // still starting or restoring
        }
      });
    }
  }
  const records: Array<[string | null, Buffer | null]> = [];
  await eventually(`${expected} records in ${output}`, 60_000, async () => {
    records.length = 0;
    await readTopic(output, (m) => records.push([m.key?.toString() ?? null, m.value]));
    return records.length >= expected ? true : undefined;
  });
  return records;
}

/** The same phases of input through the test driver, in order: the expected side. */
function inDriver(graph: TopologyGraph, phases: Input[][]): TopologyTestDriver {
  const driver = new TopologyTestDriver(graph);
  for (const phase of phases)
    for (const input of phase)
      for (const [key, value] of input.records)
        driver.pipeRaw(
          input.topic,
          key === null ? null : Buffer.from(key),
          value === null ? null : input.serdes.valueSerde.serialize(value),
        );
  return driver;
}

t.test('word count on the stack counts as in the test driver', async (t) => {
  const prefix = uniqueName('ex-wc');
  const topics = { lines: `${prefix}-lines`, counts: `${prefix}-counts` };
  await createTopics([topics.lines, topics.counts], 2);
  const input: Input = {
    topic: topics.lines,
    serdes: lines as Serdes<string, unknown>,
    records: [
      ['l1', 'the quick brown fox'],
      ['l2', 'jumps over the lazy dog'],
      ['l3', null],
      ['l4', 'The dog sleeps'],
    ],
  };
  const driver = new TopologyTestDriver(wordCount(topics));
  for (const [key, value] of input.records) driver.pipe(topics.lines, lines, key, value as string | null);
  const expected = Object.fromEntries(driver.readCompacted(topics.counts, counts));

  const records = await onStack(t, wordCount(topics), prefix, [[input]], () => true, topics.counts, 1);
  await eventually('the counts to match', 60_000, async () => {
    const table: Record<string, number> = {};
    await readTopic(topics.counts, (m) => {
      table[m.key!.toString()] = counts.valueSerde.deserialize(m.value!);
    });
    return JSON.stringify(Object.entries(table).sort()) === JSON.stringify(Object.entries(expected).sort())
      ? true
      : undefined;
  });
  t.ok(records.length > 0);
  t.equal(expected.the, 3, 'the driver counted "the" three times');
});

t.test('order enrichment on the stack enriches as the test driver does', async (t) => {
  const prefix = uniqueName('ex-oe');
  const topics = { orders: `${prefix}-orders`, customers: `${prefix}-customers`, enriched: `${prefix}-enriched` };
  await createTopics([topics.orders, topics.customers, topics.enriched], 2);
  const phases: Input[][] = [
    [
      {
        topic: topics.customers,
        serdes: customers as Serdes<string, unknown>,
        records: [
          ['c1', { name: 'Ann', tier: 'gold' }],
          ['c2', { name: 'Bob', tier: 'bronze' }],
        ],
      },
    ],
    [
      {
        topic: topics.orders,
        serdes: orders as Serdes<string, unknown>,
        records: [
          ['o1', { customerId: 'c1', amount: 5 }],
          ['o2', { customerId: 'c2', amount: 7 }],
          ['o3', { customerId: 'c9', amount: 1 }],
          ['o4', null],
        ],
      },
    ],
  ];
  const driver = inDriver(orderEnrichment(topics), phases);
  const expected = driver
    .readOutput(topics.enriched, enriched)
    .map((r) => JSON.stringify([r.key, r.value]))
    .sort();
  t.equal(expected.length, 3);

  const customersIn = (streams: KafkaStreams) =>
    ['c1', 'c2'].every((id) => streams.getLocal('customers', Buffer.from(id)) !== undefined);
  const records = await onStack(t, orderEnrichment(topics), prefix, phases, customersIn, topics.enriched, 3);
  t.same(
    records.map(([key, value]) => JSON.stringify([key, enriched.valueSerde.deserialize(value!)])).sort(),
    expected,
  );
});

t.test('product suppliers on the stack keep the catalog the test driver keeps', async (t) => {
  const prefix = uniqueName('ex-fk');
  const topics = { products: `${prefix}-products`, suppliers: `${prefix}-suppliers`, catalog: `${prefix}-catalog` };
  // Three partitions each: products and suppliers land on different tasks, so answers cross tasks.
  await createTopics([topics.products, topics.suppliers, topics.catalog], 3);
  const supplierRows = (records: Array<[string, unknown]>): Input => ({
    topic: topics.suppliers,
    serdes: suppliers as Serdes<string, unknown>,
    records,
  });
  const productRows = (records: Array<[string, unknown]>): Input => ({
    topic: topics.products,
    serdes: products as Serdes<string, unknown>,
    records,
  });
  const phases: Input[][] = [
    [
      supplierRows([
        ['s1', { name: 'Acme', country: 'FR' }],
        ['s2', { name: 'Bolt', country: 'IT' }],
      ]),
    ],
    [
      productRows([
        ['p1', { name: 'anvil', supplierId: 's1' }],
        ['p2', { name: 'rope', supplierId: 's1' }],
        ['p3', { name: 'glue', supplierId: 's3' }],
        ['p4', { name: 'tape', supplierId: 's2' }],
      ]),
    ],
    [
      supplierRows([
        ['s1', { name: 'Acme', country: 'DE' }],
        ['s3', { name: 'Cord', country: 'ES' }],
        ['s2', null],
      ]),
      productRows([
        ['p2', { name: 'rope', supplierId: 's3' }],
        ['p1', null],
      ]),
    ],
  ];
  const driver = inDriver(productSuppliers(topics), phases);
  const expected = Object.fromEntries(driver.readCompacted(topics.catalog, catalog));
  t.same(Object.keys(expected).sort(), ['p2', 'p3'], 'the driver keeps p2 and p3');

  const suppliersIn = (streams: KafkaStreams) =>
    ['s1', 's2'].every((id) => streams.getLocal('suppliers', Buffer.from(id)) !== undefined);
  await onStack(t, productSuppliers(topics), prefix, phases, suppliersIn, topics.catalog, 1);
  await eventually('the catalog to match the driver', 60_000, async () => {
    const table: Record<string, unknown> = {};
    await readTopic(topics.catalog, (m) => {
      if (m.value === null) delete table[m.key!.toString()];
      else table[m.key!.toString()] = catalog.valueSerde.deserialize(m.value);
    });
    return JSON.stringify(Object.entries(table).sort()) === JSON.stringify(Object.entries(expected).sort())
      ? true
      : undefined;
  });
  t.pass('the catalog on Kafka equals the driver');
});
