// What a standby copy's rows are proven to reflect of its task's input. The active task writes, on
// the last changelog record of each store in a commit, the input offsets the commit covers; a standby
// that applied it claims them only once it is at the end of the changelog (a compacted changelog may
// lack, until then, a change a later record superseded). Kafka's offsets and the producer are fakes
// here (the logic under test is the tasks'); the LevelDB stores are real.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import type { ClusterAdmin, ConsumedOffsets, KafkaClient } from '../../src/kafka/client.js';
import type { OutgoingRecord } from '../../src/processor/types.js';
import { compileTopology } from '../../src/processor/compile.js';
import {
  COMMITTED_INPUTS_HEADER,
  decodeCommittedInputs,
  encodeCommittedInputs,
  withCommittedInputs,
} from '../../src/runtime/committed-inputs.js';
import { streamsConfig } from '../../src/runtime/config.js';
import { createStreamsMetrics } from '../../src/runtime/metrics.js';
import { StandbyManager } from '../../src/runtime/standby-manager.js';
import type * as StandbyTaskModule from '../../src/runtime/standby-task.js';
import type * as StreamTaskModule from '../../src/runtime/stream-task.js';
import { Serdes } from '../../src/serdes/index.js';
import { createLogger } from '../../src/util/logger.js';

const strings = { keySerde: Serdes.string, valueSerde: Serdes.string };
const CHANGELOG = 'app-rows-changelog';

function setup() {
  const builder = new StreamsBuilder();
  builder
    .table('in', { ...strings, storeName: 'rows' })
    .toStream()
    .to('out', strings);
  const topology = compileTopology(builder.build(), 'app');
  const config = streamsConfig({
    applicationId: 'app',
    brokers: ['127.0.0.1:1'],
    stateDir: mkdtempSync(join(tmpdir(), 'uis-standby-')),
    endpoint: '127.0.0.1:1',
  });
  return { topology, config, sub: topology.subtopologies[0]! };
}

const admin = {
  committedOffsets: async () => new Map([[0, 0n]]),
  endOffsets: async () => new Map([[0, 0n]]),
  leadersAlive: async () => true,
  partitionCounts: async () => new Map(),
};

/** A standby copy of the task of partition 0, whose changelog ends at `end` when it opens. */
async function openStandby(t: Test, end: bigint) {
  const { StandbyTask } = await t.mockImport<typeof StandbyTaskModule>('../../src/runtime/standby-task.js', {
    '../../src/kafka/admin.js': { ...admin, endOffsets: async () => new Map([[0, end]]) },
  });
  const { config, sub } = setup();
  const standby = await StandbyTask.open(
    { config, admin: {} as ClusterAdmin, logger: createLogger('error') },
    sub,
    0,
    () => undefined,
  );
  t.teardown(() => standby.close());
  return { standby, sink: standby.sink(CHANGELOG) };
}

/** The header a commit's last changelog record carries, for input 'in' at `offset`. */
const inputsHeader = (offset: bigint) => [
  { key: COMMITTED_INPUTS_HEADER, value: encodeCommittedInputs(['in'], new Map([['in', offset]])) },
];

/** The records of one commit of a task that processed three records of 'in' (keys a, b, a). */
async function committedRecords(t: Test, partitionsOf: (topic: string) => number): Promise<OutgoingRecord[]> {
  const written: OutgoingRecord[][] = [];
  class Writer {
    async connect() {}
    async disconnect() {}
    async commit(records: OutgoingRecord[], _consumed: ConsumedOffsets) {
      written.push(records);
      return new Map<string, bigint>();
    }
  }
  const { StreamTask } = await t.mockImport<typeof StreamTaskModule>('../../src/runtime/stream-task.js', {
    '../../src/kafka/admin.js': admin,
  });
  const { topology, config } = setup();
  const task = await StreamTask.open(
    {
      topology,
      config,
      client: { taskWriter: () => new Writer() } as unknown as KafkaClient, // only the task's writer
      admin: {} as ClusterAdmin, // only handed to the (fake) offset lookups
      logger: createLogger('error'),
      metrics: createStreamsMetrics(new Registry()),
      partitionsOf,
    },
    topology.subtopologies[0]!,
    0,
    { releaseDirectory: () => undefined },
  );
  t.teardown(() => task.close({ commit: false }));
  await task.initialize();
  await task.start();
  for (const [offset, key] of ['a', 'b', 'a'].entries()) {
    task.process({
      topic: 'in',
      partition: 0,
      offset: String(offset),
      timestamp: 1,
      key: Buffer.from(key),
      value: Buffer.from(`v${offset}`),
    });
  }
  await task.commit();
  return written[0]!;
}

const inputsOf = (records: OutgoingRecord[], topic: string) =>
  records
    .filter((r) => r.topic === topic)
    .map((r) => r.headers?.find((h) => h.key === COMMITTED_INPUTS_HEADER)?.value.toString());

t.test('the last changelog record of a commit carries the input offsets it covers', async (t: Test) => {
  const records = await committedRecords(t, () => 1);
  t.same(
    inputsOf(records, CHANGELOG),
    [undefined, '3'],
    'one record per key changed; the last carries the offset after the records committed',
  );
  // Read replicas of the output topic follow it the same way.
  t.same(
    inputsOf(records, 'out'),
    [undefined, undefined, '3'],
    "so does the last output record on the task's partition",
  );
});

t.test('output records carry no input offsets where the output topic is partitioned otherwise', async (t: Test) => {
  // With two output partitions, records of other tasks land on this task's partition too.
  const records = await committedRecords(t, (topic) => (topic === 'out' ? 2 : 1));
  t.same(inputsOf(records, CHANGELOG), [undefined, '3'], 'the changelog still does');
  t.ok(
    inputsOf(records, 'out').every((v) => v === undefined),
    'no output record carries them',
  );
});

t.test('a standby claims the committed inputs it applied once it is at the end of the changelog', async (t) => {
  const { standby, sink } = await openStandby(t, 10n);
  const record = (offset: bigint, key: string, committed?: bigint) => ({
    key: Buffer.from(key),
    value: Buffer.from(`v${offset}`),
    offset,
    ...(committed !== undefined ? { headers: inputsHeader(committed) } : {}),
  });

  await sink.apply([record(0n, 'a'), record(1n, 'b', 40n)], 2n);
  t.equal(standby.provenInputs('rows'), undefined, 'applied, but not at the end: nothing proven');
  sink.advanced!(3n, 10n);
  t.equal(standby.provenInputs('rows'), undefined, 'still behind the end');
  await sink.apply([record(3n, 'a'), record(4n, 'c', 55n), record(5n, 'a'), record(8n, 'd', 61n)], 10n);
  sink.advanced!(10n, 10n);
  t.same(standby.provenInputs('rows'), new Map([['in', 61n]]), 'at the end: the last commit applied');
  t.equal(standby.readCommitted('rows', Buffer.from('d'))?.toString(), 'v8');

  await sink.apply([record(10n, 'e', 70n)], 11n);
  sink.advanced!(11n, 14n);
  t.same(standby.provenInputs('rows'), new Map([['in', 61n]]), 'behind again: the proven inputs stay');
  await sink.apply([record(12n, 'f')], 14n);
  sink.advanced!(14n, 14n);
  t.same(standby.provenInputs('rows'), new Map([['in', 70n]]), 'at the end again: the newer commit');
  t.equal(standby.provenInputs('other'), undefined, 'a store not in the task');
});

t.test("a quiet partition: a copy proves the group's committed offsets once it has read past them", async (t) => {
  const { standby, sink } = await openStandby(t, 4n);
  await sink.apply([{ key: Buffer.from('a'), value: Buffer.from('v0'), offset: 3n, headers: inputsHeader(20n) }], 4n);
  sink.advanced!(4n, 4n);
  t.same(standby.provenInputs('rows'), new Map([['in', 20n]]), 'the last commit that changed a row');

  // Later commits changed no row: the group has 35 committed, and the changelog ends where it did.
  standby.noteCommitted(new Map([['in', 35n]]), new Map([[CHANGELOG, 4n]]));
  t.same(standby.provenInputs('rows'), new Map([['in', 35n]]), 'read to the end the group had: its offsets');

  // A commit whose changelog records lie past the copy: proven only once it has read them.
  standby.noteCommitted(new Map([['in', 50n]]), new Map([[CHANGELOG, 7n]]));
  t.same(standby.provenInputs('rows'), new Map([['in', 35n]]), 'not read that far yet');
  await sink.apply([{ key: Buffer.from('b'), value: Buffer.from('v5'), offset: 5n }], 6n);
  sink.advanced!(6n, 7n);
  t.same(standby.provenInputs('rows'), new Map([['in', 35n]]), 'still short of the watermark read after them');
  await sink.apply([{ key: Buffer.from('c'), value: Buffer.from('v6'), offset: 6n, headers: inputsHeader(44n) }], 7n);
  sink.advanced!(7n, 7n);
  t.same(standby.provenInputs('rows'), new Map([['in', 50n]]), 'read past them and at the end: proven');

  // An older commit's header read after never takes the proof back.
  await sink.apply([{ key: Buffer.from('d'), value: Buffer.from('v7'), offset: 7n, headers: inputsHeader(48n) }], 8n);
  sink.advanced!(8n, 8n);
  t.same(standby.provenInputs('rows'), new Map([['in', 50n]]), 'the proof never goes back');
  standby.noteCommitted(new Map([['in', 60n]]), new Map([['another-changelog', 1n]]));
  t.same(standby.provenInputs('rows'), new Map([['in', 50n]]), 'no watermark of this changelog: nothing more');
});

t.test("the standby manager reads the group's offsets before the changelogs' watermarks, per copy", async (t) => {
  const calls: string[] = [];
  const noted: Array<[string, Map<string, bigint>, Map<string, bigint>]> = [];
  const copy = (id: string, partition: number, caughtUp: boolean) =>
    ({
      id,
      partition,
      closed: false,
      sourceTopics: ['in-a', 'in-b'],
      changelogs: [{ topic: CHANGELOG, from: 0n, end: undefined }],
      stalenessMs: () => (caughtUp ? 0 : undefined),
      noteCommitted: (inputs: Map<string, bigint>, ends: Map<string, bigint>) => noted.push([id, inputs, ends]),
      close: async () => undefined,
    }) as unknown as StandbyTaskModule.StandbyTask;
  const copies = [copy('0_0', 0, true), copy('0_1', 1, true), copy('0_2', 2, false)];
  const manager = new StandbyManager({
    open: async (ref) => copies.find((c) => c.id === ref.id)!,
    follow: () => undefined,
    unfollow: () => undefined,
    committedOffsets: async (topic) => {
      calls.push(`committed ${topic}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      calls.push(`committed ${topic} done`);
      return topic === 'in-a'
        ? new Map([
            [0, 10n],
            [1, 11n],
            [2, 12n],
          ])
        : new Map([[1, 21n]]);
    },
    endOffsets: async (topic) => {
      calls.push(`end ${topic}`);
      return new Map([
        [0, 100n],
        [1, 101n],
        [2, 102n],
      ]);
    },
    logger: createLogger('error'),
  });
  t.teardown(() => manager.shutdown());
  manager.handleAssignment(copies.map((c) => ({ id: c.id, subtopology: 0, partition: c.partition })));
  await new Promise((resolve) => setTimeout(resolve, 20));
  await manager.probeCommitted();
  t.ok(
    calls.indexOf(`end ${CHANGELOG}`) > calls.lastIndexOf('committed in-b done') &&
      calls.indexOf(`end ${CHANGELOG}`) > calls.lastIndexOf('committed in-a done'),
    `watermarks read after the committed offsets (${calls.join(', ')})`,
  );
  t.same(
    noted,
    [
      ['0_0', new Map([['in-a', 10n]]), new Map([[CHANGELOG, 100n]])],
      [
        '0_1',
        new Map([
          ['in-a', 11n],
          ['in-b', 21n],
        ]),
        new Map([[CHANGELOG, 101n]]),
      ],
    ],
    "each copy at the end gets its partition's offsets; one still catching up gets none",
  );
});

t.test('the header value: offsets in the order of the sources, checked on the way back', async (t) => {
  const sources = ['a', 'b', 'c'];
  const value = encodeCommittedInputs(
    sources,
    new Map([
      ['a', 12n],
      ['c', 2n ** 62n],
    ]),
  );
  t.equal(value.toString(), `12,0,${2n ** 62n}`);
  t.same(
    decodeCommittedInputs(sources, value),
    new Map([
      ['a', 12n],
      ['b', 0n],
      ['c', 2n ** 62n],
    ]),
  );
  t.equal(decodeCommittedInputs(['a', 'b'], value), undefined, 'written for other sources');
  t.equal(decodeCommittedInputs(sources, Buffer.from('1,x,3')), undefined, 'not offsets');
});

t.test('the committed inputs go on the last record of each carrying topic partition, and only there', async (t) => {
  const record = (topic: string, partition: number, n: number) => ({
    topic,
    partition,
    key: Buffer.from(String(n)),
    value: null,
    timestamp: n,
    ...(n === 5 ? { headers: [{ key: 'app', value: Buffer.from('kept') }] } : {}),
  });
  const records = [
    record('changelog', 0, 1),
    record('out', 1, 2),
    record('changelog', 0, 3),
    record('out', 0, 4),
    record('out', 0, 5),
    record('other', 0, 6),
    record('changelog', 1, 7),
  ];
  const inputs = Buffer.from('12,0');
  const marked = withCommittedInputs(records, (r) => r.topic !== 'other', inputs);
  const carrying = marked.flatMap((r) =>
    r.headers?.some((h) => h.key === 'uis-inputs') ? [`${r.topic}-${r.partition}@${r.timestamp}`] : [],
  );
  t.same(carrying, ['out-1@2', 'changelog-0@3', 'out-0@5', 'changelog-1@7']);
  t.equal(marked[3], records[3], 'an earlier record of a partition passes as it is');
  t.same(
    marked[4]!.headers?.map((h) => h.key),
    ['app', 'uis-inputs'],
    'the marked record keeps its own headers before the new one',
  );
  t.equal(records[6]!.headers, undefined, 'the records given are not changed');
  t.equal(records[4]!.headers?.length, 1);
});
