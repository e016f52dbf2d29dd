import t from 'tap';
import type { TaskPosition } from '../../src/runtime/kafka-streams.js';
import { debeziumPosition } from '../../src/service/snapshot-gate.js';
import { ViewPositions, type PositionSource } from '../../src/service/view-positions.js';
import { formatLsn, freshnessHeaders, parseLsn, satisfies } from '../../src/serving/freshness.js';
import { createLogger } from '../../src/util/logger.js';

const logger = createLogger('error');

t.test('LSNs read and write in PostgreSQL text form', async (t) => {
  t.equal(parseLsn('0/16B6C50'), 0x16b6c50n);
  t.equal(parseLsn('2/a6fff2f8'), (2n << 32n) | 0xa6fff2f8n);
  t.equal(formatLsn((2n << 32n) | 0xa6fff2f8n), '2/A6FFF2F8');
  t.equal(formatLsn(parseLsn('FFFFFFFF/FFFFFFFF')!), 'FFFFFFFF/FFFFFFFF');
  for (const bad of ['', '16B6C50', '0/', '/1', '0/123456789', 'x/1', '1/2/3', '0x1/2'])
    t.equal(parseLsn(bad), undefined, `"${bad}" is not an LSN`);
});

t.test("Debezium's stored offset gives the larger of the last change's and the last commit's LSN", async (t) => {
  t.same(debeziumPosition({ lsn: 200, lsn_commit: 150, ts_usec: 1_700_000_000_123_456 }), {
    lsn: 200n,
    committedAt: 1_700_000_000_123,
  });
  t.equal(debeziumPosition({ lsn: 100, lsn_commit: 180 }).lsn, 180n);
  t.throws(() => debeziumPosition({ snapshot: true }), /no lsn/);
});

t.test('a position meets a want for a minimum LSN and a staleness bound', async (t) => {
  const position = { lsn: 100n, committedAt: undefined, observedAt: 1000 };
  t.ok(satisfies(position, { minLsn: 100n }, 1000));
  t.notOk(satisfies(position, { minLsn: 101n }, 1000));
  t.ok(satisfies(position, { maxStalenessMs: 50 }, 1050));
  t.notOk(satisfies(position, { maxStalenessMs: 50 }, 1051));
  t.notOk(satisfies(undefined, { minLsn: 1n }), 'no position meets no LSN');
  t.ok(satisfies(undefined, {}), 'nothing asked, nothing to meet');
  t.same(freshnessHeaders({ position: { lsn: 0x16b6c50n, committedAt: 0, observedAt: 900 }, lagRecords: 3n }, 1000), {
    'x-uis-position': '0/16B6C50',
    'x-uis-staleness-ms': '100',
    'x-uis-position-committed-at': '1970-01-01T00:00:00.000Z',
    'x-uis-lag-records': '3',
  });
});

/**
 * A topology of two steps: sub-topology 0 reads the CDC topic and writes the repartition topic,
 * sub-topology 1 (the view) reads the repartition topic. Two partitions each.
 */
function harness() {
  const state = {
    lsn: 10n,
    ends: new Map<string, Map<number, bigint>>([
      [
        'cdc',
        new Map([
          [0, 5n],
          [1, 7n],
        ]),
      ],
      [
        'rep',
        new Map([
          [0, 3n],
          [1, 4n],
        ]),
      ],
    ]),
    committed: new Map<string, Map<number, bigint>>([
      [
        'cdc',
        new Map([
          [0, 5n],
          [1, 7n],
        ]),
      ],
      ['rep', new Map()],
    ]),
    /** The view tasks here: applied offsets of 'rep' per partition. */
    applied: new Map<number, bigint>([
      [0, 0n],
      [1, 0n],
    ]),
    /** The standby copies here: proven offsets of 'rep' per partition. */
    standby: new Map<number, bigint>(),
    /** Per partition of 'rep': transaction markers after its last record (none unless set). */
    trailingMarkers: new Map<number, bigint>(),
    /** The tail lookups asked for: `topic:partition@end`. */
    tailLookups: [] as string[],
    rounds: 0,
    reads: [] as string[],
    /** What the tracker reported of each round: ok or not. */
    reported: [] as boolean[],
  };
  const positions: PositionSource = {
    async connectorPosition() {
      state.rounds++;
      state.reads.push('connector');
      return { lsn: state.lsn, committedAt: undefined };
    },
    async endOffsets(topic) {
      state.reads.push(`end ${topic}`);
      return new Map(state.ends.get(topic));
    },
    async committedOffsets(topic) {
      state.reads.push(`committed ${topic}`);
      return new Map(state.committed.get(topic));
    },
    async recordsEnd(topic, partition, end, lookback) {
      state.tailLookups.push(`${topic}:${partition}@${end}`);
      const markers = state.trailingMarkers.get(partition) ?? 0n;
      return markers > BigInt(lookback) ? end - BigInt(lookback) : end - markers;
    },
  };
  const local = (partition: number): TaskPosition | undefined => {
    const applied = state.applied.get(partition);
    return applied === undefined ? undefined : { applied: new Map([['rep', applied]]), lagRecords: 0n };
  };
  const standby = (partition: number): TaskPosition | undefined => {
    const proven = state.standby.get(partition);
    return proven === undefined ? undefined : { applied: new Map([['rep', proven]]), lagRecords: undefined };
  };
  const tracker = new ViewPositions({
    subtopologies: [
      { id: 0, sources: [{ topic: 'cdc', internal: false, nodeIds: [] }], sinkTopics: ['rep'] },
      { id: 1, sources: [{ topic: 'rep', internal: true, nodeIds: [] }], sinkTopics: ['out'] },
    ],
    viewSubtopology: 1,
    positions,
    local,
    standby,
    intervalMs: 60_000,
    logger,
    onRound: (seconds, ok) => {
      if (seconds >= 0) state.reported.push(ok);
    },
  });
  return { state, tracker };
}

const until = async (what: string, check: () => boolean) => {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

t.test('a round follows the data: CDC ends, their commits, then the repartition ends', async (t) => {
  const { state, tracker } = harness();
  t.teardown(() => tracker.stop());
  tracker.start();
  await until('a round', () => state.reads.includes('end rep'));
  t.same(state.reads.slice(0, 4), ['connector', 'end cdc', 'committed cdc', 'end rep']);
  t.equal(tracker.of(0).position, undefined, 'partition 0 has not applied the repartition records yet');
  state.applied.set(0, 3n);
  t.equal(tracker.of(0).position?.lsn, 10n, 'once applied, partition 0 is at the round position');
  t.equal(tracker.of(1).position, undefined, 'partition 1 is not');
  state.applied.set(1, 4n);
  t.equal(tracker.of(1).position?.lsn, 10n);
  t.equal(tracker.of(7).position, undefined, 'a partition not held here has no position');
  t.same(state.reported, [true], 'the round was reported');
});

t.test('a standby copy has the position of the round its proven offsets reach, apart from the task', async (t) => {
  const { state, tracker } = harness();
  t.teardown(() => tracker.stop());
  tracker.start();
  await until('a round', () => state.reads.includes('end rep'));
  state.applied.set(0, 3n);
  t.equal(tracker.of(0).position?.lsn, 10n, 'the task here is at the round');
  t.equal(tracker.ofStandby(0), undefined, 'no copy here');
  state.standby.set(0, 2n);
  t.equal(tracker.ofStandby(0), undefined, 'a copy proven short of the round has no position');
  state.standby.set(0, 3n);
  t.equal(tracker.ofStandby(0)?.lsn, 10n, 'proven up to the round: its position');
  state.standby.delete(0);
  t.equal(tracker.ofStandby(0), undefined, 'the copy gone, its position goes with it');
  state.standby.set(0, 0n);
  t.equal(tracker.ofStandby(0), undefined, 'a new copy starts from nothing proven');
});

t.test(
  'a copy short of the round by its transaction markers only has the position, once the tail is read',
  async (t) => {
    const { state, tracker } = harness();
    t.teardown(() => tracker.stop());
    state.trailingMarkers.set(0, 1n); // 'rep' partition 0: records up to offset 1, a marker at 2, end 3
    tracker.start();
    await until('a round', () => state.reads.includes('end rep'));
    state.standby.set(0, 1n);
    t.equal(tracker.ofStandby(0), undefined, 'short of the end: not proven before the tail is read');
    await until('the tail lookup', () => state.tailLookups.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    t.equal(tracker.ofStandby(0), undefined, 'a record between the copy and the end: not proven');
    state.standby.set(0, 2n);
    t.equal(tracker.ofStandby(0)?.lsn, 10n, 'only a marker between the copy and the end: the round is proven');
    t.same(state.tailLookups, ['rep:0@3'], 'the tail read once');
    state.standby.set(1, 3n);
    t.equal(tracker.ofStandby(1), undefined, 'partition 1 has no markers: a copy short of its end is not');
    await until('the tail lookup', () => state.tailLookups.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 10));
    t.equal(tracker.ofStandby(1), undefined, 'and stays unproven once its tail is read');
    state.lsn = 20n;
    await tracker.waitFor(0, { minLsn: 20n }, 0);
    state.standby.delete(0);
    state.standby.set(0, 2n);
    tracker['requestRound']();
    await until('a second round', () => state.rounds >= 2 && tracker.ofStandby(0)?.lsn === 20n);
    t.same(
      state.tailLookups.filter((l) => l === 'rep:0@3'),
      ['rep:0@3'],
      'a later round with the same end reuses the lookup',
    );
  },
);

t.test('a round waits for the group to commit past the CDC ends before it reads the next ends', async (t) => {
  const { state, tracker } = harness();
  t.teardown(() => tracker.stop());
  state.committed.set(
    'cdc',
    new Map([
      [0, 5n],
      [1, 6n],
    ]),
  );
  tracker.start();
  await until('commits polled', () => state.reads.filter((r) => r === 'committed cdc').length >= 3);
  t.notOk(state.reads.includes('end rep'), 'the repartition ends are not read before the commits');
  state.committed.set(
    'cdc',
    new Map([
      [0, 5n],
      [1, 7n],
    ]),
  );
  await until('the round ends', () => state.reads.includes('end rep'));
});

t.test('a read waits for its minimum position: a new round, then the task applying it', async (t) => {
  const { state, tracker } = harness();
  t.teardown(() => tracker.stop());
  tracker.start();
  await until('a round', () => state.reads.includes('end rep'));
  state.applied.set(0, 3n);
  t.equal(await tracker.waitFor(0, { minLsn: 10n }, 1000), true, 'met at once');
  // The source moves on: a change at LSN 20 is in the CDC topic, then in the repartition topic.
  state.lsn = 20n;
  state.ends.set(
    'cdc',
    new Map([
      [0, 6n],
      [1, 7n],
    ]),
  );
  state.committed.set(
    'cdc',
    new Map([
      [0, 6n],
      [1, 7n],
    ]),
  );
  state.ends.set(
    'rep',
    new Map([
      [0, 4n],
      [1, 4n],
    ]),
  );
  const waiting = tracker.waitFor(0, { minLsn: 20n }, 5000);
  let met: boolean | undefined;
  void waiting.then((m) => (met = m));
  await until('a second round', () => state.rounds >= 2);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(met, undefined, 'not met while the task has not applied offset 3');
  state.applied.set(0, 4n);
  t.equal(await waiting, true);
  t.equal(tracker.of(0).position?.lsn, 20n);
  t.equal(await tracker.waitFor(0, { minLsn: 21n }, 100), false, 'a position the source has not reached times out');
  t.equal(await tracker.waitFor(0, { minLsn: 21n }, 0), false, 'no wait: answered at once');
});

t.test('a read asking for a staleness bound gets a fresh round', async (t) => {
  const { state, tracker } = harness();
  t.teardown(() => tracker.stop());
  state.applied.set(0, 3n);
  tracker.start();
  await until('a round', () => tracker.of(0).position !== undefined);
  await new Promise((resolve) => setTimeout(resolve, 120));
  t.notOk(satisfies(tracker.of(0).position, { maxStalenessMs: 100 }), 'older than 100 ms now');
  t.equal(await tracker.waitFor(0, { maxStalenessMs: 100 }, 2000), true);
  t.ok(state.rounds >= 2, 'after another round');
});
