/**
 * The whole group's assignment, read from the group description after a
 * rebalance: a consumer hands its member only its own partitions, not the other
 * members' assignments nor its own assignment's user data (its standby and
 * warm-up tasks). Request routing and standbys need both.
 */
import type { ClusterAdmin } from '../kafka/client.js';
import { decodeAssignment, decodeSubscription } from '../kafka/consumer-protocol.js';
import type { CompiledTopology } from '../processor/compile.js';
import { decodeAssignmentInfo, decodeMemberInfo, tasksOfAssignment, type TaskRef } from './assignor.js';
import { taskIdOf } from './task-core.js';

export interface GroupPlan {
  /** host:port of the member running each active task. */
  owners: Map<string, string>;
  /** host:port of the members keeping a standby (or warm-up) of each task. */
  standbyHosts: Map<string, string[]>;
  /** This member's standby and warm-up tasks. */
  standby: TaskRef[];
  warmup: TaskRef[];
  /** Why the group's assignor gave this member nothing (it runs another topology), if it did. */
  refused?: string;
}

export const emptyPlan = (): GroupPlan => ({ owners: new Map(), standbyHosts: new Map(), standby: [], warmup: [] });

/**
 * Reads the plan once the group is stable; undefined while it is rebalancing, or when this
 * member's part of it differs from `myActive` (the group has moved on: a newer join follows).
 */
export async function readGroupPlan(
  admin: ClusterAdmin,
  groupId: string,
  topology: CompiledTopology,
  memberId: string,
  myActive: readonly TaskRef[],
): Promise<GroupPlan | undefined> {
  const group = await admin.describeGroup(groupId);
  if (group?.state !== 'Stable' || group.members.length === 0) return undefined;
  const plan = emptyPlan();
  const refOf = (id: string): TaskRef | undefined => {
    const [sub, partition] = id.split('_').map(Number);
    if (topology.subtopologies[sub!] === undefined || !Number.isInteger(partition)) return undefined;
    return { id: taskIdOf(sub!, partition!), subtopology: sub!, partition: partition! };
  };
  let mine = false;
  for (const member of group.members) {
    const { endpoint } = decodeMemberInfo(decodeSubscription(member.subscription)?.userData ?? undefined);
    const decoded = decodeAssignment(member.assignment);
    const active = tasksOfAssignment(topology, decoded?.partitions ?? {});
    for (const ref of active) plan.owners.set(ref.id, endpoint);
    const info = decodeAssignmentInfo(decoded?.userData);
    for (const id of [...info.standby, ...info.warmup])
      plan.standbyHosts.set(id, [...(plan.standbyHosts.get(id) ?? []), endpoint]);
    if (member.memberId === memberId) {
      const ids = (refs: readonly TaskRef[]) =>
        refs
          .map((r) => r.id)
          .sort()
          .join();
      if (ids(active) !== ids(myActive)) return undefined;
      mine = true;
      plan.standby = info.standby.map(refOf).filter((r): r is TaskRef => r !== undefined);
      plan.warmup = info.warmup.map(refOf).filter((r): r is TaskRef => r !== undefined);
      if (info.refused !== undefined) plan.refused = info.refused;
    }
  }
  return mine ? plan : undefined;
}
