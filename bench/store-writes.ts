/**
 * LevelDB under the engine's write pattern, as its stores grow: several stores in one process (as an
 * instance's tasks are), each written by a loop of its own that reads every key before it writes it
 * (an aggregate reads its old value) in batches of a commit's size, mostly new keys (rows inserted)
 * and some hot ones (counts). Logs the rate of every 10 seconds with the stores' level-0 files, and
 * prints the rates as JSON: whether writes slow down as the stores grow, with which settings.
 *
 *   node --import tsx bench/store-writes.ts [--stores 10] [--records 20000000] [--seconds 600]
 *     [--batch 50] [--write-buffer-mib 4] [--max-file-mib 2] [--cache-mib 8] [--value-bytes 80]
 */
import { ClassicLevel } from 'classic-level';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!, process.argv[i + 1] ?? '');
const number = (name: string, fallback: number): number => {
  const value = Number(args.get(name) ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} takes a positive number`);
  return value;
};
const stores = number('--stores', 10);
const records = number('--records', 20_000_000);
const seconds = number('--seconds', 600);
const batch = number('--batch', 50);
const valueBytes = number('--value-bytes', 80);
const settings = {
  writeBufferSize: number('--write-buffer-mib', 4) * 1024 * 1024,
  maxFileSize: number('--max-file-mib', 2) * 1024 * 1024,
  cacheSize: number('--cache-mib', 8) * 1024 * 1024,
};
/** One record in this many updates a hot key (a user's count) rather than inserting a new one. */
const HOT_EVERY = 3;
const HOT_KEYS = 50_000;

const root = mkdtempSync(join(tmpdir(), 'uis-store-writes-'));
const dbs = await Promise.all(
  Array.from({ length: stores }, async (_, n) => {
    const db = new ClassicLevel<Buffer, Buffer>(join(root, String(n)), {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      ...settings,
    });
    await db.open();
    return db;
  }),
);

let written = 0;
const startedAt = Date.now();
const deadline = startedAt + seconds * 1000;
const value = randomBytes(valueBytes);

async function writeLoop(db: ClassicLevel<Buffer, Buffer>): Promise<void> {
  let sequence = 0;
  while (written < records && Date.now() < deadline) {
    const chained = db.batch();
    for (let i = 0; i < batch; i++) {
      sequence++;
      const key =
        sequence % HOT_EVERY === 0
          ? Buffer.from(`c:${(Math.random() * HOT_KEYS) | 0}`)
          : Buffer.concat([Buffer.from('r:'), randomBytes(8)]);
      db.getSync(key);
      chained.put(key, value);
    }
    await chained.write();
    written += batch;
    // Let the other loops and the timer run between batches, as the engine's tasks share one thread.
    if (sequence % (batch * 20) === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

const rates: number[] = [];
let last = { at: startedAt, written: 0 };
const timer = setInterval(() => {
  const now = Date.now();
  const rate = Math.round(((written - last.written) * 1000) / (now - last.at));
  rates.push(rate);
  const level0 = dbs.map((db) => Number(db.getProperty('leveldb.num-files-at-level0')));
  process.stderr.write(
    `[store-writes] +${((now - startedAt) / 1000).toFixed(0)} s: ${written} records, ${rate}/s; ` +
      `level-0 files per store max ${Math.max(...level0)}, sum ${level0.reduce((a, b) => a + b, 0)}\n`,
  );
  last = { at: now, written };
}, 10_000);

await Promise.all(dbs.map((db) => writeLoop(db)));
clearInterval(timer);
const elapsed = (Date.now() - startedAt) / 1000;
const levels = dbs[0]!.getProperty('leveldb.stats');
await Promise.all(dbs.map((db) => db.close()));
rmSync(root, { recursive: true, force: true });
process.stderr.write(`[store-writes] the first store's levels at the end:\n${levels}\n`);
process.stdout.write(
  JSON.stringify({
    command: `node --import tsx bench/store-writes.ts ${process.argv.slice(2).join(' ')}`.trim(),
    settings: { stores, batch, valueBytes, ...settings },
    records: written,
    seconds: Math.round(elapsed),
    recordsPerSecond: Math.round(written / elapsed),
    tenSecondRates: rates,
  }) + '\n',
);
