// The task lifecycle (TaskManager) against fake tasks and a fake consumer: each test forces one
// of the membership interleavings that left the view wrong (issue 10), and checks what the
// task manager does about it. The Kafka side of fencing is tested against the real broker
// (test/integration/streams-fencing.test.ts).
import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import type { TaskRef } from '../../src/runtime/assignor.js';
import { createStreamsMetrics } from '../../src/runtime/metrics.js';
import type { TaskStatus } from '../../src/runtime/stream-task.js';
import type { InputRecord } from '../../src/runtime/task-core.js';
import { TaskManager, type InputBatch, type ManagedTask } from '../../src/runtime/task-manager.js';
import { createLogger } from '../../src/util/logger.js';

const ref = (partition: number): TaskRef => ({ id: `0_${partition}`, subtopology: 0, partition });
const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds, failing after `ms`. */
async function until(what: string, check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick(5);
  }
}

class FakeTask implements ManagedTask {
  static opened: FakeTask[] = [];
  status: TaskStatus = 'restoring';
  readonly inputTopics = ['in'];
  processed: string[] = [];
  closes: Array<{ commit: boolean; statusBefore: TaskStatus }> = [];
  commits = 0;
  commitDue = false;
  commitBacklogged = false;
  /** What the next commit does. */
  commitResult: () => Promise<void> = async () => undefined;
  /** Resolves the close (a test may hold it). */
  closeGate: Promise<void> = Promise.resolve();
  closed = false;
  readonly instance: number;

  constructor(readonly ref: TaskRef) {
    FakeTask.opened.push(this);
    this.instance = FakeTask.opened.length;
  }
  get id() {
    return this.ref.id;
  }
  get partition() {
    return this.ref.partition;
  }
  get caughtUp() {
    return this.status === 'running';
  }
  fenced = false;
  async initialize() {
    this.fenced = true;
  }
  async start() {
    if (this.status !== 'restoring') throw new Error(`cannot start: ${this.status}`);
    if (!this.fenced) throw new Error('started before the previous owner was fenced');
    this.status = 'running';
    return new Map([['in', 7n]]);
  }
  process(record: InputRecord) {
    if (this.status !== 'running') throw new Error(`processed while ${this.status}`);
    this.processed.push(record.offset);
  }
  punctuated = 0;
  punctuate() {
    this.punctuated++;
  }
  noLag = 0;
  markNoLag() {
    this.noLag++;
  }
  /** Positions reported read to, per topic. */
  readTo = new Map<string, bigint>();
  markRead(topic: string, next: bigint) {
    this.readTo.set(topic, next);
  }
  async commit() {
    this.commits++;
    try {
      await this.commitResult();
    } catch (error) {
      this.status = 'failed';
      throw error;
    }
  }
  async commitSettled() {}
  suspend() {
    if (this.status === 'running' || this.status === 'restoring') this.status = 'suspended';
  }
  async close(options: { commit: boolean }) {
    this.closes.push({ ...options, statusBefore: this.status });
    this.suspend();
    if (options.commit) await this.commit().catch(() => undefined);
    await this.closeGate;
    this.status = 'closed';
    this.closed = true;
  }
}

interface Harness {
  manager: TaskManager<FakeTask>;
  input: { paused: Set<string>; seeks: string[] };
  rejoins: number;
  openFailures: Map<string, number>;
  restoreGate: { hold: boolean };
}

function harness(t: Test, options: { commitCheckMs?: number } = {}): Harness {
  FakeTask.opened = [];
  const h: Harness = {
    manager: undefined as unknown as TaskManager<FakeTask>, // set just below
    input: { paused: new Set(), seeks: [] },
    rejoins: 0,
    openFailures: new Map(),
    restoreGate: { hold: false },
  };
  h.manager = new TaskManager<FakeTask>({
    openTask: async (r) => {
      const failures = h.openFailures.get(r.id) ?? 0;
      if (failures > 0) {
        h.openFailures.set(r.id, failures - 1);
        throw new Error('broker not available');
      }
      return new FakeTask(r);
    },
    restore: async (tasks, abandoned) => {
      if (tasks.some((task) => !task.fenced)) throw new Error('restored before the previous owner was fenced');
      while (h.restoreGate.hold) {
        if (abandoned()) throw new Error('abandoned');
        await tick(5);
      }
    },
    input: {
      pause: (topic, partition) => h.input.paused.add(`${topic}:${partition}`),
      resume: (topic, partition) => h.input.paused.delete(`${topic}:${partition}`),
      seek: (topic, partition, offset) => h.input.seeks.push(`${topic}:${partition}@${offset}`),
    },
    requestRejoin: () => h.rejoins++,
    inputTopicsOf: () => ['in'],
    logger: createLogger('error'),
    metrics: createStreamsMetrics(new Registry()),
    commitCheckMs: options.commitCheckMs ?? 60_000,
    turnMs: 2,
    retryBackoffMs: 10,
    maxRetryBackoffMs: 40,
  });
  t.teardown(() => h.manager.shutdown());
  return h;
}

function batch(partition: number, offsets: string[], valid = () => true): InputBatch {
  return {
    topic: 'in',
    partition,
    records: offsets.map((offset) => ({ topic: 'in', partition, offset, timestamp: 0, key: null, value: null })),
    lastOffset: offsets[offsets.length - 1] ?? '0',
    stillValid: valid,
    resolve: () => undefined,
    heartbeat: async () => undefined,
  };
}

const running = (h: Harness, id: string) => () => h.manager.task(id)?.status === 'running';

t.test('an assigned task is opened, restored and started from its committed offsets', async (t) => {
  const h = harness(t);
  h.manager.handleAssignment([ref(0)], { lost: false });
  t.ok(h.input.paused.has('in:0'), 'its input is paused until it runs');
  await until('running', running(h, '0_0'));
  t.same(h.input.seeks, ['in:0@7'], 'the consumer is moved to the committed offset');
  t.notOk(h.input.paused.has('in:0'), 'and resumed');
  t.ok(h.manager.allRunning);
});

t.test('a revoked task stops processing at once and closes after a final commit', async (t) => {
  const h = harness(t);
  h.manager.handleAssignment([ref(0)], { lost: false });
  await until('running', running(h, '0_0'));
  const task = h.manager.task('0_0')!;
  task.commitResult = async () => void (await tick(20));

  h.manager.handleAssignment([], { lost: false });
  // Synchronously, in the join event: nothing more is processed or served.
  t.equal(task.status, 'suspended', 'suspended in the join event itself, before any other work');
  t.equal(h.manager.task('0_0'), undefined, 'no longer a task of this instance (not served)');
  await h.manager.process(batch(0, ['8', '9']));
  t.same(task.processed, [], 'a batch fetched before the revocation is not processed');
  t.ok(h.input.paused.has('in:0'), 'its input is paused');
  await until('closed', () => task.closed);
  t.same(task.closes, [{ commit: true, statusBefore: 'suspended' }], 'closed clean: a final commit');
});

t.test('a task that moves away and back is closed and opened anew, never kept', async (t) => {
  const h = harness(t);
  h.manager.handleAssignment([ref(0)], { lost: false });
  await until('running', running(h, '0_0'));
  const first = h.manager.task('0_0')!;
  let releaseClose!: () => void;
  first.closeGate = new Promise((resolve) => (releaseClose = resolve));

  h.manager.handleAssignment([], { lost: false }); // another instance owns it for a generation...
  h.manager.handleAssignment([ref(0)], { lost: false }); // ...and it comes back
  await tick(30);
  t.equal(FakeTask.opened.length, 1, 'not reopened while the old instance is still closing (its store is locked)');
  releaseClose();
  await until('reopened', () => FakeTask.opened.length === 2 && running(h, '0_0')());
  t.ok(first.closed, 'the first instance was closed');
  t.equal(h.manager.task('0_0')!.instance, 2, 'the running task is a new one, restored from the changelog');
});

t.test('a member that lost its tasks (dropped from the group) closes every task, then reopens its own', async (t) => {
  const h = harness(t);
  h.manager.handleAssignment([ref(0), ref(1)], { lost: false });
  await until('running', () => running(h, '0_0')() && running(h, '0_1')());
  const before = [h.manager.task('0_0')!, h.manager.task('0_1')!];

  // E.g. paused past the session timeout: others may have owned these tasks meanwhile.
  h.manager.handleAssignment([ref(0), ref(1)], { lost: true });
  t.same(
    before.map((task) => task.status),
    ['suspended', 'suspended'],
    'both stop at once though both are still assigned',
  );
  await until('reopened', () => FakeTask.opened.length === 4 && running(h, '0_0')() && running(h, '0_1')());
  t.ok(
    before.every((task) => task.closed),
    'the old instances are closed',
  );
});

t.test('a fenced task is not reopened before a new assignment, and the group is asked to rebalance', async (t) => {
  const h = harness(t, { commitCheckMs: 5 });
  h.manager.handleAssignment([ref(0)], { lost: false });
  await until('running', running(h, '0_0'));
  const task = h.manager.task('0_0')!;
  const fenced = Object.assign(new Error('The producer attempted to use a producer id which is not assigned'), {
    type: 'INVALID_PRODUCER_EPOCH',
  });
  task.commitResult = async () => {
    throw fenced;
  };
  task.commitDue = true;
  await until('closed', () => task.closed);
  t.same(task.closes[0], { commit: false, statusBefore: 'failed' }, 'closed dirty: its work is not committed');
  t.equal(h.rejoins, 1, 'a rebalance is asked for');
  await tick(100); // well past the retry backoff
  t.equal(FakeTask.opened.length, 1, 'not reopened: that would fence the instance that owns it now');
  t.notOk(h.manager.allRunning, 'not ready meanwhile');

  h.manager.handleAssignment([ref(0)], { lost: false });
  await until('reopened', () => FakeTask.opened.length === 2 && running(h, '0_0')());
});

t.test('a task whose commit failed for another reason is reopened from its committed state', async (t) => {
  const h = harness(t, { commitCheckMs: 5 });
  h.manager.handleAssignment([ref(0)], { lost: false });
  await until('running', running(h, '0_0'));
  const task = h.manager.task('0_0')!;
  task.commitResult = async () => {
    throw Object.assign(new Error('Request timed out'), { type: 'REQUEST_TIMED_OUT' });
  };
  task.commitDue = true;
  await until('reopened', () => FakeTask.opened.length === 2 && running(h, '0_0')());
  t.same(task.closes[0], { commit: false, statusBefore: 'failed' });
  t.equal(h.rejoins, 0, 'no rebalance needed');
});

t.test('a failed open is retried; the tasks that did open run meanwhile', async (t) => {
  const h = harness(t);
  h.openFailures.set('0_1', 3);
  h.manager.handleAssignment([ref(0), ref(1)], { lost: false });
  await until('0_0 running', running(h, '0_0'));
  await until('0_1 running after retries', running(h, '0_1'));
  t.equal(h.openFailures.get('0_1'), 0, 'three failed attempts, then it opened');
  t.ok(h.manager.allRunning);
});

t.test('a restore in progress is given up when the assignment changes, and resumed for the new one', async (t) => {
  const h = harness(t);
  h.restoreGate.hold = true;
  h.manager.handleAssignment([ref(0), ref(1)], { lost: false });
  await until('opened', () => FakeTask.opened.length === 2);
  const restoring = FakeTask.opened.slice();
  h.manager.handleAssignment([ref(1)], { lost: false });
  await until('given up', () => restoring.every((task) => task.closed));
  t.same(
    restoring.map((task) => task.closes[0]?.commit),
    [false, false],
    'the restoring tasks close without committing anything',
  );
  h.restoreGate.hold = false;
  await until('0_1 running', running(h, '0_1'));
  t.equal(h.manager.task('0_0'), undefined, 'the revoked one is not reopened');
});

t.test('while a whole commit is waiting behind the one in flight, processing heartbeats', async (t) => {
  const h = harness(t);
  h.manager.handleAssignment([ref(0)], { lost: false });
  await until('running', running(h, '0_0'));
  const task = h.manager.task('0_0')!;
  task.commitBacklogged = true; // and the commit in flight never settles (a broker that does not answer)
  task.commitSettled = () => new Promise(() => undefined);
  let heartbeats = 0;
  let valid = true;
  const processing = h.manager.process({
    ...batch(0, ['7']),
    stillValid: () => valid,
    heartbeat: async () => void heartbeats++,
  });
  await until('a heartbeat', () => heartbeats >= 1, 3000);
  valid = false;
  await processing;
  t.ok(heartbeats >= 1, 'the member stays in the group while it waits');
});

t.test('shutdown: nothing is processed once it starts, and every task commits before it ends', async (t) => {
  const h = harness(t);
  h.manager.handleAssignment([ref(0), ref(1)], { lost: false });
  await until('running', () => h.manager.allRunning);
  const tasks = [h.manager.task('0_0')!, h.manager.task('0_1')!];
  const stopping = h.manager.shutdown();
  t.same(
    tasks.map((task) => task.status),
    ['suspended', 'suspended'],
  );
  await h.manager.process(batch(0, ['7']));
  t.same(tasks[0]!.processed, []);
  await stopping;
  t.same(
    tasks.map((task) => [task.closed, task.closes[0]?.commit]),
    [
      [true, true],
      [true, true],
    ],
  );
});

t.test('a batch at the end of its partition counts as caught up only if its task processed all of it', async (t) => {
  const h = harness(t);
  h.manager.handleAssignment([ref(0)], { lost: false });
  await until('running', running(h, '0_0'));
  const task = h.manager.task('0_0')!;
  let checks = 0;
  // The consumer was told to seek elsewhere midway: the rest of the batch is not processed.
  await h.manager.process({ ...batch(0, ['7', '8']), stillValid: () => ++checks === 1 });
  t.same(task.processed, ['7'], 'only the first record');
  h.manager.markNoLag('in', 0, { lastOffset: '8', records: 2 });
  t.equal(task.noLag, 0, 'not caught up: record 8 was never processed');
  await h.manager.process(batch(0, ['8']));
  h.manager.markNoLag('in', 0, { lastOffset: '8', records: 1 });
  t.equal(task.noLag, 1, 'caught up once processed');
  h.manager.markNoLag('in', 0, { lastOffset: '9', records: 0 });
  t.equal(task.noLag, 2, 'a batch of transaction markers only: nothing to process');
});

t.test("a batch processed to its end moves its task's position past the markers after its last record", async (t) => {
  const h = harness(t);
  h.manager.handleAssignment([ref(0)], { lost: false });
  await until('running', running(h, '0_0'));
  const task = h.manager.task('0_0')!;
  // Records 7 and 8, then transaction markers up to offset 10: the fetch's next offset is 11.
  await h.manager.process({ ...batch(0, ['7', '8']), lastOffset: '10' });
  t.equal(task.readTo.get('in'), 11n, 'read to the offset after the last marker');
  let checks = 0;
  await h.manager.process({ ...batch(0, ['11', '12']), lastOffset: '14', stillValid: () => ++checks === 1 });
  t.equal(task.readTo.get('in'), 11n, 'a batch cut short moves nothing');
});
