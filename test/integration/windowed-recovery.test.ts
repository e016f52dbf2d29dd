// kill -9 (and one clean restart) in the middle of open windows, sessions, sliding windows, a
// suppression buffer and a left join's buffer, while out-of-order and late events flow: after the restarts, the final
// results, the session and sliding-window counts and the join's results equal those of an
// application that ran the same topology on the same input without interruption.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectedProducer, createTopics, kafka, readTopic } from '../support/kafka.js';
import { eventually, uniqueName } from '../support/stack.js';
import { streamsOnStack } from '../support/streams.js';
import { createLogger } from '../../src/util/logger.js';
import {
  finalSerdes,
  sessionSerdes,
  slidingSerdes,
  windowedTopics,
  windowedTopology,
} from '../support/windowed-topology.js';

const KILLS = 4;
/** How each stop is made: all with SIGKILL but one clean stop (SIGTERM: commit, close, leave). */
const SIGNALS = (process.env.WKILL_SIGNALS?.split(',') ?? [
  'SIGKILL',
  'SIGTERM',
  'SIGKILL',
  'SIGKILL',
]) as NodeJS.Signals[];
const PARTITIONS = 4;
const worker = new URL('../support/streams-worker.ts', import.meta.url).pathname;

t.test(
  `windows, sessions, joins and suppression are exact after ${KILLS} stops (kill -9 and a clean one) while late events flow`,
  async (t) => {
    const prefix = uniqueName('wkill');
    const reference = `${prefix}-ref`;
    const topics = windowedTopics(prefix);
    const referenceTopics = windowedTopics(prefix, reference);
    await createTopics([topics.events], PARTITIONS);
    const stateDir = mkdtempSync(join(tmpdir(), 'uis-wkill-'));
    t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));

    // The reference's warnings are kept and shown if its results differ: a rare failure in CI (two
    // windows' final results missing from the uninterrupted run) left nothing to explain it.
    const referenceLog: string[] = [];
    const uninterrupted = streamsOnStack(
      windowedTopology(prefix, reference),
      { applicationId: reference, stateDir: join(stateDir, 'reference') },
      { logger: createLogger('warn', { app: 'reference' }, (line) => referenceLog.push(line)) },
    );
    const explain = (ok: boolean) => {
      if (!ok) for (const line of referenceLog.slice(-200)) t.comment(line);
    };
    t.teardown(() => uninterrupted.stop());
    await uninterrupted.start();

    const endpoints = ['127.0.0.1:4211', '127.0.0.1:4212'];
    const processes = new Map<string, ChildProcess>();
    const startWorker = (endpoint: string) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          worker,
          prefix,
          endpoint,
          join(stateDir, endpoint.replace(':', '_')),
          'exactly_once_v2',
          'windowed',
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      processes.set(endpoint, child);
    };
    t.teardown(() => {
      for (const child of processes.values()) child.kill('SIGKILL');
    });
    endpoints.forEach(startWorker);

    const producer = await connectedProducer();
    t.teardown(() => producer.disconnect());
    let seed = 11;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    // Recent times (from an hour ago): the broker deletes records older than its retention (a week)
    // by their timestamps, input included, which lost events here when the times were a year old.
    let now = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
    let sent = 0;
    const sendBatch = async () => {
      const messages = [];
      for (let i = 0; i < 40; i++) {
        now += random(400);
        const late = random(12) === 0 ? 8_000 + random(12_000) : random(3_000);
        messages.push({ key: `k${random(10)}`, value: `v${random(5)}`, timestamp: String(now - late) });
      }
      await producer.send({ topic: topics.events, messages });
      sent += messages.length;
    };
    let kills = 0;
    for (; kills < KILLS; kills++) {
      for (let i = 0; i < 5; i++) await sendBatch();
      // Every event so far processed and committed: open windows, sessions and a buffer to lose...
      await eventually(`the workers to commit every event before kill ${kills + 1}`, 120_000, async () =>
        (await committedAll(prefix, topics.events)) ? true : undefined,
      );
      // ...and a kill in the middle of processing the next ones.
      await sendBatch();
      await new Promise((resolve) => setTimeout(resolve, random(300)));
      const victim = endpoints[random(endpoints.length)]!;
      const child = processes.get(victim)!;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(SIGNALS[kills]);
      // A clean stop ends once the worker has committed and left; a kill -9 ends at once.
      await exited;
      await new Promise((resolve) => setTimeout(resolve, 100 + random(500)));
      startWorker(victim);
    }
    for (let i = 0; i < 5; i++) await sendBatch();
    t.equal(kills, KILLS, `${KILLS} instances were stopped (${SIGNALS.join(', ')}) while ${sent} events flowed`);

    let behind = '';
    await eventually('both applications to commit every event', 240_000, async () => {
      const lagging = [];
      for (const app of [prefix, reference]) if (!(await committedAll(app, topics.events))) lagging.push(app);
      behind = lagging.join(' and ');
      return lagging.length === 0 ? true : undefined;
    }).catch((error: Error) => {
      throw new Error(`${error.message} (behind: ${behind})`);
    });
    /** Where each final result was read from (partition and offset), for a failure's comment. */
    const placed = new Map<string, string>();
    const finals = async (topic: string) => {
      const records: string[] = [];
      await readTopic(topic, (m, partition) => {
        const { key, window } = finalSerdes.keySerde.deserialize(m.key!);
        const record = `${key}@${window.start}=${finalSerdes.valueSerde.deserialize(m.value!)}`;
        placed.set(`${topic} ${record}`, `${partition}@${m.offset} ts ${m.timestamp}`);
        records.push(record);
      });
      return records.sort();
    };
    const sessions = async (topic: string) => {
      const table = new Map<string, number | null>();
      await readTopic(topic, (m) => {
        const { key, window } = sessionSerdes.keySerde.deserialize(m.key!);
        table.set(
          `${key}[${window.start},${window.end}]`,
          m.value === null ? null : sessionSerdes.valueSerde.deserialize(m.value),
        );
      });
      return [...table].filter(([, count]) => count !== null).sort(([a], [b]) => a.localeCompare(b));
    };
    const expectedFinals = await finals(referenceTopics.final);
    const actualFinals = await finals(topics.final);
    t.ok(expectedFinals.length > 20, `the uninterrupted run closed ${expectedFinals.length} windows`);
    if (!t.same(actualFinals, expectedFinals, 'each closed window emitted once, with the same final count')) {
      const only = (a: string[], b: string[], topic: string) =>
        a.filter((r) => !b.includes(r)).map((r) => `${r} (${placed.get(`${topic} ${r}`)})`);
      t.comment(
        `only in the uninterrupted run: ${only(expectedFinals, actualFinals, referenceTopics.final).join(', ')}`,
      );
      t.comment(`only after the stops: ${only(actualFinals, expectedFinals, topics.final).join(', ')}`);
      // Were the missing ones written and aborted (or filtered by the reader), or never written?
      const uncommitted = new Map<string, string>();
      await readTopic(
        referenceTopics.final,
        (m, partition) => {
          const { key, window } = finalSerdes.keySerde.deserialize(m.key!);
          const record = `${key}@${window.start}=${finalSerdes.valueSerde.deserialize(m.value!)}`;
          uncommitted.set(record, `${uncommitted.get(record) ?? ''} ${partition}@${m.offset}`);
        },
        60_000,
        true,
      );
      for (const record of actualFinals.filter((r) => !expectedFinals.includes(r)))
        t.comment(`read uncommitted, the uninterrupted run's ${record}: ${uncommitted.get(record) ?? 'absent'}`);
      explain(false);
    }
    t.equal(new Set(actualFinals.map((r) => r.split('=')[0])).size, actualFinals.length, 'no window twice');
    explain(
      t.same(await sessions(topics.sessions), await sessions(referenceTopics.sessions), 'the same sessions and counts'),
    );
    const sliding = async (topic: string) => {
      const table = new Map<string, number>();
      await readTopic(topic, (m) => {
        const { key, window } = slidingSerdes.keySerde.deserialize(m.key!);
        table.set(`${key}[${window.start},${window.end}]`, slidingSerdes.valueSerde.deserialize(m.value!));
      });
      return [...table].sort(([a], [b]) => a.localeCompare(b));
    };
    const expectedSliding = await sliding(referenceTopics.sliding);
    t.ok(expectedSliding.length > 100, `the uninterrupted run has ${expectedSliding.length} sliding windows`);
    explain(t.same(await sliding(topics.sliding), expectedSliding, 'the same sliding windows and counts'));
    const joined = async (topic: string) => {
      const records: string[] = [];
      await readTopic(topic, (m) => records.push(`${m.key?.toString()}=${m.value?.toString()}@${m.timestamp}`));
      return records.sort();
    };
    const expectedJoined = await joined(referenceTopics.joined);
    t.ok(
      expectedJoined.some((r) => r.includes('+-')) && expectedJoined.some((r) => !r.includes('+-')),
      `the uninterrupted join emitted ${expectedJoined.length} results, matched and unmatched`,
    );
    explain(t.same(await joined(topics.joined), expectedJoined, "the join's results, each once"));
  },
);

/** Whether the group has committed offsets at the end of every partition of `topic`. */
async function committedAll(groupId: string, topic: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const at = new Map(committed?.partitions.map((p) => [p.partition, BigInt(p.offset)]) ?? []);
    return ends.every((e) => BigInt(e.high) === BigInt(e.low) || (at.get(e.partition) ?? -1n) >= BigInt(e.high));
  } finally {
    await admin.disconnect();
  }
}
