/**
 * Order enrichment, a stream-table join: orders (keyed by order id) are re-keyed by customer,
 * repartitioned, and joined with the customers table (keyed by customer id); each order goes out
 * with its customer's name and tier as they were when the order was processed, or "unknown".
 */
import { StreamsBuilder } from '../src/dsl/builder.js';
import type { TopologyGraph } from '../src/dsl/graph.js';
import { Serdes } from '../src/serdes/index.js';

export interface Order {
  customerId: string;
  amount: number;
}
export interface Customer {
  name: string;
  tier: 'gold' | 'silver' | 'bronze';
}
export interface EnrichedOrder extends Order {
  orderId: string;
  customer: string;
  tier: Customer['tier'] | 'unknown';
}

export const orders = { keySerde: Serdes.string, valueSerde: Serdes.json<Order>('order') };
export const customers = { keySerde: Serdes.string, valueSerde: Serdes.json<Customer>('customer') };
export const enriched = { keySerde: Serdes.string, valueSerde: Serdes.json<EnrichedOrder>('enriched-order') };

export function orderEnrichment(topics: { orders: string; customers: string; enriched: string }): TopologyGraph {
  const builder = new StreamsBuilder();
  const customerTable = builder.table(topics.customers, { ...customers, name: 'customers', storeName: 'customers' });
  builder
    .stream(topics.orders, { ...orders, name: 'orders' })
    .filter((orderId, order) => orderId !== null && order !== null, 'valid-orders')
    .map((orderId, order) => ({ key: order.customerId, value: { ...order, orderId } }), 'by-customer')
    .repartition({
      name: 'orders-by-customer',
      keySerde: Serdes.string,
      valueSerde: Serdes.json<Order & { orderId: string }>(),
    })
    .leftJoin(
      customerTable,
      (order, customer): EnrichedOrder => ({
        ...order,
        customer: customer?.name ?? 'unknown',
        tier: customer?.tier ?? 'unknown',
      }),
      'enrich',
    )
    .to(topics.enriched, { ...enriched, name: 'enriched-orders' });
  return builder.build();
}
