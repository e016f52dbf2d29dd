// The examples (examples/), in the test driver; test/integration/examples.test.ts runs them on the stack.
import t from 'tap';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import { counts, lines, wordCount } from '../../examples/word-count.js';
import { customers, enriched, orderEnrichment, orders } from '../../examples/order-enrichment.js';
import { catalog, products, productSuppliers, suppliers } from '../../examples/product-suppliers.js';

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

t.test('product suppliers: each product with its supplier, following both sides', async (t) => {
  const driver = new TopologyTestDriver(
    productSuppliers({ products: 'products', suppliers: 'suppliers', catalog: 'catalog' }),
  );
  driver.pipe('suppliers', suppliers, 's1', { name: 'Acme', country: 'FR' });
  driver.pipe('products', products, 'p1', { name: 'anvil', supplierId: 's1' });
  driver.pipe('products', products, 'p2', { name: 'rope', supplierId: 's1' });
  driver.pipe('products', products, 'p3', { name: 'glue', supplierId: 's2' }); // no such supplier yet
  driver.pipe('suppliers', suppliers, 's1', { name: 'Acme', country: 'DE' }); // reaches p1 and p2
  driver.pipe('suppliers', suppliers, 's2', { name: 'Bolt', country: 'IT' }); // p3 joins
  driver.pipe('products', products, 'p2', { name: 'rope', supplierId: 's2' }); // moves
  driver.pipe('products', products, 'p1', null); // discontinued
  t.same(Object.fromEntries(driver.readCompacted('catalog', catalog)), {
    p2: { product: 'rope', supplier: 'Bolt', country: 'IT' },
    p3: { product: 'glue', supplier: 'Bolt', country: 'IT' },
  });
  t.same(driver.get('catalog', 'p3'), { product: 'glue', supplier: 'Bolt', country: 'IT' }, 'the catalog is a store');
});
