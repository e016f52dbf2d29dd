// Wiping a store for a restore from scratch is crash-safe: its checkpoint goes before its rows, so
// a crash in between leaves rows without a checkpoint (wiped again at the next start), never a
// checkpoint over a half-deleted store (which the next start would trust and restore on top of).
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { compileTopology } from '../../src/processor/compile.js';
import { Serdes } from '../../src/serdes/index.js';
import { MemoryBackend } from '../../src/state/memory-backend.js';
import { TaskState } from '../../src/state/task-state.js';

/** A backend whose process "dies" (throws) when asked to delete a store's rows. */
class CrashOnClear extends MemoryBackend {
  override async clear(): Promise<void> {
    throw new Error('killed');
  }
}

t.test('a crash while wiping a store never leaves its checkpoint behind', async (t) => {
  const builder = new StreamsBuilder();
  builder.table('in', { keySerde: Serdes.string, valueSerde: Serdes.string, storeName: 'rows' });
  const sub = compileTopology(builder.build(), 'app').subtopologies[0]!;
  const backend = new CrashOnClear();
  const state = new TaskState(backend, sub.stores, 0);
  await state.applyRestored('rows', [{ key: Buffer.from('k'), value: Buffer.from('"v"') }], 5n);
  t.equal((await state.checkpoints()).size, 1, 'restored to offset 5');

  await t.rejects(state.wipe('rows'), /killed/);
  t.equal((await state.checkpoints()).size, 0, 'the checkpoint went first, so the next start restores from scratch');
});
