// Range reads of a store (range, prefix, reverse, all, pages after a key, limits): LevelDB and the
// memory backend against a plain model, on seeded random keys and queries; and through the test driver.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { LevelDbBackend } from '../../src/state/leveldb-backend.js';
import { MemoryBackend } from '../../src/state/memory-backend.js';
import { storePrefix } from '../../src/state/keys.js';
import { backendRange, type RangeQuery } from '../../src/state/range-query.js';
import type { StateBackend } from '../../src/state/backend.js';
import { Serdes } from '../../src/serdes/index.js';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';

let seed = 20261204;
const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
/** Short keys over a few byte values, 0x00 and 0xff among them, so bounds and prefixes collide often. */
const alphabet = [0x00, 0x41, 0x42, 0x7f, 0xff];
const randomKey = () => Buffer.from(Array.from({ length: 1 + random(3) }, () => alphabet[random(alphabet.length)]!));

/** What a query must return, worked out by filtering and sorting every key of the store. */
function model(keys: Buffer[], q: RangeQuery): string[] {
  const sorted = [...keys].sort(Buffer.compare);
  const chosen = sorted.filter(
    (k) =>
      (!q.prefix || k.subarray(0, q.prefix.length).equals(q.prefix)) &&
      (!q.from || Buffer.compare(k, q.from) >= 0) &&
      (!q.to || Buffer.compare(k, q.to) <= 0) &&
      (!q.after || (q.reverse ? Buffer.compare(k, q.after) < 0 : Buffer.compare(k, q.after) > 0)),
  );
  if (q.reverse) chosen.reverse();
  return chosen.slice(0, q.limit).map((k) => k.toString('hex'));
}

async function check(t: Test, backend: StateBackend, name: string) {
  const store = storePrefix('s');
  const neighbour = storePrefix('t'); // another store's rows must never show up
  const keys = [...new Map(Array.from({ length: 60 }, () => randomKey()).map((k) => [k.toString('hex'), k])).values()];
  await backend.write([
    ...keys.map((k) => ({ key: Buffer.concat([store, k]), value: Buffer.from(k.toString('hex')) })),
    ...keys.map((k) => ({ key: Buffer.concat([neighbour, k]), value: Buffer.from('other') })),
  ]);
  let mismatches = 0;
  for (let i = 0; i < 400; i++) {
    const q: RangeQuery = { limit: 1 + random(20) };
    if (random(3) === 0) q.from = randomKey();
    if (random(3) === 0) q.to = randomKey();
    if (random(3) === 0) q.prefix = randomKey().subarray(0, 1);
    if (random(2) === 0) q.reverse = true;
    if (random(3) === 0) q.after = randomKey();
    const got = (await backend.range(backendRange(store, q))).map(([k, v]) => {
      const own = k.subarray(store.length);
      if (v.toString() !== own.toString('hex')) throw new Error(`another store's row: ${k.toString('hex')}`);
      return own.toString('hex');
    });
    const expected = model(keys, q);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      mismatches++;
      if (mismatches <= 3) t.same(got, expected, `${name}: ${JSON.stringify(q)}`);
    }
  }
  t.equal(mismatches, 0, `${name}: 400 random queries as the model says`);
}

t.test('LevelDB and the memory backend answer range queries as the model', async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'uis-range-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const leveldb = await LevelDbBackend.open(directory);
  t.teardown(() => leveldb.close());
  await check(t, leveldb, 'leveldb');
  await check(t, new MemoryBackend(), 'memory');
});

t.test('pages: following `after` from page to page visits every key once, both ways', async (t) => {
  const builder = new StreamsBuilder();
  builder.table('words', { keySerde: Serdes.string, valueSerde: Serdes.string, storeName: 'words' });
  const driver = new TopologyTestDriver(builder.build());
  const words = ['apple', 'apricot', 'banana', 'blueberry', 'cherry', 'date', 'fig', 'grape'];
  for (const w of words)
    driver.pipe('words', { keySerde: Serdes.string, valueSerde: Serdes.string }, w, w.toUpperCase());
  for (const reverse of [false, true]) {
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await driver.range<string, string>('words', { limit: 3, reverse, ...(after ? { after } : {}) });
      if (page.length === 0) break;
      seen.push(...page.map(([k]) => k));
      after = page.at(-1)![0];
    }
    t.same(seen, reverse ? [...words].reverse() : words, reverse ? 'reverse' : 'forward');
  }
  t.same(await driver.range('words', { prefix: Buffer.from('b'), limit: 10 }), [
    ['banana', 'BANANA'],
    ['blueberry', 'BLUEBERRY'],
  ]);
  t.same(
    (await driver.range('words', { from: 'c', to: 'date', limit: 10 })).map(([k]) => k),
    ['cherry', 'date'],
    'to is inclusive',
  );
});
