// The engine's side of test/unit/store-sharing.test.ts: opens a store in a worker thread with
// StoreSharing set, as the engine's thread does, and closes it when told.
import { parentPort, workerData } from 'node:worker_threads';
import { LevelDbBackend, shareStores } from '../../src/state/leveldb-backend.js';

const port = parentPort!;
const { directory } = workerData as { directory: string };
let released: (() => void) | undefined;

shareStores({
  opened: (dir) => port.postMessage({ type: 'opened', directory: dir }),
  beforeClose: (dir) =>
    new Promise<void>((resolve) => {
      released = resolve;
      port.postMessage({ type: 'release', directory: dir });
    }),
});

const backend = await LevelDbBackend.open(directory);
await backend.write([{ key: Buffer.from('k1'), value: Buffer.from('v1') }]);
port.postMessage({ type: 'written' });
port.on('message', async (message: { type: string }) => {
  if (message.type === 'released') released?.();
  if (message.type === 'close') {
    await backend.write([{ key: Buffer.from('k2'), value: Buffer.from('v2') }]);
    await backend.close();
    port.postMessage({ type: 'closed' });
    port.close();
  }
});
