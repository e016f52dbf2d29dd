// Read-your-writes answered by a standby copy, against the running stack: two instances with
// --num-standby-replicas 1. Writes to a user owned by A are read through B (forwarded to A) with
// X-Min-Position; then A is frozen (SIGSTOP: it neither answers nor commits, and the group does not
// notice within the long session timeout). B's copy of A's task then answers a read asking for the
// last write's position, with that write and the position it proves; a write made after the freeze,
// which no copy can have, gets a 503 saying what the copy proves: never an older answer.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { formatLsn, parseLsn } from '../../src/serving/freshness.js';
import { startInstance, waitReady, type SpawnedInstance } from '../support/service.js';
import { eventually, stack, uniqueName } from '../support/stack.js';

t.setTimeout(300_000);

const WRITES = 20;

t.test('a standby copy answers read-your-writes where it proves the position, and only there', async (t) => {
  const app = uniqueName('ryw-standby');
  const root = mkdtempSync(join(tmpdir(), 'uis-ryw-standby-'));
  const instances: SpawnedInstance[] = [];
  t.teardown(() => {
    for (const { child } of instances) child.kill('SIGKILL'); // also ends a stopped process
    rmSync(root, { recursive: true, force: true });
  });
  // The group must not notice the frozen instance during the test: a long session timeout (55 s).
  const flags = {
    'num-standby-replicas': '1',
    'connect-url': stack.connectUrl,
    'session-timeout-ms': '55000',
    'max-read-wait-ms': '20000',
  };
  for (const name of ['a', 'b'])
    instances.push(await startInstance(app, join(root, name), join(root, `${name}.log`), flags));
  const [a, b] = instances as [SpawnedInstance, SpawnedInstance];
  await waitReady([a, b], 180_000);
  const endpointOf = (i: SpawnedInstance) => i.url.replace('http://', '');

  const db = new pg.Client(stack.postgres);
  await db.connect();
  t.teardown(() => db.end());
  const lsnNow = async () => (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;

  // Users of our own, one owned by A (forwarded when asked of B) and one owned by B.
  const base = 7_300_000_000_000_000_000n + BigInt(Date.now() % 1_000_000) * 1000n;
  const ids = Array.from({ length: 16 }, (_, i) => String(base + BigInt(i)));
  for (const id of ids)
    await db.query('INSERT INTO users (user_id, username, name) VALUES ($1, $2, $3)', [id, `rs_${id}`, 'v0']);
  const inserted = await lsnNow();
  const servedBy = new Map<string, string>();
  for (const id of ids) {
    const answer = await fetch(`${b.url}/users/${id}?wait=20000`, { headers: { 'x-min-position': inserted } });
    t.equal(answer.status, 200, `user ${id} is in the view`);
    servedBy.set(id, answer.headers.get('x-uis-served-by') ?? '');
  }
  const ofA = ids.find((id) => servedBy.get(id) === endpointOf(a));
  const ofB = ids.find((id) => servedBy.get(id) === endpointOf(b));
  t.ok(ofA && ofB, 'users owned by each instance');

  // Writes read through B with their position: forwarded to A, which waits for them.
  let last = '';
  for (let n = 1; n <= WRITES; n++) {
    await db.query('UPDATE users SET name = $1 WHERE user_id = $2', [`v${n}`, ofA]);
    last = await lsnNow();
    const answer = await fetch(`${b.url}/users/${ofA}?wait=20000`, { headers: { 'x-min-position': last } });
    t.equal(answer.status, 200);
    t.equal(answer.headers.get('x-uis-standby'), null, 'answered by the owner while it runs');
    t.equal(((await answer.json()) as { name: string }).name, `v${n}`);
  }
  // B has a round at or past the last write (its own partition reaches it), and its copy of A's task
  // follows A's changelog, whose commits carry their input offsets.
  const own = await fetch(`${b.url}/users/${ofB}?wait=20000`, { headers: { 'x-min-position': last } });
  t.equal(own.status, 200, "B's own partition reached the last write's position");

  a.child.kill('SIGSTOP');
  const proven = await eventually("B's copy proves the last write's position", 30_000, async () => {
    const answer = await fetch(`${b.url}/users/${ofA}?wait=500`, { headers: { 'x-min-position': last } });
    return answer.status === 200 ? answer : undefined;
  });
  t.equal(proven.headers.get('x-uis-standby'), 'true', 'answered by the standby copy');
  t.equal(proven.headers.get('x-uis-served-by'), endpointOf(b));
  t.equal(((await proven.json()) as { name: string }).name, `v${WRITES}`, 'the last write, not an older one');
  const position = parseLsn(proven.headers.get('x-uis-position') ?? '');
  t.ok(position !== undefined && position >= parseLsn(last)!, `the position it proves is at or past ${last}`);

  // A write after the freeze: no copy has it.
  await db.query('UPDATE users SET name = $1 WHERE user_id = $2', ['after', ofA]);
  const after = await lsnNow();
  const refused = await fetch(`${b.url}/users/${ofA}?wait=500`, { headers: { 'x-min-position': after } });
  t.equal(refused.status, 503, 'a write past what the copy proves is not answered');
  const body = (await refused.json()) as { message: string };
  t.match(body.message, /the standby copy here proves position [0-9A-F]+\/[0-9A-F]+/);
  t.ok(
    parseLsn(/proves position (\S+)/.exec(body.message)![1]!)! < parseLsn(after)!,
    `what it proves is before the write at ${after} (${formatLsn(parseLsn(after)!)})`,
  );
  const stale = await fetch(`${b.url}/users/${ofA}`, { headers: { 'cache-control': 'max-stale' } });
  t.equal(stale.status, 200, 'a request accepting any staleness still gets the copy');
  t.equal(((await stale.json()) as { name: string }).name, `v${WRITES}`);
});
