// Readiness follows the initial snapshot through the topology: the CDC topics first, then each
// repartition topic once everything feeding it is processed. Positions come from a table here;
// the service reads them from Kafka Connect and Kafka (test/integration covers that path).
import t from 'tap';
import { compileTopology, type SubTopology } from '../../src/processor/compile.js';
import { SnapshotGate, type GatePositions } from '../../src/service/snapshot-gate.js';
import { createLogger } from '../../src/util/logger.js';
import { userInformationTopology, viewSerde } from '../../topology/user-information.js';

/** Kafka as a table: end and committed offsets per topic (one partition each), and the connector's state. */
class TablePositions implements GatePositions {
  snapshotDone = false;
  readonly end = new Map<string, bigint>();
  readonly committed = new Map<string, bigint>();
  /** Topics whose end offsets the gate asked for, in order. */
  readonly opened: string[] = [];

  async snapshotFinished() {
    return this.snapshotDone;
  }
  async endOffsets(topic: string) {
    this.opened.push(topic);
    return new Map([[0, this.end.get(topic) ?? 0n]]);
  }
  async committedOffsets(topic: string) {
    const offset = this.committed.get(topic);
    return new Map(offset === undefined ? [] : [[0, offset]]);
  }
  /** Partitions of each topic as far as the gate asks (it counts the tasks writing a repartition topic). */
  readonly partitionCounts = new Map<string, number>();
  async partitions(topic: string) {
    return this.partitionCounts.get(topic) ?? 1;
  }
}

type Sub = Pick<SubTopology, 'sources' | 'sinkTopics'>;
const sub = (sources: string[], sinkTopics: string[]): Sub => ({
  sources: sources.map((topic) => ({ topic, internal: topic.startsWith('r'), nodeIds: [] })),
  sinkTopics,
});
/** Two stages: r1 is fed by CDC topic a; r2 by r1 and by CDC topic b. */
const twoStages = [sub(['a'], ['r1']), sub(['r1'], ['r2']), sub(['b'], ['r2']), sub(['r2'], ['out'])];

function gateOn(positions: TablePositions, subtopologies: readonly Sub[] = twoStages, cdcTopics = ['a', 'b']) {
  return new SnapshotGate({
    connector: 'uis-postgres',
    cdcTopics,
    subtopologies,
    positions,
    logger: createLogger('error'),
  });
}

t.test('not ready before the connector finished its snapshot, with the reason', async (t) => {
  const positions = new TablePositions();
  const gate = gateOn(positions);
  await gate.check();
  t.same(gate.status(), {
    ready: false,
    reason: 'the Debezium connector uis-postgres has not finished its initial snapshot',
  });
  t.same(positions.opened, [], 'no targets are taken before the snapshot ends');
});

t.test('each repartition topic is waited for once all its writers have processed their input', async (t) => {
  const positions = new TablePositions();
  positions.end.set('a', 100n).set('b', 10n);
  positions.snapshotDone = true;
  const gate = gateOn(positions);

  await gate.check();
  t.same(positions.opened, ['a', 'b'], 'the CDC topics first');
  t.same(gate.status(), {
    ready: false,
    reason: 'the initial snapshot is not yet fully processed (records left: a: 100, b: 10)',
  });

  // CDC topics are written without transactions: the group reaches their end offset itself.
  // Repartition topics end with a transaction marker, which the group never commits past.
  positions.committed.set('a', 100n);
  positions.end.set('r1', 51n).set('r2', 31n);
  await gate.check();
  t.same(positions.opened, ['a', 'b', 'r1'], 'r1 is opened once a is processed; r2 waits for b as well');

  positions.committed.set('b', 10n).set('r1', 49n);
  await gate.check();
  t.same(positions.opened, ['a', 'b', 'r1'], 'r2 waits for r1');
  t.match(gate.status(), { ready: false, reason: /records left: r1: 1\)$/ });

  positions.committed.set('r1', 50n);
  positions.end.set('r2', 61n); // r1's processing wrote more to r2 meanwhile
  await gate.check();
  t.same(positions.opened, ['a', 'b', 'r1', 'r2']);
  t.match(gate.status(), { ready: false, reason: /r2: 59\b/ }, 'r2 has two writing tasks, so two markers may end it');

  positions.committed.set('r2', 58n);
  await gate.check();
  t.equal(gate.status().ready, false);
  positions.committed.set('r2', 59n);
  await gate.check();
  t.same(gate.status(), { ready: true });
});

t.test('the service topology: the CDC topics, then its repartition topics', async (t) => {
  const topology = compileTopology(
    userInformationTopology({ cdcTopicPrefix: 'cdc', outputTopic: 'user-information', outputValueSerde: viewSerde }),
    'app',
  );
  const cdcTopics = ['users', 'tweets', 'follows', 'likes'].map((table) => `cdc.public.${table}`);
  const positions = new TablePositions();
  positions.snapshotDone = true;
  for (const topic of cdcTopics) positions.end.set(topic, 5n);
  for (const topic of topology.repartitionTopics) positions.end.set(topic, 7n);
  const gate = gateOn(positions, topology.subtopologies, cdcTopics);
  await gate.check();
  for (const topic of cdcTopics) positions.committed.set(topic, 5n);
  await gate.check();
  t.equal(gate.status().ready, false, 'the repartition topics are not processed yet');
  t.same(new Set(positions.opened), new Set([...cdcTopics, ...topology.repartitionTopics]));
  for (const topic of topology.repartitionTopics) positions.committed.set(topic, 6n);
  await gate.check();
  t.same(gate.status(), { ready: true });
});

t.test('concurrent writers end a partition with one transaction marker each', async (t) => {
  // Four tasks read a's four partitions and write r1: their transactions interleave, e.g.
  // data(A) data(B) data(C) data(D) marker(A) marker(B) marker(C) marker(D).
  const positions = new TablePositions();
  positions.partitionCounts.set('a', 4);
  positions.end.set('a', 10n).set('r1', 108n).set('r2', 0n);
  positions.committed.set('a', 10n).set('r1', 103n);
  positions.snapshotDone = true;
  const gate = gateOn(positions);
  await gate.check();
  t.match(gate.status(), { ready: false, reason: /r1: 1\)/ });
  positions.committed.set('r1', 104n);
  await gate.check();
  t.same(gate.status(), { ready: true });
});

t.test('empty partitions and topics count as processed', async (t) => {
  const positions = new TablePositions();
  positions.snapshotDone = true;
  const gate = gateOn(positions);
  await gate.check();
  t.same(gate.status(), { ready: true }, 'an empty database: nothing to wait for');
});

t.test('a failing position lookup leaves the gate closed and is retried', async (t) => {
  const positions = new TablePositions();
  positions.end.set('a', 100n).set('b', 100n);
  positions.snapshotDone = true;
  let failures = 1;
  const original = positions.endOffsets.bind(positions);
  positions.endOffsets = async (topic: string) => {
    if (topic === 'b' && failures-- > 0) throw new Error('broker away');
    return original(topic);
  };
  const gate = gateOn(positions);
  await gate.check();
  t.equal(gate.status().ready, false);
  await gate.check();
  t.match(gate.status(), { ready: false, reason: /b: 100/ }, 'the failed topic is waited for');
  positions.committed.set('a', 100n).set('b', 100n);
  await gate.check();
  t.same(gate.status(), { ready: true }, 'r1 and r2 are empty');
});
