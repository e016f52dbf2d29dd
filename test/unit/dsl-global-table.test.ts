// Global tables in the test driver: a stream joined by a computed key with a table kept whole.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { compileTopology } from '../../src/processor/compile.js';
import { describeText } from '../../src/processor/describe.js';
import { Serdes } from '../../src/serdes/index.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import type { Processor, ProcessorContext, StreamRecord } from '../../src/processor/api.js';

interface Order {
  customer: string | null;
  amount: number;
}
const orders = { keySerde: Serdes.string, valueSerde: Serdes.json<Order>('order') };
const customers = { keySerde: Serdes.string, valueSerde: Serdes.json<{ name: string }>('customer') };
const out = { keySerde: Serdes.string, valueSerde: Serdes.json<string>('enriched') };

function enrichment(leftJoin: boolean) {
  const builder = new StreamsBuilder();
  const names = builder.globalTable('customers', { ...customers, storeName: 'customers-by-id' });
  const stream = builder.stream('orders', orders);
  const joined = leftJoin
    ? stream.leftJoin(
        names,
        (_id, order) => order.customer,
        (order, customer, id) => `${id}:${order.amount}:${customer?.name ?? '-'}`,
      )
    : stream.join(
        names,
        (_id, order) => order.customer,
        (order, customer, id) => `${id}:${order.amount}:${customer.name}`,
      );
  joined.to('enriched', out);
  return builder.build();
}

t.test('join: each order gets its customer by the key it carries; no row, no output', async (t) => {
  const driver = new TopologyTestDriver(enrichment(false));
  driver.pipe('customers', customers, 'c1', { name: 'Ada' });
  driver.pipe('orders', orders, 'o1', { customer: 'c1', amount: 5 });
  driver.pipe('orders', orders, 'o2', { customer: 'c2', amount: 7 }); // no such customer yet
  driver.pipe('customers', customers, 'c2', { name: 'Grace' });
  driver.pipe('orders', orders, 'o3', { customer: 'c2', amount: 9 });
  driver.pipe('customers', customers, 'c1', null); // deleted
  driver.pipe('orders', orders, 'o4', { customer: 'c1', amount: 1 });
  driver.pipe('orders', orders, 'o5', { customer: null, amount: 2 }); // no key to look up
  driver.pipe('orders', orders, 'o6', null); // a null value joins nothing
  t.same(
    driver.readOutput('enriched', out).map((r) => [r.key, r.value]),
    [
      ['o1', 'o1:5:Ada'],
      ['o3', 'o3:9:Grace'],
    ],
  );
  t.same(driver.get('customers-by-id', 'c2'), { name: 'Grace' }, 'the global store is queryable');
  t.equal(driver.get('customers-by-id', 'c1'), null, 'a tombstone deleted the row');
});

t.test(
  'leftJoin: missing rows join as null; a null computed key drops the record unless its own key is null',
  async (t) => {
    const driver = new TopologyTestDriver(enrichment(true));
    driver.pipe('customers', customers, 'c1', { name: 'Ada' });
    driver.pipe('orders', orders, 'o1', { customer: 'c1', amount: 5 });
    driver.pipe('orders', orders, 'o2', { customer: 'c9', amount: 7 });
    driver.pipe('orders', orders, 'o3', { customer: null, amount: 2 });
    driver.pipe('orders', orders, null, { customer: null, amount: 3 });
    driver.pipe('orders', orders, null, { customer: 'c1', amount: 4 });
    t.same(
      driver.readOutput('enriched', out).map((r) => [r.key, r.value]),
      [
        ['o1', 'o1:5:Ada'],
        ['o2', 'o2:7:-'],
        [null, 'null:3:-'],
        [null, 'null:4:Ada'],
      ],
    );
  },
);

t.test('the global table runs in no task and is described apart', async (t) => {
  const topology = compileTopology(enrichment(false), 'app');
  t.equal(topology.subtopologies.length, 1, 'one sub-topology: the orders');
  t.same(
    topology.subtopologies[0]!.sources.map((s) => s.topic),
    ['orders'],
    'the global topic is not a task input',
  );
  t.same(
    topology.globalStores.map((s) => [s.name, s.topic]),
    [['customers-by-id', 'customers']],
  );
  t.same(topology.changelogTopics, [], 'a global store needs no changelog: its topic is one');
  t.match(describeText(topology), /Global store customers-by-id <- topic customers/);
});

t.test('a topic cannot be both a global table and a stream; a table cannot join a global table directly', async (t) => {
  const builder = new StreamsBuilder();
  builder.globalTable('customers', customers);
  builder.stream('customers', customers).to('copy', customers);
  t.throws(() => compileTopology(builder.build(), 'app'), /read both as a global table and by a stream/);

  const other = new StreamsBuilder();
  const table = other.globalTable('customers', customers);
  t.equal(table.storeName, 'customers-global', 'the default store name');
  t.throws(
    () => other.globalTable('customers', { ...customers, lineage: () => ({ facts: '' }) }),
    /global tables keep no lineage/,
  );
});

t.test('a processor reads a global store without connecting it, and cannot write it', async (t) => {
  const builder = new StreamsBuilder();
  builder.globalTable('customers', { ...customers, storeName: 'customers-by-id' });
  const errors: string[] = [];
  builder
    .stream('orders', orders)
    .process(
      (): Processor<string, Order, string, string> => {
        let context: ProcessorContext<string, string>;
        return {
          init(c) {
            context = c;
          },
          process(record) {
            const names = context.getStateStore<string, { name: string }>('customers-by-id');
            const customer = record.value.customer === null ? null : names.get(record.value.customer);
            try {
              names.put('x', { name: 'nobody' });
            } catch (error) {
              errors.push((error as Error).message);
            }
            context.forward({ ...record, value: customer?.name ?? '-' });
          },
        };
      },
      { name: 'names' },
    )
    .to('named', out);
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('customers', customers, 'c1', { name: 'Ada' });
  driver.pipe('orders', orders, 'o1', { customer: 'c1', amount: 1 });
  driver.pipe('orders', orders, 'o2', { customer: 'c2', amount: 1 });
  t.same(
    driver.readOutput('named', out).map((r) => [r.key, r.value]),
    [
      ['o1', 'Ada'],
      ['o2', '-'],
    ],
  );
  t.match(errors[0], /read-only/, 'a write is refused');
  t.equal(driver.get('customers-by-id', 'x'), null, 'and changed nothing');
});

/** Keeps, per customer, how many times the customer's name changed (a store the topic's rows are not). */
class NameChanges implements Processor<string, { name: string }> {
  private context!: ProcessorContext<never, never>;
  init(context: ProcessorContext<never, never>) {
    this.context = context;
  }
  process(record: { key: string; value: { name: string } | null; timestamp: number }) {
    const store = this.context.getStateStore<string, { changes: number; offset: string }>('name-changes');
    if (record.value === null) {
      store.put(record.key, null);
      return;
    }
    const before = store.get(record.key);
    const offset = this.context.recordMetadata()!.offset;
    store.put(record.key, { changes: (before?.changes ?? -1) + 1, offset });
  }
}

/** Tells each order its customer's name changes, read from the global store. */
class OrderWithChanges implements Processor<string, Order, string, string> {
  private context!: ProcessorContext<string, string>;
  init(context: ProcessorContext<string, string>) {
    this.context = context;
  }
  process(record: StreamRecord<string, Order>) {
    const seen = this.context
      .getStateStore<string, { changes: number }>('name-changes')
      .get(record.value.customer ?? '');
    this.context.forward({ ...record, value: `${record.key}:${seen?.changes ?? 'none'}` });
  }
}

t.test('addGlobalStore: a processor of our own writes the global store; processors read it', async (t) => {
  const changes = { keySerde: Serdes.string, valueSerde: Serdes.json<{ changes: number; offset: string }>('changes') };
  const builder = new StreamsBuilder();
  builder.addGlobalStore({ storeName: 'name-changes', ...changes }, 'customers', customers, () => new NameChanges());
  builder
    .stream('orders', orders)
    .process(() => new OrderWithChanges())
    .to('enriched', out);
  const driver = new TopologyTestDriver(builder.build());
  driver.pipe('customers', customers, 'c1', { name: 'Ada' });
  driver.pipe('customers', customers, 'c1', { name: 'Ada L.' });
  driver.pipe('customers', customers, 'c2', { name: 'Grace' });
  driver.pipe('customers', customers, 'c1', { name: 'Ada Lovelace' });
  driver.pipe('orders', orders, 'o1', { customer: 'c1', amount: 1 });
  driver.pipe('orders', orders, 'o2', { customer: 'c2', amount: 1 });
  driver.pipe('customers', customers, 'c2', null);
  driver.pipe('orders', orders, 'o3', { customer: 'c2', amount: 1 });
  t.same(
    driver.readOutput('enriched', out).map((r) => r.value),
    ['o1:2', 'o2:0', 'o3:none'],
  );
  t.same(driver.get('name-changes', 'c1'), { changes: 2, offset: '3' }, 'with the metadata of the record it read');
  t.match(describeText(compileTopology(builder.build(), 'app')), /name-changes/);
});

t.test('addGlobalStore: the processor may not forward, nor reach another store', async (t) => {
  const forwarding = new StreamsBuilder();
  forwarding.addGlobalStore({ storeName: 'g', ...customers }, 'customers', customers, () => ({
    init(context: ProcessorContext<never, never>) {
      (this as { context?: unknown }).context = context;
    },
    process(record: { key: string; value: { name: string } | null; timestamp: number; headers: never[] }) {
      (this as unknown as { context: ProcessorContext<string, unknown> }).context.forward(record as never);
    },
  }));
  forwarding.stream('orders', orders).to('enriched', orders);
  const driver = new TopologyTestDriver(forwarding.build());
  t.throws(() => driver.pipe('customers', customers, 'c1', { name: 'Ada' }), /may not forward/);
  t.equal(driver.get('g', 'c1'), null, 'nothing of the failed record was written');
});
