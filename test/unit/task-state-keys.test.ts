// A task's store view keeps the key of its last get or put for the next (an aggregate reads a key and
// then writes it): whatever the order of reads, writes, failed records and commits, it reads what a
// plain map of the same writes holds (a seeded random walk), and an object key is never reused.
import t from 'tap';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { compileTopology } from '../../src/processor/compile.js';
import { Serdes } from '../../src/serdes/index.js';
import { MemoryBackend } from '../../src/state/memory-backend.js';
import { TaskState } from '../../src/state/task-state.js';

function tableState() {
  const builder = new StreamsBuilder();
  builder.table('in', { keySerde: Serdes.string, valueSerde: Serdes.string, storeName: 'rows' });
  const sub = compileTopology(builder.build(), 'app').subtopologies[0]!;
  return new TaskState(new MemoryBackend(), sub.stores, 0);
}

t.test('reads equal a plain map of the writes, through failed records and commits', async (t) => {
  const state = tableState();
  const rows = state.store<string, string>('rows');
  const model = new Map<string, string>();
  let seed = 7;
  const random = (n: number) => ((seed = (seed * 48271) % 2147483647), seed % n);
  let mismatches = 0;
  for (let step = 0; step < 5_000; step++) {
    const record = new Map(model);
    state.beginRecord();
    for (let op = random(4); op >= 0; op--) {
      const key = `k${random(6)}`;
      if (random(2) === 0) {
        if ((rows.get(key) ?? undefined) !== record.get(key)) mismatches++;
      } else if (random(5) === 0) {
        rows.put(key, null);
        record.delete(key);
      } else {
        const value = `v${step}`;
        rows.put(key, value);
        record.set(key, value);
      }
    }
    if (random(8) === 0) state.rollbackRecord();
    else {
      state.endRecord();
      model.clear();
      for (const [k, v] of record) model.set(k, v);
    }
    if (random(50) === 0) await state.startCommit().apply(new Map());
  }
  t.equal(mismatches, 0, 'every read saw the writes before it, and none of a failed record');
  for (const [key, value] of model) t.equal(rows.get(key), value, `${key} reads its last write`);
});

t.test('an object key is serialized on each use, even the same object changed in between', async (t) => {
  const builder = new StreamsBuilder();
  builder.table('in', { keySerde: Serdes.json<{ id: number }>('key'), valueSerde: Serdes.string, storeName: 'rows' });
  const sub = compileTopology(builder.build(), 'app').subtopologies[0]!;
  const state = new TaskState(new MemoryBackend(), sub.stores, 0);
  const rows = state.store<{ id: number }, string>('rows');
  const key = { id: 1 };
  state.beginRecord();
  rows.put(key, 'one');
  key.id = 2;
  t.equal(rows.get(key), null, 'the changed key reads its own (absent) row');
  rows.put(key, 'two');
  t.equal(rows.get({ id: 1 }), 'one', 'and wrote its own');
  t.equal(rows.get({ id: 2 }), 'two');
  state.endRecord();
});
