/**
 * Where a read of one key goes, decided from its partition's metadata: this instance's running copy,
 * the owner the group's assignment names, or nowhere for now (with why). The one rule both the
 * generic store routes (store-routes.ts) and the service's GET /users (src/serving) route by.
 */
import type { StorePartition } from './queryable-stores.js';

export type KeyPlacement =
  /** Read here. Before the task has caught up with its input, a missing row may only not have arrived yet. */
  | { kind: 'local'; partition: number; caughtUp: boolean }
  | { kind: 'remote'; partition: number; owner: string }
  | { kind: 'unavailable'; partition: number | undefined; reason: string };

export const INSTANCE_STARTING = 'the instance is starting: where keys live is not known yet';

/**
 * `meta` undefined: the instance does not know the assignment yet. `self`: this instance's endpoint
 * (a key whose owner is this instance but whose task does not run here is being moved).
 */
export function placeKey(meta: StorePartition | undefined, self: string): KeyPlacement {
  if (!meta) return { kind: 'unavailable', partition: undefined, reason: INSTANCE_STARTING };
  const { partition } = meta;
  if (meta.local) {
    if (meta.status === 'running') return { kind: 'local', partition, caughtUp: meta.caughtUp };
    return { kind: 'unavailable', partition, reason: 'the partition is being restored' };
  }
  if (meta.owner && meta.owner !== self) return { kind: 'remote', partition, owner: meta.owner };
  return { kind: 'unavailable', partition, reason: 'the partition is being reassigned' };
}
