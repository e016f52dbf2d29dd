// The row cache: least recently used rows out first, bounded by bytes; and a task's reads through it
// always equal the reads of the same task without it, whatever the order of writes, commits, restores
// and discards (a seeded random walk against a cacheless twin).
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { compileTopology } from '../../src/processor/compile.js';
import { Serdes } from '../../src/serdes/index.js';
import { MemoryBackend } from '../../src/state/memory-backend.js';
import { RowCache } from '../../src/state/row-cache.js';
import { TaskState } from '../../src/state/task-state.js';

const row = (text: string) => Buffer.from(text);

t.test('the least recently used rows go first once the bytes are over the bound', async (t) => {
  const cache = new RowCache(3 * (1 + 1 + 96)); // three entries of a 1-byte key and a 1-byte row
  cache.set('a', row('1'));
  cache.set('b', row('2'));
  cache.set('c', row('3'));
  t.same(cache.get('a'), row('1'), 'a is cached (and now the most recently used)');
  t.same(cache.get('c'), row('3'), 'c is cached');
  cache.set('d', row('4'));
  t.equal(cache.get('b'), undefined, 'b, the least recently used, went out');
  t.same(cache.get('a'), row('1'), 'a stayed');
  t.same(cache.get('d'), row('4'), 'd is in');
  t.equal(cache.size, 3);
  cache.set('a', row('11'));
  t.equal(cache.size, 2, 'a row that grew pushed the least recently used out');
  t.same(cache.get('a'), row('11'), 'a has its new row');
  t.equal(cache.get('c'), undefined, 'c went out');
  t.ok(cache.sizeBytes <= 3 * 98, `the bytes stay within the bound (${cache.sizeBytes})`);
  cache.set('gone', null);
  t.equal(cache.get('gone'), null, 'an absent row is cached as null');
});

t.test('a row larger than the whole cache is not kept, and a cache of 0 bytes keeps nothing', async (t) => {
  const cache = new RowCache(200);
  cache.set('a', row('1'));
  cache.set('big', Buffer.alloc(500));
  t.equal(cache.get('big'), undefined, 'the large row is not kept');
  t.same(cache.get('a'), row('1'), 'and did not push the others out');
  cache.set('a', Buffer.alloc(500));
  t.equal(cache.get('a'), undefined, 'a key whose row became too large is dropped, not left stale');
  const none = new RowCache(0);
  none.set('a', row('1'));
  t.equal(none.get('a'), undefined);
  t.equal(none.size, 0);
});

/** A backend whose writes land a few event-loop turns later, as LevelDB's do. */
class SlowWriteBackend extends MemoryBackend {
  override async write(batch: Parameters<MemoryBackend['write']>[0]): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    await super.write(batch);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Counts the point reads that reach the backend. */
class CountingBackend extends MemoryBackend {
  reads = 0;
  override getSync(key: Buffer): Buffer | undefined {
    this.reads++;
    return super.getSync(key);
  }
}

function storesOf() {
  const builder = new StreamsBuilder();
  builder.table('in', { keySerde: Serdes.string, valueSerde: Serdes.string, storeName: 'rows' });
  return compileTopology(builder.build(), 'app').subtopologies[0]!.stores;
}

t.test('a hot key is read from the backend once; a committed write is read back without the backend', async (t) => {
  const backend = new CountingBackend();
  const state = new TaskState(backend, storesOf(), 0, { rowCacheBytes: 1024 * 1024 });
  const rows = state.store<string, string>('rows');
  t.equal(rows.get('k'), null);
  t.equal(rows.get('k'), null);
  t.equal(backend.reads, 1, 'the absent row was read once');
  rows.put('k', 'v1');
  await state.startCommit().apply(new Map([['app-rows-changelog', 1n]]));
  t.equal(rows.get('k'), 'v1', 'the committed row');
  t.equal(backend.reads, 1, 'came from the cache');
  await state.applyRestored('rows', [{ key: Buffer.from('k'), value: Buffer.from('v2') }], 2n);
  t.equal(rows.get('k'), 'v2', 'a restore is seen at once');
  t.equal(backend.reads, 2, 'because it emptied the cache');
});

/** A small deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('reads through the cache equal reads without it, in any order of operations', async (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const next = random(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);
    const stores = storesOf();
    // 600 bytes: a few entries, so rows keep going out and coming back.
    const cached = new TaskState(new SlowWriteBackend(), stores, 0, { rowCacheBytes: 600 });
    const plain = new TaskState(new SlowWriteBackend(), stores, 0);
    const twins = [cached, plain];
    let inFlight: Array<Promise<void>> | undefined;
    let offset = 0n;
    let reads = 0;
    let differing = 0;
    for (let step = 0; step < 4000; step++) {
      const action = next();
      if (action < 0.45) {
        const key = pick(keys);
        const [a, b] = twins.map((s) => s.store<string, string>('rows').get(key));
        reads++;
        if (a !== b) differing++;
      } else if (action < 0.8) {
        const key = pick(keys);
        const value = next() < 0.2 ? null : `v${step}`;
        for (const s of twins) s.store<string, string>('rows').put(key, value);
      } else if (action < 0.9) {
        // A commit starts; it is applied now or after more steps (reads and writes go on meanwhile).
        if (inFlight) await Promise.all(inFlight);
        const checkpoints = new Map([['app-rows-changelog', ++offset]]);
        const applies = twins.map((s) => s.startCommit()).map((c) => c.apply(checkpoints));
        inFlight = next() < 0.5 ? applies : undefined;
        if (!inFlight) await Promise.all(applies);
      } else if (action < 0.95) {
        if (inFlight) await Promise.all(inFlight);
        inFlight = undefined;
        const records = [{ key: Buffer.from(pick(keys)), value: Buffer.from(`restored${step}`) }];
        for (const s of twins) await s.applyRestored('rows', records, ++offset);
      } else {
        if (inFlight) await Promise.all(inFlight);
        inFlight = undefined;
        for (const s of twins) s.discardUncommitted();
      }
    }
    t.equal(differing, 0, `seed ${seed}: ${reads} reads, none differs from the cacheless twin`);
    t.ok(cached.rowCache.hits > 0, `seed ${seed}: the cache answered ${cached.rowCache.hits} of them`);
  }
});

t.test('a task commits one at a time: a second commit waits until the first is applied', async (t) => {
  const state = new TaskState(new MemoryBackend(), storesOf(), 0, { rowCacheBytes: 1024 });
  state.store<string, string>('rows').put('k', 'v1');
  const first = state.startCommit();
  t.throws(() => state.startCommit(), /a commit is in flight/);
  await first.apply(new Map());
  state.store<string, string>('rows').put('k', 'v2');
  state.startCommit(); // its transaction fails: the task discards it
  state.discardUncommitted();
  t.doesNotThrow(() => state.startCommit(), 'a discarded commit does not hold the next back');
  t.equal(state.store<string, string>('rows').get('k'), 'v1', 'the discarded write is gone, the applied one stays');
});
