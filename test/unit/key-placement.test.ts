// The one routing rule of key reads (GET /users and the generic store routes): here, the owner, or why not.
import t from 'tap';
import { INSTANCE_STARTING, placeKey } from '../../src/query/key-placement.js';
import type { StorePartition } from '../../src/query/queryable-stores.js';

const SELF = '127.0.0.1:3000';
const partition = (fields: Partial<StorePartition>): StorePartition => ({
  partition: 4,
  taskId: '1_4',
  owner: SELF,
  local: true,
  status: 'running',
  caughtUp: true,
  standbyHosts: [],
  ...fields,
});

t.test('each case of a key read', async (t) => {
  t.same(placeKey(undefined, SELF), { kind: 'unavailable', partition: undefined, reason: INSTANCE_STARTING });
  t.same(placeKey(partition({}), SELF), { kind: 'local', partition: 4, caughtUp: true }, 'running here');
  t.same(
    placeKey(partition({ caughtUp: false }), SELF),
    { kind: 'local', partition: 4, caughtUp: false },
    'running here, still catching up: the caller decides what a missing row means',
  );
  t.same(placeKey(partition({ status: 'restoring' }), SELF), {
    kind: 'unavailable',
    partition: 4,
    reason: 'the partition is being restored',
  });
  t.same(placeKey(partition({ local: false, status: undefined, owner: '127.0.0.1:3001' }), SELF), {
    kind: 'remote',
    partition: 4,
    owner: '127.0.0.1:3001',
  });
  for (const owner of [undefined, SELF])
    t.same(
      placeKey(partition({ local: false, status: undefined, owner }), SELF),
      { kind: 'unavailable', partition: 4, reason: 'the partition is being reassigned' },
      `no running copy and owner ${owner ?? 'unknown'}: never forwarded to itself`,
    );
});
