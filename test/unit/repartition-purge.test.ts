// The repartition purge deletes what the tasks' commits cover in repartition topics only, each partition
// once per advance, one purge at a time, and tries again after a failure.
import t from 'tap';
import { RepartitionPurge, type PurgeableTask } from '../../src/runtime/repartition-purge.js';
import { createLogger } from '../../src/util/logger.js';

function recordingAdmin() {
  const calls: Array<{ topic: string; before: Record<number, string> }> = [];
  let failNext = false;
  return {
    calls,
    failNextCall: () => void (failNext = true),
    admin: {
      deleteRecords: async (topic: string, before: ReadonlyMap<number, bigint>) => {
        calls.push({ topic, before: Object.fromEntries([...before].map(([p, o]) => [p, String(o)])) });
        if (failNext) {
          failNext = false;
          throw new Error('broker unavailable');
        }
      },
    },
  };
}

const task = (partition: number, positions: Record<string, bigint>): PurgeableTask => ({
  partition,
  appliedPositions: new Map(Object.entries(positions)),
});
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

t.test('deletes up to each task partition’s committed offset, in repartition topics only', async (t) => {
  const { admin, calls } = recordingAdmin();
  const purge = new RepartitionPurge(admin, new Set(['app-by-user-repartition']), createLogger('error'));
  purge.purge([
    task(0, { 'app-by-user-repartition': 10n, users: 50n }),
    task(1, { 'app-by-user-repartition': 7n, users: 3n }),
  ]);
  await settle();
  t.same(calls, [{ topic: 'app-by-user-repartition', before: { 0: '10', 1: '7' } }]);

  // Only partitions whose commits moved on since are deleted again; none moved: no request at all.
  purge.purge([task(0, { 'app-by-user-repartition': 10n }), task(1, { 'app-by-user-repartition': 9n })]);
  await settle();
  purge.purge([task(0, { 'app-by-user-repartition': 10n }), task(1, { 'app-by-user-repartition': 9n })]);
  await settle();
  t.same(calls.slice(1), [{ topic: 'app-by-user-repartition', before: { 1: '9' } }]);

  // A task that has committed nothing of a partition (offset 0) has nothing to delete.
  purge.purge([task(2, { 'app-by-user-repartition': 0n })]);
  await settle();
  t.equal(calls.length, 2);
});

t.test('a failed delete is logged and retried at the next purge', async (t) => {
  const recording = recordingAdmin();
  const lines: string[] = [];
  const purge = new RepartitionPurge(
    recording.admin,
    new Set(['r']),
    createLogger('warn', {}, (line) => lines.push(line)),
  );
  recording.failNextCall();
  purge.purge([task(0, { r: 5n })]);
  await settle();
  t.match(lines.join('\n'), /deleting committed records of a repartition topic failed.*"topic":"r"/);
  purge.purge([task(0, { r: 5n })]);
  await settle();
  t.same(
    recording.calls.map((c) => c.before),
    [{ 0: '5' }, { 0: '5' }],
    'the same offsets are asked for again',
  );
});

t.test('no second purge starts while one is in flight', async (t) => {
  let finish: (() => void) | undefined;
  const calls: string[] = [];
  const admin = {
    deleteRecords: async (topic: string) => {
      calls.push(topic);
      await new Promise<void>((resolve) => (finish = resolve));
    },
  };
  const purge = new RepartitionPurge(admin, new Set(['r']), createLogger('error'));
  purge.purge([task(0, { r: 5n })]);
  purge.purge([task(0, { r: 6n })]);
  await settle();
  t.same(calls, ['r'], 'the second purge was skipped');
  finish!();
  await settle();
  purge.purge([task(0, { r: 6n })]);
  await settle();
  t.same(calls, ['r', 'r'], 'after it ends, the next one runs');
  finish!();
});
