// Bulk loading a LevelDB store (a large restore): a large memtable while loading, written out to few
// tables at the end, every row readable afterwards and after a reopen; the store's own settings back.
import t from 'tap';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelDbBackend } from '../../src/state/leveldb-backend.js';
import type { BatchEntry } from '../../src/state/backend.js';

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

t.test('no bulk memtable configured, or one no larger than the usual: nothing is reopened', async (t) => {
  const events: string[] = [];
  const { shareStores } = await import('../../src/state/leveldb-backend.js');
  shareStores({ opened: () => events.push('opened'), beforeClose: async () => void events.push('beforeClose') });
  t.teardown(() => shareStores({ opened: () => undefined, beforeClose: async () => undefined }));
  const directory = join(mkdtempSync(join(tmpdir(), 'uis-bulk-')), '0_0');
  const backend = await LevelDbBackend.open(directory, { writeBufferBytes: 4 * MiB, bulkWriteBufferBytes: 0 });
  await backend.startBulkLoad();
  await backend.endBulkLoad();
  await backend.close();
  t.same(events, ['opened', 'beforeClose'], 'opened and closed once');
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
