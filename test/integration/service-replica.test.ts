// A read replica serves every key from the compacted output topic, equal to the oracle.
import t from 'tap';
import pg from 'pg';
import { runWorkload } from '../support/workload.js';
import { compareWithOracle, type Mismatch } from '../support/view-check.js';
import { startTestService, waitReady } from '../support/service.js';
import { stack, uniqueName, eventually } from '../support/stack.js';

t.test('a read replica answers every key locally and matches the oracle', async (t) => {
  const app = uniqueName('replica');
  const processor = await startTestService(app);
  t.teardown(() => processor.stop());
  await waitReady([processor]);
  const db = new pg.Client(stack.postgres);
  await db.connect();
  const result = await runWorkload(db, {
    seed: 21,
    operations: 300,
    idBase: 7_000_000_000_000_000_000n + BigInt(Date.now() % 1_000_000) * 1_000_000_000n,
  }).finally(() => db.end());

  const replica = await startTestService(app, { replica: true });
  t.teardown(() => replica.stop());
  await waitReady([replica]);
  let mismatches: Mismatch[] = [];
  await eventually('the replica to equal the oracle', 120_000, async () => {
    mismatches = await compareWithOracle([replica.url], result.userIds);
    return mismatches.length === 0 ? true : undefined;
  }).catch(() => undefined);
  t.same(mismatches.slice(0, 3), [], `zero mismatches over ${result.userIds.length} users`);
  const answer = await fetch(`${replica.url}/users/${result.userIds[0]}`);
  t.equal(answer.headers.get('x-uis-served-by'), replica.config.advertisedEndpoint, 'served by the replica itself');
});
