// The task assignor: even spread per sub-topology and overall, stickiness, and co-partitioning.
import t from 'tap';
import { allTasks, distributeTasks, tasksOfAssignment, type MemberInfo } from '../../src/runtime/assignor.js';
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
