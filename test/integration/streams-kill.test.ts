// kill -9 of instances at random moments while input flows: after restarts the
// output equals the deterministic result exactly (no double counts, no lost updates).
// Once per processing guarantee.
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueName, eventually } from '../support/stack.js';
import { connectedProducer, createTopics, readTable } from '../support/kafka.js';
import {
  expectedSummaries,
  itemSerdes,
  labelSerdes,
  summarySerdes,
  topicsFor,
  type Item,
} from '../support/count-join-topology.js';

const KILLS = 10;
const worker = new URL('../support/streams-worker.ts', import.meta.url).pathname;

for (const guarantee of ['exactly_once', 'exactly_once_v2'])
  t.test(`${guarantee}: the result is exact after ${KILLS} kill -9 during processing`, (t) => killRun(t, guarantee));

async function killRun(t: Test, guarantee: string): Promise<void> {
  const prefix = uniqueName('kill');
  const topics = topicsFor(prefix);
  await createTopics([topics.items, topics.labels], 4);
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-kill-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));

  const endpoints = ['127.0.0.1:4201', '127.0.0.1:4202'];
  const processes = new Map<string, ChildProcess>();
  const startWorker = (endpoint: string) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', worker, prefix, endpoint, join(stateDir, endpoint.replace(':', '_')), guarantee],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    processes.set(endpoint, child);
  };
  t.teardown(() => {
    for (const child of processes.values()) child.kill('SIGKILL');
  });
  await Promise.all(endpoints.map(startWorker));

  const producer = await connectedProducer();
  t.teardown(() => producer.disconnect());
  const items = new Map<string, Item>();
  const labels = new Map<string, string>();
  for (let g = 0; g < 20; g++) labels.set(`g${g}`, `label ${g}`);
  await producer.send({
    topic: topics.labels,
    messages: [...labels].map(([key, label]) => ({ key, value: labelSerdes.valueSerde.serialize(label) })),
  });

  let seed = 7;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  let kills = 0;
  const deadline = Date.now() + 180_000;
  for (let round = 0; kills < KILLS && Date.now() < deadline; round++) {
    const messages = [];
    for (let i = 0; i < 40; i++) {
      const id = `item-${random(300)}`;
      if (random(8) === 0) {
        items.delete(id);
        messages.push({ key: id, value: null });
      } else {
        const item = { group: `g${random(22)}`, n: random(1000) };
        items.set(id, item);
        messages.push({ key: id, value: itemSerdes.valueSerde.serialize(item) });
      }
    }
    await producer.send({ topic: topics.items, messages });
    if (round % 10 === 9) {
      const victim = endpoints[random(endpoints.length)]!;
      processes.get(victim)!.kill('SIGKILL');
      kills++;
      await new Promise((resolve) => setTimeout(resolve, 100 + random(900)));
      // The next kill comes some rounds after this worker is back and processing.
      await startWorker(victim);
    }
    await new Promise((resolve) => setTimeout(resolve, 50 + random(150)));
  }
  t.equal(kills, KILLS, `${KILLS} instances were killed with SIGKILL while input flowed`);

  const expected = Object.fromEntries(expectedSummaries(items, labels));
  let last: Record<string, unknown> = {};
  await eventually('the output topic to equal the expected result', 180_000, async () => {
    const table = await readTable(topics.summaries);
    last = Object.fromEntries([...table].map(([k, v]) => [k, summarySerdes.valueSerde.deserialize(v)]));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return JSON.stringify(last) === JSON.stringify(sortKeys(expected)) || sameTable(last, expected) ? true : undefined;
  }).catch(() => undefined);
  t.same(last, expected, 'every group has exactly the expected count, sum and label');
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

function sameTable(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
}
