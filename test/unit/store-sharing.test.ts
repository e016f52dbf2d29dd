// Two threads share a LevelDB store (the engine's thread writes, the serving thread reads): the
// opener reports the store open, and before it closes it waits for the other thread to let go
// (classic-level frees a shared store's block cache with its opener's handle).
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { LevelDbBackend } from '../../src/state/leveldb-backend.js';
import { startWorker } from '../../src/util/worker.js';

function engineSide(directory: string): Worker {
  return startWorker(new URL('../support/store-sharing-worker.ts', import.meta.url), { directory });
}

t.test('the serving side reads the opener’s writes and lets go before the opener closes', async (t) => {
  const directory = join(mkdtempSync(join(tmpdir(), 'uis-sharing-')), '0_0');
  const worker = engineSide(directory);
  const events: string[] = [];
  let reader: LevelDbBackend | undefined;
  const closed = new Promise<void>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('message', async (message: { type: string; directory?: string }) => {
      events.push(message.type);
      if (message.type === 'opened') t.equal(message.directory, directory, 'the opener reports the directory');
      if (message.type === 'written') {
        reader = await LevelDbBackend.openShared(directory);
        t.same(reader.getSync(Buffer.from('k1')), Buffer.from('v1'), 'the other thread reads a committed row');
        worker.postMessage({ type: 'close' });
      }
      if (message.type === 'release') {
        t.same(
          reader!.getSync(Buffer.from('k2')),
          Buffer.from('v2'),
          'the store is still readable when asked to let go',
        );
        await reader!.close();
        worker.postMessage({ type: 'released' });
      }
      if (message.type === 'closed') resolve();
    });
  });
  await closed;
  t.same(events, ['opened', 'written', 'release', 'closed'], 'the opener closes only after the other thread let go');
  const again = await LevelDbBackend.open(directory);
  t.same(again.getSync(Buffer.from('k2')), Buffer.from('v2'), 'every write is on disk after both closed');
  await again.close();
});

t.test('a shared open never creates a store', async (t) => {
  const directory = join(mkdtempSync(join(tmpdir(), 'uis-sharing-')), 'missing');
  await t.rejects(LevelDbBackend.openShared(directory), 'no store there: the open fails');
});
