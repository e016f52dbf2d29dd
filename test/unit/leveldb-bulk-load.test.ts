// Bulk loading a LevelDB store (a large restore): a large memtable while loading, written out to few
// tables at the end, every row readable afterwards and after a reopen; the store's own settings back.
import t from 'tap';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelDbBackend, parseCompactionStats } from '../../src/state/leveldb-backend.js';
import type { BatchEntry } from '../../src/state/backend.js';
import { storeMemory, streamsConfig } from '../../src/runtime/config.js';

const ROWS = 200_000;
const MiB = 1024 * 1024;
const row = (i: number): BatchEntry => ({
  // Keys in no order, as a changelog's are.
  key: Buffer.from(`s/view/${((i * 7919) % ROWS).toString().padStart(8, '0')}`),
  value: Buffer.alloc(100, i % 251),
});

/** Writes ROWS rows in batches of 5,000 (as a restore's fetches come), bulk loading or not. */
async function load(directory: string, bulk: boolean): Promise<LevelDbBackend> {
  const backend = await LevelDbBackend.open(directory, { writeBufferBytes: 1 * MiB, bulkWriteBufferBytes: 64 * MiB });
  if (bulk) await backend.startBulkLoad();
  for (let from = 0; from < ROWS; from += 5000)
    await backend.write(Array.from({ length: 5000 }, (_, i) => row(from + i)));
  if (bulk) await backend.endBulkLoad();
  return backend;
}

const tables = (directory: string) => readdirSync(directory).filter((f) => f.endsWith('.ldb')).length;

t.test('a bulk load lands in fewer tables, and every row is there', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'uis-bulk-'));
  const usual = await load(join(root, 'usual'), false);
  const bulk = await load(join(root, 'bulk'), true);
  const usualTables = tables(join(root, 'usual'));
  const bulkTables = tables(join(root, 'bulk'));
  t.ok(bulkTables >= 1 && bulkTables <= 2, `the bulk load is written out in ${bulkTables} table(s)`);
  t.ok(usualTables > 2 * bulkTables, `the usual memtable made ${usualTables} tables`);
  for (const i of [0, 1, 4242, ROWS - 1])
    t.same(bulk.getSync(row(i).key), row(i).value, `row ${i} reads back after the bulk load`);
  await bulk.close();
  await usual.close();

  const reopened = await LevelDbBackend.open(join(root, 'bulk'), { writeBufferBytes: 1 * MiB });
  let count = 0;
  for await (const entry of reopened.entries(Buffer.from('s/view/'))) count += entry ? 1 : 0;
  t.equal(count, ROWS, 'every row is there after a reopen');
  await reopened.close();
});

t.test('bulk loading reopens a shared store the way sharing asks', async (t) => {
  const { shareStores } = await import('../../src/state/leveldb-backend.js');
  const events: string[] = [];
  shareStores({
    opened: () => events.push('opened'),
    beforeClose: async () => void events.push('beforeClose'),
  });
  t.teardown(() => shareStores({ opened: () => undefined, beforeClose: async () => undefined }));
  const directory = join(mkdtempSync(join(tmpdir(), 'uis-bulk-')), '0_0');
  const backend = await LevelDbBackend.open(directory, { writeBufferBytes: 1 * MiB, bulkWriteBufferBytes: 8 * MiB });
  await backend.startBulkLoad();
  await backend.write([row(1)]);
  await backend.endBulkLoad();
  t.same(backend.getSync(row(1).key), row(1).value, 'the row written while bulk loading reads back');
  await backend.close();
  t.same(
    events,
    ['opened', 'beforeClose', 'opened', 'beforeClose', 'opened', 'beforeClose'],
    'every reopen lets the other thread go first and reports the store open again',
  );
});

t.test('no bulk memtable configured, or one smaller than the usual: nothing is reopened', async (t) => {
  const events: string[] = [];
  const { shareStores } = await import('../../src/state/leveldb-backend.js');
  shareStores({ opened: () => events.push('opened'), beforeClose: async () => void events.push('beforeClose') });
  t.teardown(() => shareStores({ opened: () => undefined, beforeClose: async () => undefined }));
  for (const [name, bulkWriteBufferBytes] of [
    ['0_0', 0],
    ['0_1', 2 * MiB],
  ] as const) {
    const directory = join(mkdtempSync(join(tmpdir(), 'uis-bulk-')), name);
    const backend = await LevelDbBackend.open(directory, { writeBufferBytes: 4 * MiB, bulkWriteBufferBytes });
    await backend.startBulkLoad();
    await backend.endBulkLoad();
    await backend.close();
  }
  t.same(events, ['opened', 'beforeClose', 'opened', 'beforeClose'], 'each opened and closed once');
});

t.test("a task's LevelDB gets a memtable per store it holds; a bulk load never a smaller one", async (t) => {
  const config = streamsConfig({ applicationId: 'a', brokers: ['127.0.0.1:9092'], stateDir: '/tmp', endpoint: 'h:1' });
  t.equal(storeMemory(config, 1).writeBufferBytes, 4 * MiB, 'one store: the default 4 MiB');
  t.equal(storeMemory(config, 9).writeBufferBytes, 36 * MiB, 'nine stores: nine memtables');
  t.equal(storeMemory(config, 0).writeBufferBytes, 4 * MiB, 'a task without stores still opens one');
  t.equal(storeMemory(config, 1).bulkWriteBufferBytes, 32 * MiB, 'the bulk memtable as configured');
  t.equal(storeMemory(config, 9).bulkWriteBufferBytes, 36 * MiB, 'or the usual one when that is larger');
  const noBulk = streamsConfig({ ...config, bulkRestoreWriteBufferBytes: 0 });
  t.equal(storeMemory(noBulk, 9).bulkWriteBufferBytes, 0, 'no bulk load stays none');
});

t.test('the level-0 files of a store are counted (the store metric)', async (t) => {
  const directory = join(mkdtempSync(join(tmpdir(), 'uis-bulk-')), 'levels');
  const backend = await LevelDbBackend.open(directory, { writeBufferBytes: 1 * MiB, bulkWriteBufferBytes: 8 * MiB });
  const writeOut = async () => {
    await backend.startBulkLoad();
    await backend.write(Array.from({ length: 5000 }, (_, i) => row(i)));
    await backend.endBulkLoad();
  };
  t.equal(backend.levelZeroFiles(), 0, 'an empty store has none');
  // A table written out from the memtable goes to the lowest of levels 0-2 above every table it overlaps.
  await writeOut();
  await writeOut();
  t.equal(backend.levelZeroFiles(), 0, 'the first two tables go below level 0');
  await writeOut();
  t.equal(backend.levelZeroFiles(), 1, 'a table overlapping one in level 1 lands in level 0');
  await backend.close();
  t.equal(backend.levelZeroFiles(), 0, 'a closed store reports none');
});

t.test('a bulk load compresses its tables as bulkCompression says, not as the store itself does', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'uis-bulk-'));
  const tableBytes = (directory: string) =>
    readdirSync(directory)
      .filter((f) => f.endsWith('.ldb'))
      .reduce((sum, f) => sum + statSync(join(directory, f)).size, 0);
  const loadWith = async (name: string, bulkCompression: boolean) => {
    const directory = join(root, name);
    const backend = await LevelDbBackend.open(directory, {
      compression: false,
      writeBufferBytes: 1 * MiB,
      bulkWriteBufferBytes: 64 * MiB,
      bulkCompression,
    });
    await backend.startBulkLoad();
    for (let from = 0; from < 50_000; from += 5000)
      await backend.write(Array.from({ length: 5000 }, (_, i) => row(from + i)));
    await backend.endBulkLoad();
    t.same(backend.getSync(row(4242).key), row(4242).value, `${name}: a row reads back`);
    await backend.close();
    return tableBytes(directory);
  };
  const compressed = await loadWith('snappy', true);
  const plain = await loadWith('plain', false);
  // The values are 100 equal bytes: snappy shrinks them to a few.
  t.ok(compressed * 2 < plain, `bulk tables ${compressed} bytes compressed, ${plain} bytes not`);
});

t.test("a store's compaction work is reported from LevelDB's own stats (the compaction metrics)", async (t) => {
  const stats = [
    '                               Compactions',
    'Level  Files Size(MB) Time(sec) Read(MB) Write(MB)',
    '--------------------------------------------------',
    '  0        4        0         1        0         3',
    '  1        2        3         4      162       160',
    '',
  ].join('\n');
  t.same(parseCompactionStats(stats), { seconds: 5, readBytes: 162 * MiB, writtenBytes: 163 * MiB }, 'levels summed');
  t.same(parseCompactionStats(''), { seconds: 0, readBytes: 0, writtenBytes: 0 }, 'no levels: nothing');

  const directory = join(mkdtempSync(join(tmpdir(), 'uis-bulk-')), 'compaction');
  const backend = await load(directory, false);
  const written = backend.compactionStats().writtenBytes;
  // 20 MB of rows through 1 MiB memtables: several MiB written out by now (LevelDB rounds to whole MB).
  t.ok(written >= 4 * MiB, `the memtables were written out to tables (${written} bytes)`);
  await backend.close();
  t.same(backend.compactionStats(), { seconds: 0, readBytes: 0, writtenBytes: 0 }, 'a closed store reports none');
});

t.test('a memtable written out on demand: its rows move to a table and the count starts again', async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'uis-memtable-'));
  const backend = await LevelDbBackend.open(directory, { writeBufferBytes: 64 * MiB });
  for (let from = 0; from < 20_000; from += 5000)
    await backend.write(Array.from({ length: 5000 }, (_, i) => row(from + i)));
  const perRow = row(0).key.length + 100;
  t.equal(backend.memtableBytes, 20_000 * perRow, 'every byte written is counted while the memtable holds it');
  t.equal(tables(directory), 0, 'no table yet');
  const held = backend.memoryBytes();
  t.ok(held >= 20_000 * perRow, `LevelDB counts the memtable in its memory (${held} bytes)`);
  await Promise.all([backend.writeOutMemtable(), backend.writeOutMemtable()]);
  t.equal(backend.memtableBytes, 0, 'the count starts again');
  t.ok(backend.memoryBytes() < held / 4, `and LevelDB's own estimate falls (${backend.memoryBytes()} bytes)`);
  t.equal(tables(directory), 1, 'one table written, once');
  t.same(backend.getSync(row(4242).key), row(4242).value, 'rows read back from the table');
  await backend.close();

  const small = await LevelDbBackend.open(join(directory, 'small'), { writeBufferBytes: 1 * MiB });
  await small.write(Array.from({ length: 10_000 }, (_, i) => row(i)));
  t.equal(small.memtableBytes, 10_000 * perRow - MiB, 'a memtable LevelDB wrote out by itself is taken off the count');
  await small.close();
});
