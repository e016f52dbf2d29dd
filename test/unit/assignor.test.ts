// The task assignor: even spread per sub-topology and overall, stickiness, and co-partitioning.
import t from 'tap';
import {
  allTasks,
  decodeAssignmentInfo,
  distributeTasks,
  encodeMemberInfo,
  groupTopology,
  planAssignment,
  taskAssignor,
  tasksOfAssignment,
  type MemberInfo,
} from '../../src/runtime/assignor.js';
import { compileTopology } from '../../src/processor/compile.js';
import { countJoinTopology } from '../support/count-join-topology.js';

const topology = compileTopology(countJoinTopology('app'), 'app');
const tasks = allTasks(topology, () => 4);
const members = (entries: Array<[string, string[]]>) =>
  new Map<string, MemberInfo>(entries.map(([id, owned]) => [id, { endpoint: `${id}:3000`, tasks: owned }]));

t.test('every task once, spread evenly overall and within each sub-topology', async (t) => {
  t.equal(tasks.length, 8, '2 sub-topologies x 4 partitions');
  const plan = distributeTasks(
    tasks,
    members([
      ['m1', []],
      ['m2', []],
      ['m3', []],
    ]),
  );
  const all = [...plan.values()]
    .flat()
    .map((task) => task.id)
    .sort();
  t.same(all, tasks.map((task) => task.id).sort(), 'each task assigned exactly once');
  const sizes = [...plan.values()].map((owned) => owned.length).sort();
  t.same(sizes, [2, 3, 3]);
  for (const owned of plan.values()) {
    for (const sub of [0, 1])
      t.ok(owned.filter((task) => task.subtopology === sub).length <= 2, 'at most ceil(4/3) tasks of a sub-topology');
  }
});

t.test('tasks stay with their previous owner when that keeps the spread even', async (t) => {
  const before = distributeTasks(
    tasks,
    members([
      ['m1', []],
      ['m2', []],
    ]),
  );
  const owned = (id: string) => before.get(id)!.map((task) => task.id);
  const after = distributeTasks(
    tasks,
    members([
      ['m1', owned('m1')],
      ['m2', owned('m2')],
      ['m3', []],
    ]),
  );
  const moved = [...after.entries()].flatMap(([id, list]) =>
    list.filter((task) => !before.get(id)?.some((b) => b.id === task.id)),
  );
  t.ok(moved.length <= 3, `only the new member's share moves (${moved.length} tasks moved)`);
  t.ok(after.get('m3')!.length >= 2, 'the new member gets work');
});

t.test('an assignment names every source topic of a task, at the same partition', async (t) => {
  const sub1 = topology.subtopologies[1]!;
  const assignment = Object.fromEntries(sub1.sources.map((s) => [s.topic, [2]]));
  t.same(tasksOfAssignment(topology, assignment), [{ id: '1_2', subtopology: 1, partition: 2 }]);
  t.same(sub1.sources.map((s) => s.topic).sort(), ['app-items-by-group-repartition', 'app-labels'].sort());
});

// The high-availability plan (Kafka Streams' HighAvailabilityTaskAssignor): actives only on caught-up
// members, warm-ups for the members tasks should move to, standbys elsewhere.
const ha = { numStandbyReplicas: 1, acceptableRecoveryLag: 100n, maxWarmupReplicas: 2 };
const statefulTask = (task: { subtopology: number }) => task.subtopology === 1;
const withState = (entries: Array<[string, string[], Record<string, string>]>) =>
  new Map<string, MemberInfo>(
    entries.map(([id, owned, offsets]) => [id, { endpoint: `${id}:3000`, tasks: owned, standbys: [], offsets }]),
  );
/** Lag of a member's copy against changelog ends of 1,000 per task. */
const lagFrom = (members: Map<string, MemberInfo>) => (id: string, task: { id: string }) => {
  const held = members.get(id)!.offsets?.[task.id];
  return held === undefined ? 1000n : 1000n - BigInt(held);
};
const ids = (refs: Array<{ id: string }>) => refs.map((r) => r.id).sort();

t.test('one standby of every stateful task, never on its active member', async (t) => {
  const members = withState([
    ['m1', [], {}],
    ['m2', [], {}],
    ['m3', [], {}],
  ]);
  const plan = planAssignment(tasks, members, () => 0n, statefulTask, ha);
  const stateful = tasks.filter(statefulTask);
  for (const task of stateful) {
    const active = [...plan].filter(([, p]) => p.active.some((a) => a.id === task.id)).map(([id]) => id);
    const standby = [...plan].filter(([, p]) => p.standby.some((s) => s.id === task.id)).map(([id]) => id);
    t.equal(active.length, 1, `${task.id} has one active`);
    t.equal(standby.length, 1, `${task.id} has one standby`);
    t.not(standby[0], active[0], `${task.id}: standby and active on different members`);
  }
  t.same(
    [...plan.values()].flatMap((p) => p.standby).filter((s) => !statefulTask(s)),
    [],
    'stateless tasks have no standbys',
  );
  const standbyCounts = [...plan.values()].map((p) => p.standby.length).sort();
  t.ok(standbyCounts[2]! - standbyCounts[0]! <= 1, `standbys spread evenly (${standbyCounts})`);
});

t.test('a task goes to a caught-up member while the member it should move to warms up', async (t) => {
  // m1 ran every task with state; m2 is new and has none.
  const m1Tasks = tasks.map((task) => task.id);
  const offsets = Object.fromEntries(tasks.filter(statefulTask).map((task) => [task.id, '1000']));
  const members = withState([
    ['m1', m1Tasks, offsets],
    ['m2', [], {}],
  ]);
  const plan = planAssignment(tasks, members, lagFrom(members), statefulTask, {
    ...ha,
    numStandbyReplicas: 0,
  });
  t.same(
    ids(plan.get('m1')!.active.filter(statefulTask)),
    ids(tasks.filter(statefulTask)),
    'every stateful task stays on m1, the only member that has its state',
  );
  t.equal(plan.get('m2')!.warmup.length, 2, 'm2 warms up as many as allowed (2) of those it should get');
  t.ok(
    plan.get('m2')!.active.every((task) => !statefulTask(task)),
    'm2 gets stateless tasks at once (nothing to restore)',
  );

  // Once m2's copies are caught up, the balanced plan holds.
  const warmed = Object.fromEntries(plan.get('m2')!.warmup.map((task) => [task.id, '990']));
  const next = withState([
    ['m1', ids(plan.get('m1')!.active), offsets],
    ['m2', ids(plan.get('m2')!.active), warmed],
  ]);
  const after = planAssignment(tasks, next, lagFrom(next), statefulTask, { ...ha, numStandbyReplicas: 0 });
  t.same(
    ids(after.get('m2')!.active.filter(statefulTask)),
    ids(plan.get('m2')!.warmup),
    'the warmed-up tasks move to m2',
  );
});

t.test("a dead member's tasks go to their standbys, not to a member with nothing", async (t) => {
  const stateful = tasks.filter(statefulTask);
  // m3 died. m1 kept standbys of m3's tasks; m2 has no copy of them.
  const m3Tasks = stateful.slice(0, 2).map((task) => task.id);
  const members = withState([
    ['m1', [stateful[2]!.id], Object.fromEntries([...m3Tasks, stateful[2]!.id].map((id) => [id, '1000']))],
    ['m2', [stateful[3]!.id], { [stateful[3]!.id]: '1000' }],
  ]);
  const plan = planAssignment(tasks, members, lagFrom(members), statefulTask, ha);
  for (const id of m3Tasks)
    t.ok(
      plan.get('m1')!.active.some((task) => task.id === id),
      `${id} goes to m1`,
    );
});

t.test('when no member is caught up, the one with the least to restore gets the task', async (t) => {
  const task = tasks.find(statefulTask)!;
  const members = withState([
    ['m1', [], { [task.id]: '200' }],
    ['m2', [], { [task.id]: '700' }],
  ]);
  const plan = planAssignment([task], members, lagFrom(members), statefulTask, { ...ha, numStandbyReplicas: 0 });
  t.same(ids(plan.get('m2')!.active), [task.id]);
});

// The topology fingerprint: a member running another topology than the group's gets no task.
const running = (topology: string, owned: string[] = []): MemberInfo => ({ endpoint: 'h:1', tasks: owned, topology });

t.test("the group's topology: the one its task owners run, else the most common, else the leader's", async (t) => {
  const group = (entries: Array<[string, MemberInfo]>) => new Map(entries);
  t.equal(
    groupTopology(
      group([
        ['a', running('old', ['0_0'])],
        ['b', running('new')],
        ['c', running('new')],
      ]),
      'new',
    ),
    'old',
    'the members that own tasks decide, even outnumbered',
  );
  t.equal(
    groupTopology(
      group([
        ['a', running('x')],
        ['b', running('y')],
        ['c', running('y')],
      ]),
      'x',
    ),
    'y',
  );
  t.equal(
    groupTopology(
      group([
        ['a', running('x')],
        ['b', running('y')],
      ]),
      'x',
    ),
    'x',
    "a tie: the leader's",
  );
  t.equal(groupTopology(group([['a', { endpoint: 'h:1', tasks: [] }]]), 'x'), undefined, 'nobody says: none');
});

const assignor = (own: string) =>
  taskAssignor(topology, () => running(own), {
    settings: { numStandbyReplicas: 0, acceptableRecoveryLag: 100n, maxWarmupReplicas: 2 },
    changelogEnds: async () => new Map(),
  });
const join = (entries: Array<[string, MemberInfo]>) =>
  entries.map(([memberId, info]) => ({ memberId, userData: encodeMemberInfo(info) }));

t.test('a member running another topology gets no task, and is told why', async (t) => {
  const result = await assignor('same').assign({
    members: join([
      ['leader', running('same', ['0_0'])],
      ['peer', running('same', ['0_1'])],
      ['odd', running('other')],
    ]),
    partitionCount: () => 4,
  });
  const of = (id: string) => result.find((r) => r.memberId === id)!;
  t.same(of('odd').partitions, {}, 'the odd member gets no partition');
  t.match(decodeAssignmentInfo(of('odd').userData).refused, /topology \(fingerprint other\) differs .* \(same\)/);
  const assigned = ['leader', 'peer'].flatMap((id) => tasksOfAssignment(topology, of(id).partitions).map((r) => r.id));
  t.same(assigned.sort(), tasks.map((r) => r.id).sort(), 'the others share every task');
  t.equal(decodeAssignmentInfo(of('peer').userData).refused, undefined);
});

t.test('a leader running another topology assigns nothing to anyone, and refuses itself', async (t) => {
  const result = await assignor('other').assign({
    members: join([
      ['leader', running('other')],
      ['a', running('same', ['0_0'])],
      ['b', running('same', ['0_1'])],
    ]),
    partitionCount: () => 4,
  });
  t.same(
    result.map((r) => Object.keys(r.partitions).length),
    [0, 0, 0],
    'no member gets a partition from a topology it does not run',
  );
  t.match(decodeAssignmentInfo(result.find((r) => r.memberId === 'leader')!.userData).refused, /differs/);
  t.equal(decodeAssignmentInfo(result.find((r) => r.memberId === 'a')!.userData).refused, undefined);
});
