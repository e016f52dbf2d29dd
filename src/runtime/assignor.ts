/**
 * The group's partition assignor. Work is assigned by task (sub-topology,
 * partition): a task's partition of every source topic goes to the same
 * member, so co-partitioned topics stay together. Tasks are spread evenly and
 * stay with their previous owner when that keeps the spread even. Each member
 * advertises its HTTP endpoint in its metadata, for request routing.
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';
import type { CompiledTopology } from '../processor/compile.js';
import { taskIdOf } from './task-core.js';

export const ASSIGNOR_NAME = 'uis-task-assignor';

export interface MemberInfo {
  endpoint: string;
  /** Tasks the member owned before this rebalance. */
  tasks: string[];
}

export function encodeMemberInfo(info: MemberInfo): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, ...info }));
}

export function decodeMemberInfo(userData: Buffer | undefined): MemberInfo {
  try {
    const parsed = JSON.parse(userData?.toString() ?? '{}') as Partial<MemberInfo>;
    return {
      endpoint: String(parsed.endpoint ?? ''),
      tasks: Array.isArray(parsed.tasks) ? parsed.tasks.map(String) : [],
    };
  } catch {
    return { endpoint: '', tasks: [] };
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

export function taskAssignor(topology: CompiledTopology, self: () => MemberInfo): PartitionAssigner {
  return ({ cluster }) => ({
    name: ASSIGNOR_NAME,
    version: 1,
    protocol: ({ topics }) => ({
      name: ASSIGNOR_NAME,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: encodeMemberInfo(self()) }),
    }),
    async assign({ members }) {
      const infos = new Map(
        members.map((m) => [
          m.memberId,
          decodeMemberInfo(AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData),
        ]),
      );
      const tasks = allTasks(topology, (topic) => cluster.findTopicPartitionMetadata(topic).length);
      const plan = distributeTasks(tasks, infos);
      return [...plan].map(([memberId, owned]) => {
        const assignment: Record<string, number[]> = {};
        for (const task of owned) {
          for (const source of topology.subtopologies[task.subtopology]!.sources) {
            (assignment[source.topic] ??= []).push(task.partition);
          }
        }
        return {
          memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 1,
            assignment,
            userData: Buffer.alloc(0),
          }),
        };
      });
    },
  });
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
