/**
 * What a full memtable costs a point read. A LevelDB with `--rows` rows in its tables, then
 * `--memtable-mib` of other rows written after them (held in the memtable, as a task's store holds them
 * after processing); reads of random table rows are timed with the memtable full, then again after it
 * is written out (the engine's bulk-load end does the same: a compaction of a range beyond every key).
 * Rounds alternate, medians per variant, as JSON.
 *
 *   node --import tsx bench/experiments/memtable-reads.ts [--rows 500000] [--memtable-mib 32]
 *     [--value-bytes 250] [--reads 200000] [--rounds 3]
 */
import { ClassicLevel } from 'classic-level';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median } from '../stats.js';

const { values: options } = parseArgs({
  options: {
    rows: { type: 'string', default: '500000' },
    'memtable-mib': { type: 'string', default: '32' },
    'value-bytes': { type: 'string', default: '250' },
    reads: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '3' },
  },
});
const rows = Number(options.rows);
const memtableBytes = Number(options['memtable-mib']) * 1024 * 1024;
const valueBytes = Number(options['value-bytes']);
const reads = Number(options.reads);
const rounds = Number(options.rounds);

const key = (i: number) => Buffer.from(`u${String((i * 2654435761) % 4294967291).padStart(10, '0')}`);
const value = Buffer.alloc(valueBytes, 7);

async function store(fullMemtable: boolean): Promise<{ db: ClassicLevel<Buffer, Buffer>; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'memtable-reads-'));
  // The memtable a little larger than what is written into it, so nothing of it is written out by itself.
  const db = new ClassicLevel<Buffer, Buffer>(dir, {
    keyEncoding: 'buffer',
    valueEncoding: 'buffer',
    writeBufferSize: memtableBytes + 8 * 1024 * 1024,
    compression: false,
  });
  await db.open();
  for (let i = 0; i < rows; i += 1000) {
    const batch = db.batch();
    for (let j = i; j < Math.min(rows, i + 1000); j++) batch.put(key(j), value);
    await batch.write();
  }
  const beyond = Buffer.alloc(8, 0xff);
  await db.compactRange(beyond, Buffer.concat([beyond, beyond])); // the rows into tables
  const held = Math.floor(memtableBytes / (valueBytes + 40));
  for (let i = 0; i < held; i += 1000) {
    const batch = db.batch();
    for (let j = i; j < Math.min(held, i + 1000); j++) batch.put(key(rows + j), value);
    await batch.write();
  }
  if (!fullMemtable) await db.compactRange(beyond, Buffer.concat([beyond, beyond]));
  return { db, dir };
}

function timeReads(db: ClassicLevel<Buffer, Buffer>): number {
  let found = 0;
  const started = process.hrtime.bigint();
  for (let r = 0; r < reads; r++) if (db.getSync(key((r * 7919) % rows))) found++;
  const ns = Number(process.hrtime.bigint() - started) / reads;
  if (found !== reads) throw new Error(`found ${found} of ${reads} rows`);
  return ns;
}

const results: Record<'full' | 'flushed', number[]> = { full: [], flushed: [] };
for (let round = 1; round <= rounds; round++) {
  const order: Array<'full' | 'flushed'> = round % 2 ? ['full', 'flushed'] : ['flushed', 'full'];
  for (const variant of order) {
    const { db, dir } = await store(variant === 'full');
    timeReads(db); // warm: the tables' pages and the table cache
    const ns = timeReads(db);
    results[variant].push(Math.round(ns));
    process.stderr.write(`round ${round} ${variant}: ${Math.round(ns)} ns per read\n`);
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
process.stdout.write(
  JSON.stringify({
    rows,
    memtableMiB: memtableBytes / 1024 / 1024,
    valueBytes,
    reads,
    nsPerRead: results,
    medians: { full: median(results.full), flushed: median(results.flushed) },
  }) + '\n',
);
