// The examples (examples/), in the test driver; test/integration/examples.test.ts runs them on the stack.
import t from 'tap';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import { counts, lines, wordCount } from '../../examples/word-count.js';
import { customers, enriched, orderEnrichment, orders } from '../../examples/order-enrichment.js';

t.test('word count: each word of each line counted, across lines', async (t) => {
  const driver = new TopologyTestDriver(wordCount({ lines: 'lines', counts: 'counts' }));
  driver.pipe('lines', lines, 'l1', 'To be, or not to be');
  driver.pipe('lines', lines, 'l2', "that's the question");
  driver.pipe('lines', lines, 'l3', null);
  t.same(Object.fromEntries(driver.readCompacted('counts', counts)), {
    to: 2,
    be: 2,
    or: 1,
    not: 1,
    "that's": 1,
    the: 1,
    question: 1,
  });
});

t.test('order enrichment: orders take their customer as of when they are processed', async (t) => {
  const driver = new TopologyTestDriver(
    orderEnrichment({ orders: 'orders', customers: 'customers', enriched: 'enriched' }),
  );
  driver.pipe('orders', orders, 'o1', { customerId: 'c1', amount: 10 });
  driver.pipe('customers', customers, 'c1', { name: 'Ann', tier: 'gold' });
  driver.pipe('orders', orders, 'o2', { customerId: 'c1', amount: 20 });
  driver.pipe('customers', customers, 'c1', { name: 'Ann', tier: 'silver' });
  driver.pipe('orders', orders, 'o3', { customerId: 'c1', amount: 30 });
  driver.pipe('orders', orders, 'o4', null);
  t.same(
    driver.readOutput('enriched', enriched).map((r) => [r.key, r.value]),
    [
      ['c1', { customerId: 'c1', amount: 10, orderId: 'o1', customer: 'unknown', tier: 'unknown' }],
      ['c1', { customerId: 'c1', amount: 20, orderId: 'o2', customer: 'Ann', tier: 'gold' }],
      ['c1', { customerId: 'c1', amount: 30, orderId: 'o3', customer: 'Ann', tier: 'silver' }],
    ],
  );
});
