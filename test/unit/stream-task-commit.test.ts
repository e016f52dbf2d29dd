// A failed commit stops the task at once. Commits run in the background while the task goes on
// processing, so a second commit can be waiting behind one that fails; had it gone ahead it would
// have committed input offsets past records whose output was lost with the failed transaction.
// The task's producer and Kafka's offsets are fakes here (the logic under test is the task's);
// its LevelDB store is real.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import type { ClusterAdmin, ConsumedOffsets, KafkaClient } from '../../src/kafka/client.js';
import { BrokerUnreachableError, type TransactionState } from '../../src/kafka/transaction-admin.js';
import { compileTopology } from '../../src/processor/compile.js';
import { LevelDbBackend } from '../../src/state/leveldb-backend.js';
import { streamsConfig, type StreamsSettings } from '../../src/runtime/config.js';
import { createStreamsMetrics } from '../../src/runtime/metrics.js';
import type * as StreamTaskModule from '../../src/runtime/stream-task.js';
import type { TaskDeps } from '../../src/runtime/stream-task.js';
import { DeserializationError, Serdes, type Serde } from '../../src/serdes/index.js';
import { createLogger } from '../../src/util/logger.js';

interface Deferred {
  promise: Promise<Map<string, bigint>>;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** The end offset of the input when a task starts. */
let inputEnd = 0n;

/** Commits the test settles by hand, one deferred per call, with what each call would have committed. */
const commits: Array<Deferred & { offsets: bigint | undefined; topics: string[] }> = [];
class ManualWriter {
  async connect() {}
  async disconnect() {}
  commit(records: Array<{ topic: string }>, consumed: ConsumedOffsets): Promise<Map<string, bigint>> {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<Map<string, bigint>>((res, rej) => {
      resolve = () => res(new Map());
      reject = rej;
    });
    commits.push({
      promise,
      resolve,
      reject,
      offsets: consumed.offsets.get('in')?.get(0),
      topics: records.map((r) => r.topic),
    });
    return promise;
  }
}

/** An open task (not yet initialized); `mocks` replace more of the modules it uses. */
async function openTask(
  t: Test,
  mocks: Record<string, unknown> = {},
  more: {
    config?: Partial<StreamsSettings>;
    instanceLag?: TaskDeps['instanceLag'];
    failApplication?: TaskDeps['failApplication'];
    metrics?: Registry;
    backend?: LevelDbBackend;
  } = {},
) {
  const { StreamTask } = await t.mockImport<typeof StreamTaskModule>('../../src/runtime/stream-task.js', {
    ...mocks,
    '../../src/kafka/admin.js': {
      committedOffsets: async () => new Map([[0, 0n]]),
      endOffsets: async () => new Map([[0, inputEnd]]),
      leadersAlive: async () => true,
      partitionCounts: async () => new Map(),
    },
  });
  const builder = new StreamsBuilder();
  builder
    .stream('in', { keySerde: Serdes.string, valueSerde: refusesBad })
    .to('out', { keySerde: Serdes.string, valueSerde: Serdes.string });
  const topology = compileTopology(builder.build(), 'app');
  const config = streamsConfig({
    applicationId: 'app',
    brokers: ['127.0.0.1:1'],
    stateDir: mkdtempSync(join(tmpdir(), 'uis-task-')),
    endpoint: '127.0.0.1:1',
    ...more.config,
  });
  const task = await StreamTask.open(
    {
      topology,
      config,
      client: { taskWriter: () => new ManualWriter() } as unknown as KafkaClient, // only the task's writer
      admin: {} as ClusterAdmin, // only handed to the (fake) offset lookups
      logger: createLogger('error'),
      metrics: createStreamsMetrics(more.metrics ?? new Registry()),
      partitionsOf: () => 1,
      ...(more.instanceLag ? { instanceLag: more.instanceLag } : {}),
      ...(more.failApplication ? { failApplication: more.failApplication } : {}),
    },
    topology.subtopologies[0]!,
    0,
    { releaseDirectory: () => undefined, ...(more.backend ? { backend: more.backend } : {}) },
  );
  t.teardown(() => task.close({ commit: false }));
  return task;
}

/** A string serde that cannot read the value "bad". */
const refusesBad: Serde<string> = {
  name: 'refuses-bad',
  serialize: (value) => Buffer.from(value),
  deserialize: (bytes) => {
    if (bytes.toString() === 'bad') throw new DeserializationError('refuses-bad', 'a bad value');
    return bytes.toString();
  },
};

async function runningTask(t: Test, more: Parameters<typeof openTask>[2] = {}) {
  const task = await openTask(t, {}, more);
  await task.initialize();
  await task.start();
  let offset = 0;
  const processOne = (value?: string) =>
    task.process({
      topic: 'in',
      partition: 0,
      offset: String(offset++),
      timestamp: Date.now(),
      key: Buffer.from('k'),
      value: Buffer.from(value ?? `v${offset}`),
    });
  return { task, processOne };
}

t.beforeEach(() => {
  commits.length = 0;
  inputEnd = 0n;
});

t.test('no commit runs after one failed, until the task is reopened', async (t) => {
  const { task, processOne } = await runningTask(t);
  processOne();
  processOne();
  const first = task.commit();
  t.equal(commits.length, 1, 'the first commit is in flight');
  t.equal(commits[0]!.offsets, 2n);

  processOne(); // processing goes on meanwhile
  const waiting = task.commit();
  commits[0]!.reject(new Error('transaction aborted'));
  await t.rejects(first, /transaction aborted/);
  await t.rejects(waiting, /transaction aborted/, 'a commit waiting behind it reports the failure');

  // The engine reopens the task a few turns of the event loop later; meanwhile nothing may commit
  // offset 3, which is past records whose output was lost with the failed transaction.
  t.equal(task.status, 'failed');
  t.equal(task.commitDue, false, 'no background commit is due');
  const again = task.commit();
  t.equal(commits.length, 1, 'an explicit commit does nothing either');
  for (const extra of commits.slice(1)) extra.resolve(); // only reached when the above fails
  await again;
});

t.test('the task is failed before anyone sees the commit fail', async (t) => {
  const { task, processOne } = await runningTask(t);
  processOne();
  const commit = task.commit();
  let statusSeen: string | undefined;
  const seen = commit.catch(() => (statusSeen = task.status));
  commits[0]!.reject(new Error('fenced'));
  await seen;
  t.equal(statusSeen, 'failed');
});

t.test('after a successful commit the next one runs with the newer offsets', async (t) => {
  const { task, processOne } = await runningTask(t);
  processOne();
  const first = task.commit();
  processOne();
  processOne();
  const second = task.commit();
  commits[0]!.resolve();
  await first;
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(commits.length, 2, 'the waiting commit ran once the first succeeded');
  t.equal(commits[1]!.offsets, 3n);
  commits[1]!.resolve();
  await second;
  t.equal(task.status, 'running');
});

t.test('a task is caught up once its results are committed and readable, not when processed', async (t) => {
  inputEnd = 2n; // two records were waiting when the task started
  const { task, processOne } = await runningTask(t);
  processOne();
  processOne();
  t.equal(task.caughtUp, false, 'processed but not committed: a lookup would not find the row yet');
  const commit = task.commit();
  t.equal(task.caughtUp, false, 'nor while the commit is in flight');
  commits[0]!.resolve();
  await commit;
  t.equal(task.caughtUp, true, 'committed and in LevelDB');
});

t.test('a fetch that finds nothing left counts once what was processed is committed', async (t) => {
  inputEnd = 3n; // the last offset is a transaction marker: it is never processed
  const { task, processOne } = await runningTask(t);
  processOne();
  processOne();
  task.markNoLag('in');
  t.equal(task.caughtUp, false);
  const commit = task.commit();
  commits[0]!.resolve();
  await commit;
  t.equal(task.caughtUp, true);
});

// The soak saw tasks start without looking for hanging transactions because the broker, busy just
// after a restart, did not answer in time; that is when hanging transactions appear.
t.test('a task does not start while the broker cannot say whether its transactions hang', async (t) => {
  const states: Array<Error | TransactionState> = [
    new BrokerUnreachableError('no answer from 127.0.0.1:9092'),
    { errorCode: 0, state: 'CompleteAbort', producerId: 7n, producerEpoch: 3, partitions: new Set<string>() },
  ];
  const repaired: unknown[] = [];
  class FakeHangingTransactions {
    async state() {
      const next = states.shift()!;
      if (next instanceof Error) throw next;
      return next;
    }
    async repair(before: TransactionState) {
      repaired.push(before);
      return [];
    }
  }
  const task = await openTask(t, {
    '../../src/kafka/hanging-transactions.js': {
      HangingTransactions: FakeHangingTransactions,
      OFFSETS_TOPIC: '__consumer_offsets',
      awaitDecidedMarkers: async () => undefined,
      endHangingTransactions: async () => [],
      offsetsPartitionOf: () => 0,
    },
  });
  await t.rejects(task.initialize(), BrokerUnreachableError, 'initialize fails (the task manager retries it)');
  t.same(repaired, [], 'nothing was repaired or assumed');
  await task.initialize();
  t.same(
    repaired,
    [{ errorCode: 0, state: 'CompleteAbort', producerId: 7n, producerEpoch: 3, partitions: new Set() }],
    'the retry looks',
  );
});

t.test(
  'with the instance far behind its input, a task commits at the catch-up interval; caught up, at the usual one',
  async (t) => {
    let lag = 50_000n;
    const task = await openTask(
      t,
      {},
      { config: { commitIntervalMs: 20, catchUpCommitIntervalMs: 400 }, instanceLag: () => lag },
    );
    await task.initialize();
    await task.start();
    task.process({ topic: 'in', partition: 0, offset: '0', timestamp: Date.now(), key: Buffer.from('k'), value: null });
    await new Promise((resolve) => setTimeout(resolve, 60));
    t.equal(task.commitDue, false, '60 ms after its last commit, 50,000 records behind: not yet');
    lag = 100n;
    t.equal(task.commitDue, true, 'the backlog worked off: the usual 20 ms apply');
  },
);

t.test("caught up, a task writes out a memtable holding a store's worth; behind, it keeps it", async (t) => {
  const MiB = 1024 * 1024;
  let lag = 50_000n;
  let held = 0;
  let writtenOut = 0;
  const backend = await LevelDbBackend.open(mkdtempSync(join(tmpdir(), 'uis-task-store-')));
  // What the backend holds is set by hand: this topology has no stores to fill it.
  Object.defineProperty(backend, 'memtableBytes', { get: () => held });
  backend.writeOutMemtable = async () => void writtenOut++;
  const task = await openTask(t, {}, { config: { storeWriteBufferBytes: 4 * MiB }, instanceLag: () => lag, backend });
  held = 5 * MiB;
  task.settleMemtable();
  t.equal(writtenOut, 0, 'not running yet: the memtable stays');
  await task.initialize();
  await task.start();
  task.settleMemtable();
  t.equal(writtenOut, 0, '50,000 records behind: the memtable stays');
  lag = 10n;
  held = 3 * MiB;
  task.settleMemtable();
  t.equal(writtenOut, 0, "caught up, under a store's worth: it stays");
  held = 4 * MiB;
  task.settleMemtable();
  t.equal(writtenOut, 1, "caught up, a store's worth: written out");
});

t.test(
  'error policies: a record that cannot be read is dead-lettered, skipped, or stops the application',
  async (t) => {
    t.test('dead-letter (the default): written with the next commit, processing goes on', async (t) => {
      const { task, processOne } = await runningTask(t);
      processOne('bad');
      processOne();
      const commit = task.commit();
      t.same(commits[0]!.topics.sort(), ['app-dead-letters', 'out']);
      t.equal(commits[0]!.offsets, 2n);
      commits[0]!.resolve();
      await commit;
    });

    t.test('skip: counted, not written, processing goes on', async (t) => {
      const registry = new Registry();
      const { task, processOne } = await runningTask(t, {
        config: { errorPolicies: { deserialization: 'skip' } },
        metrics: registry,
      });
      processOne('bad');
      processOne();
      const commit = task.commit();
      t.same(commits[0]!.topics, ['out'], 'no dead letter');
      t.equal(commits[0]!.offsets, 2n, 'past the skipped record');
      commits[0]!.resolve();
      await commit;
      const skipped = (await registry.getSingleMetric('streams_skipped_records_total')!.get()).values;
      t.same(
        skipped.map((v) => [v.labels, v.value]),
        [[{ topic: 'in', kind: 'deserialization' }, 1]],
      );
    });

    t.test('fail: the application is told to stop; nothing from the record on is committed', async (t) => {
      const failures: Error[] = [];
      const { task, processOne } = await runningTask(t, {
        config: { errorPolicies: { deserialization: 'fail' } },
        failApplication: (error) => failures.push(error),
      });
      processOne();
      processOne('bad');
      t.equal(failures.length, 1);
      t.match(failures[0]!.message, /a deserialization error on in-0@1 .*its policy is fail/);
      t.equal(task.status, 'suspended', 'it processes nothing more');
      const commit = task.commit();
      t.equal(commits[0]!.offsets, 1n, 'the final commit stops before the failed record');
      t.same(commits[0]!.topics, ['out'], 'with the output of the records before it');
      commits[0]!.resolve();
      await commit;
    });
  },
);
