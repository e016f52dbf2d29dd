/**
 * The group's partition assignor. Work is assigned by task (sub-topology,
 * partition): a task's partition of every source topic goes to the same
 * member, so co-partitioned topics stay together. Tasks are spread evenly and
 * stay with their previous owner when that keeps the spread even. Each member
 * advertises its HTTP endpoint in its metadata, for request routing, and how
 * far its local copy of each task's state is (the sum of its changelog
 * offsets), so that, as in Kafka Streams' high-availability assignor, an
 * active task only goes to a member that is caught up on it, while the
 * member it should end up on warms up a copy (a warm-up replica) first;
 * standby replicas of each task are kept on other members.
 */
import type { GroupAssignor } from '../kafka/client.js';
import type { CompiledTopology } from '../processor/compile.js';
import { taskIdOf } from './task-core.js';

export const ASSIGNOR_NAME = 'uis-task-assignor';

export interface MemberInfo {
  endpoint: string;
  /** Active tasks the member owned before this rebalance. */
  tasks: string[];
  /** Standby (and warm-up) tasks the member kept current before this rebalance. */
  standbys?: string[];
  /** Per task with state on the member's disk: the sum of its changelog offsets there (decimal). */
  offsets?: Record<string, string>;
  /** The fingerprint of the topology the member runs (topologyFingerprint); absent from older members. */
  topology?: string;
}

export function encodeMemberInfo(info: MemberInfo): Buffer {
  return Buffer.from(JSON.stringify({ v: 2, ...info }));
}

export function decodeMemberInfo(userData: Buffer | undefined): MemberInfo {
  try {
    const parsed = JSON.parse(userData?.toString() ?? '{}') as Partial<MemberInfo>;
    const offsets: Record<string, string> = {};
    if (parsed.offsets && typeof parsed.offsets === 'object') {
      for (const [task, sum] of Object.entries(parsed.offsets))
        if (/^\d+$/.test(String(sum))) offsets[task] = String(sum);
    }
    return {
      endpoint: String(parsed.endpoint ?? ''),
      tasks: Array.isArray(parsed.tasks) ? parsed.tasks.map(String) : [],
      standbys: Array.isArray(parsed.standbys) ? parsed.standbys.map(String) : [],
      offsets,
      ...(typeof parsed.topology === 'string' ? { topology: parsed.topology } : {}),
    };
  } catch {
    return { endpoint: '', tasks: [], standbys: [], offsets: {} };
  }
}

/** What a member is told besides its partitions: the standby and warm-up tasks it keeps current. */
export interface MemberAssignmentInfo {
  standby: string[];
  warmup: string[];
  /** Why the member got no task at all: it runs a topology other than the group's. */
  refused?: string;
}

export function encodeAssignmentInfo(info: MemberAssignmentInfo): Buffer {
  return Buffer.from(JSON.stringify({ v: 2, ...info }));
}

export function decodeAssignmentInfo(userData: Buffer | undefined | null): MemberAssignmentInfo {
  try {
    const parsed = JSON.parse(userData?.length ? userData.toString() : '{}') as Partial<MemberAssignmentInfo>;
    return {
      standby: Array.isArray(parsed.standby) ? parsed.standby.map(String) : [],
      warmup: Array.isArray(parsed.warmup) ? parsed.warmup.map(String) : [],
      ...(typeof parsed.refused === 'string' ? { refused: parsed.refused } : {}),
    };
  } catch {
    return { standby: [], warmup: [] };
  }
}

export interface TaskRef {
  id: string;
  subtopology: number;
  partition: number;
}

/** Every task of the topology, given each sub-topology's partition count. */
export function allTasks(topology: CompiledTopology, partitionsOf: (topic: string) => number): TaskRef[] {
  return topology.subtopologies.flatMap((sub) => {
    const count = partitionsOf(sub.sources[0]!.topic);
    return Array.from({ length: count }, (_, partition) => ({
      id: taskIdOf(sub.id, partition),
      subtopology: sub.id,
      partition,
    }));
  });
}

/**
 * Spreads tasks over members evenly, and each sub-topology's tasks evenly too
 * (so every member serves part of every store). A task stays with its
 * previous owner while that owner is within both limits.
 */
export function distributeTasks(
  tasks: readonly TaskRef[],
  members: ReadonlyMap<string, MemberInfo>,
): Map<string, TaskRef[]> {
  const ids = [...members.keys()].sort();
  const result = new Map<string, TaskRef[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return result;
  const capacity = Math.ceil(tasks.length / ids.length);
  const bySubtopology = new Map<number, TaskRef[]>();
  for (const task of tasks) bySubtopology.set(task.subtopology, [...(bySubtopology.get(task.subtopology) ?? []), task]);
  const countIn = (id: string, sub: number) => result.get(id)!.filter((t) => t.subtopology === sub).length;

  for (const [sub, subTasks] of bySubtopology) {
    const subCapacity = Math.ceil(subTasks.length / ids.length);
    const unassigned: TaskRef[] = [];
    for (const task of subTasks) {
      const previous = ids.find((id) => members.get(id)!.tasks.includes(task.id));
      if (previous && countIn(previous, sub) < subCapacity && result.get(previous)!.length < capacity) {
        result.get(previous)!.push(task);
      } else unassigned.push(task);
    }
    for (const task of unassigned) {
      const load = (id: string) => countIn(id, sub) * tasks.length + result.get(id)!.length;
      const target = ids.reduce((best, id) => (load(id) < load(best) ? id : best), ids[0]!);
      result.get(target)!.push(task);
    }
  }
  return result;
}

export interface HighAvailabilitySettings {
  /** Standby replicas of each stateful task, on members other than its active one (Kafka Streams' num.standby.replicas). */
  numStandbyReplicas: number;
  /** A member whose copy of a task is at most this many changelog records behind is caught up on it. */
  acceptableRecoveryLag: bigint;
  /** Warm-up replicas the group may have at once (Kafka Streams' max.warmup.replicas). */
  maxWarmupReplicas: number;
}

export interface MemberPlan {
  active: TaskRef[];
  standby: TaskRef[];
  /** Standbys that prepare a task for this member before it takes the task over. */
  warmup: TaskRef[];
}

/**
 * Kafka Streams' high-availability assignment, in three steps:
 * 1. the balanced, sticky spread of active tasks (distributeTasks);
 * 2. a stateful task whose intended member is not caught up on it goes instead to a member that
 *    is (its previous owner first), and its intended member gets a warm-up replica of it, so a
 *    later rebalance (a probing one) can move it without a long restore; with no member caught
 *    up, the task goes to the one with the least to restore;
 * 3. standby replicas on other members, preferring those that already hold the state.
 * `lag(member, task)` is the number of changelog records the member would have to restore
 * (0 for stateless tasks).
 */
export function planAssignment(
  tasks: readonly TaskRef[],
  members: ReadonlyMap<string, MemberInfo>,
  lag: (memberId: string, task: TaskRef) => bigint,
  stateful: (task: TaskRef) => boolean,
  settings: HighAvailabilitySettings,
): Map<string, MemberPlan> {
  const ids = [...members.keys()].sort();
  const plan = new Map<string, MemberPlan>(ids.map((id) => [id, { active: [], standby: [], warmup: [] }]));
  if (ids.length === 0) return plan;
  const desired = distributeTasks(tasks, members);
  const caughtUp = (id: string, task: TaskRef) => lag(id, task) <= settings.acceptableRecoveryLag;
  let warmups = 0;

  for (const [intended, owned] of desired) {
    for (const task of owned) {
      let owner = intended;
      if (stateful(task) && !caughtUp(intended, task)) {
        const ready = ids.filter((id) => caughtUp(id, task));
        const previous = ready.find((id) => members.get(id)!.tasks.includes(task.id));
        const byLoad = (a: string, b: string) =>
          plan.get(a)!.active.length - plan.get(b)!.active.length || compareLag(lag(a, task), lag(b, task));
        if (ready.length > 0) owner = previous ?? [...ready].sort(byLoad)[0]!;
        else owner = [...ids].sort((a, b) => compareLag(lag(a, task), lag(b, task)) || (a === intended ? -1 : 0))[0]!;
        if (owner !== intended && warmups < settings.maxWarmupReplicas) {
          plan.get(intended)!.warmup.push(task);
          warmups++;
        }
      }
      plan.get(owner)!.active.push(task);
    }
  }

  const activeOwner = new Map<string, string>();
  for (const [id, member] of plan) for (const task of member.active) activeOwner.set(task.id, id);
  for (const task of tasks) {
    if (!stateful(task)) continue;
    const holds = (id: string) => {
      const member = plan.get(id)!;
      return activeOwner.get(task.id) === id || [...member.standby, ...member.warmup].some((t) => t.id === task.id);
    };
    for (let replica = 0; replica < settings.numStandbyReplicas; replica++) {
      const candidates = ids.filter((id) => !holds(id));
      if (candidates.length === 0) break;
      const hadIt = (id: string) => (members.get(id)!.standbys ?? []).includes(task.id);
      candidates.sort(
        (a, b) =>
          Number(hadIt(b)) - Number(hadIt(a)) ||
          compareLag(lag(a, task), lag(b, task)) ||
          plan.get(a)!.standby.length - plan.get(b)!.standby.length,
      );
      plan.get(candidates[0]!)!.standby.push(task);
    }
  }
  return plan;
}

/**
 * The topology fingerprint the group runs: the one most members that owned tasks before this rebalance
 * run (the group already working), else the one most members run; on a tie the leader's own. Members
 * that do not say (older versions) count for none.
 */
export function groupTopology(
  members: ReadonlyMap<string, MemberInfo>,
  leaders: string | undefined,
): string | undefined {
  const mostCommon = (infos: MemberInfo[]): string | undefined => {
    const counts = new Map<string, number>();
    for (const info of infos) if (info.topology) counts.set(info.topology, (counts.get(info.topology) ?? 0) + 1);
    const top = Math.max(0, ...counts.values());
    const tied = [...counts].filter(([, n]) => n === top).map(([fingerprint]) => fingerprint);
    return tied.length === 1 ? tied[0] : leaders !== undefined && tied.includes(leaders) ? leaders : tied.sort()[0];
  };
  const infos = [...members.values()];
  return mostCommon(infos.filter((info) => info.tasks.length > 0)) ?? mostCommon(infos);
}

function compareLag(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Changelog end offsets summed per task (its stores' changelog partitions), for the lag of each member's copy. */
export type ChangelogEnds = () => Promise<Map<string, bigint>>;

export function taskAssignor(
  topology: CompiledTopology,
  self: () => MemberInfo,
  options: { settings: HighAvailabilitySettings; changelogEnds: ChangelogEnds },
): GroupAssignor {
  return {
    name: ASSIGNOR_NAME,
    userData: () => encodeMemberInfo(self()),
    async assign({ members, partitionCount }) {
      const all = new Map(members.map((m) => [m.memberId, decodeMemberInfo(m.userData ?? undefined)]));
      // A member running another topology gets no task: its processors would read and write this
      // topology's stores and topics as if they were its own.
      const own = self().topology;
      const reference = groupTopology(all, own);
      const refused = new Map<string, string>();
      for (const [memberId, info] of all) {
        if (reference !== undefined && info.topology !== undefined && info.topology !== reference)
          refused.set(
            memberId,
            `this instance's topology (fingerprint ${info.topology}) differs from the one the group runs (${reference}): ` +
              'run the same build of the application on every instance, or reset the application (uis reset) to start it anew with the new topology',
          );
      }
      const refusal = (memberId: string) => ({
        memberId,
        partitions: {},
        userData: encodeAssignmentInfo({ standby: [], warmup: [], refused: refused.get(memberId)! }),
      });
      // A leader that is refused itself cannot work out the others' tasks from its topology: this time
      // nobody gets any; it stops on reading its refusal, and the next leader assigns.
      if (reference !== undefined && own !== undefined && own !== reference) {
        return members.map(({ memberId }) =>
          refused.has(memberId)
            ? refusal(memberId)
            : { memberId, partitions: {}, userData: encodeAssignmentInfo({ standby: [], warmup: [] }) },
        );
      }
      const infos = new Map([...all].filter(([memberId]) => !refused.has(memberId)));
      const tasks = allTasks(topology, partitionCount);
      const ends = await options.changelogEnds();
      const stateful = (task: TaskRef) => topology.subtopologies[task.subtopology]!.stores.length > 0;
      const lag = (memberId: string, task: TaskRef): bigint => {
        const end = ends.get(task.id) ?? 0n;
        const held = infos.get(memberId)!.offsets?.[task.id];
        if (held === undefined) return end;
        const offset = BigInt(held);
        return offset > end ? end : end - offset; // beyond the end: the changelog was recreated
      };
      const plan = planAssignment(tasks, infos, lag, stateful, options.settings);
      const assignments = [...plan].map(([memberId, owned]) => {
        const partitions: Record<string, number[]> = {};
        for (const task of owned.active) {
          for (const source of topology.subtopologies[task.subtopology]!.sources) {
            (partitions[source.topic] ??= []).push(task.partition);
          }
        }
        return {
          memberId,
          partitions,
          userData: encodeAssignmentInfo({
            standby: owned.standby.map((t) => t.id),
            warmup: owned.warmup.map((t) => t.id),
          }),
        };
      });
      return [...assignments, ...[...refused.keys()].map(refusal)];
    },
  };
}

/** The tasks an assignment (topic -> partitions) stands for. */
export function tasksOfAssignment(topology: CompiledTopology, assignment: Record<string, number[]>): TaskRef[] {
  return topology.subtopologies.flatMap((sub) =>
    (assignment[sub.sources[0]!.topic] ?? []).map((partition) => ({
      id: taskIdOf(sub.id, partition),
      subtopology: sub.id,
      partition,
    })),
  );
}
