// A restore builds a store's next write while the one before is written (StateBackend.prepare,
// TaskState.prepareRestored): nothing of a prepared write shows before it is applied, prepared writes
// apply in the order they are applied (not built), and the checkpoint moves only with its rows.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { compileTopology } from '../../src/processor/compile.js';
import { Serdes } from '../../src/serdes/index.js';
import type { StateBackend } from '../../src/state/backend.js';
import { LevelDbBackend } from '../../src/state/leveldb-backend.js';
import { MemoryBackend } from '../../src/state/memory-backend.js';
import { TaskState } from '../../src/state/task-state.js';

const key = Buffer.from('s/k');
const backends: Array<[string, () => Promise<StateBackend>]> = [
  ['LevelDB', () => LevelDbBackend.open(join(mkdtempSync(join(tmpdir(), 'uis-prepared-')), '0_0'), {})],
  ['memory', async () => new MemoryBackend()],
];

for (const [name, open] of backends) {
  t.test(`${name}: a prepared write shows only once applied, and the last applied wins`, async (t) => {
    const backend = await open();
    t.teardown(() => backend.close());
    const first = backend.prepare([{ key, value: Buffer.from('first') }]);
    const second = backend.prepare([{ key, value: Buffer.from('second') }]);
    t.equal(backend.getSync(key), undefined, 'nothing shows before a prepared write is applied');
    await second();
    await first();
    t.same(backend.getSync(key), Buffer.from('first'), 'applied last, built first: its value stands');
    await backend.prepare([{ key, value: null }])();
    t.equal(backend.getSync(key), undefined, 'a prepared delete deletes');
    await backend.prepare([])();
  });
}

t.test('a prepared restore moves the checkpoint only when its rows are written', async (t) => {
  const builder = new StreamsBuilder();
  builder.table('in', { keySerde: Serdes.string, valueSerde: Serdes.string, storeName: 'rows' });
  const sub = compileTopology(builder.build(), 'app').subtopologies[0]!;
  const state = new TaskState(new MemoryBackend(), sub.stores, 0);
  const write = state.prepareRestored(
    'rows',
    [Buffer.from('a'), Buffer.from('b'), Buffer.from('a')],
    [Buffer.from('"1"'), Buffer.from('"2"'), null],
    7n,
  );
  t.equal((await state.checkpoints()).size, 0, 'no checkpoint before the write');
  await write();
  t.same([...(await state.checkpoints()).values()], [7n], 'restored up to offset 7');
  t.same(state.readCommitted('rows', Buffer.from('b')), Buffer.from('"2"'), 'a restored row reads back');
  t.equal(state.readCommitted('rows', Buffer.from('a')), undefined, 'a later tombstone in the same run deletes');
});
