// Lowering every thread's priority but the serving one (--engine-nice-scope background).
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import t from 'tap';
import { loadConfig } from '../../src/service/config.js';
import { lowerOtherThreads } from '../../src/util/thread-priority.js';

/** Nice value of each thread of this process, by thread id (field 19 of /proc/self/task/<tid>/stat). */
function niceByThread(): Map<number, number> {
  const nice = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    nice.set(Number(tid), Number(fields[16]));
  }
  return nice;
}

t.test('every thread but the serving one takes the nice value, once (Linux)', async (t) => {
  // A worker thread, as the engine's, so that there is one more thread to lower.
  const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
  await new Promise((resolve) => worker.once('online', resolve));
  const before = niceByThread();
  t.ok(before.size > 2, `threads to lower: ${before.size}`);
  t.equal(before.get(process.pid), getPriority(), 'the main thread starts at the process priority');

  const changed = lowerOtherThreads(7);
  const after = niceByThread();
  t.equal(after.get(process.pid), before.get(process.pid), 'the serving (main) thread keeps its priority');
  for (const [tid, nice] of after) if (tid !== process.pid) t.ok(nice >= 7, `thread ${tid} at nice ${nice}`);
  t.equal(
    changed,
    [...before].filter(([tid, nice]) => tid !== process.pid && nice < 7).length,
    'counts what it changed',
  );
  t.equal(lowerOtherThreads(7), 0, 'a second pass changes nothing');
  t.equal(lowerOtherThreads(3), 0, 'and never raises a priority again');
  await worker.terminate();
});

t.test('--engine-nice-scope: engine by default, background on demand, anything else stops the start', async (t) => {
  const load = (flags: Record<string, string>) => loadConfig(new Map(Object.entries(flags)), {});
  t.equal(load({}).engineNiceScope, 'engine');
  t.equal(load({ 'engine-nice-scope': 'background' }).engineNiceScope, 'background');
  t.throws(() => load({ 'engine-nice-scope': 'all' }), /--engine-nice-scope.*must be engine or background, got "all"/);
});
