/**
 * A foreign-key join: products (keyed by product id) each name their supplier; the catalog table
 * gives every product with its supplier's name and country, and follows both sides: a supplier's
 * change reaches every one of its products, a product that moves to another supplier takes the new
 * one's. The tables are partitioned differently (by product and by supplier): no repartition by
 * hand, the join routes through its own topics.
 */
import { StreamsBuilder } from '../src/dsl/builder.js';
import type { TopologyGraph } from '../src/dsl/graph.js';
import { Serdes } from '../src/serdes/index.js';

export interface Product {
  name: string;
  supplierId: string | null;
}
export interface Supplier {
  name: string;
  country: string;
}
export interface CatalogEntry {
  product: string;
  supplier: string;
  country: string;
}

export const products = { keySerde: Serdes.string, valueSerde: Serdes.json<Product>('product') };
export const suppliers = { keySerde: Serdes.string, valueSerde: Serdes.json<Supplier>('supplier') };
export const catalog = { keySerde: Serdes.string, valueSerde: Serdes.json<CatalogEntry>('catalog-entry') };

export function productSuppliers(topics: { products: string; suppliers: string; catalog: string }): TopologyGraph {
  const builder = new StreamsBuilder();
  const productTable = builder.table(topics.products, { ...products, name: 'products', storeName: 'products' });
  const supplierTable = builder.table(topics.suppliers, { ...suppliers, name: 'suppliers', storeName: 'suppliers' });
  productTable
    .join(
      supplierTable,
      (product) => product.supplierId,
      (product, supplier): CatalogEntry => ({
        product: product.name,
        supplier: supplier.name,
        country: supplier.country,
      }),
      { name: 'product-supplier', materialized: { storeName: 'catalog', valueSerde: catalog.valueSerde } },
    )
    .toStream('catalog-changes')
    .to(topics.catalog, { ...catalog, name: 'catalog' });
  return builder.build();
}
