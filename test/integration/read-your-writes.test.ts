// Freshness on the wire and read-your-writes, against the running stack: two instances with Kafka
// Connect's URL; writers each own a user, commit a change, take pg_current_wal_lsn() and read the user
// at once from either instance (so about half the reads are forwarded) with X-Min-Position. Every
// answer must show that write or a later one; none may be older, and none may fail.
import t from 'tap';
import pg from 'pg';
import { parseLsn } from '../../src/serving/freshness.js';
import { startTestService, waitReady, metricSum, type TestService } from '../support/service.js';
import { eventually, stack, uniqueName } from '../support/stack.js';

const WRITERS = 20;
const READS = 1000;

async function connect(): Promise<pg.Client> {
  const db = new pg.Client(stack.postgres);
  await db.connect();
  return db;
}

t.test('read-your-writes through both instances, and the freshness headers', async (t) => {
  const app = uniqueName('ryw');
  const flags = { 'connect-url': stack.connectUrl, 'max-read-wait-ms': '20000' };
  const services: TestService[] = [];
  t.teardown(async () => {
    await Promise.all(services.map((s) => s.stop()));
  });
  services.push(await startTestService(app, { flags }), await startTestService(app, { flags }));
  await waitReady(services, 180_000);

  const base = 7_100_000_000_000_000_000n + BigInt(Date.now() % 1_000_000) * 1000n;
  const userIds = Array.from({ length: WRITERS }, (_, i) => (base + BigInt(i)).toString());
  const setup = await connect();
  try {
    for (const id of userIds)
      await setup.query('INSERT INTO users (user_id, username, name) VALUES ($1, $2, $3)', [id, `ryw_${id}`, 'v0']);
  } finally {
    await setup.end();
  }

  let forwarded = 0;
  let local = 0;
  const older: string[] = [];
  const failed: string[] = [];
  const waits: number[] = [];
  let next = 0;
  await Promise.all(
    userIds.map(async (userId, writer) => {
      const db = await connect();
      try {
        while (next < READS) {
          const n = next++;
          const name = `v${n + 1}`;
          await db.query('UPDATE users SET name = $1 WHERE user_id = $2', [name, userId]);
          const { rows } = await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
          const lsn = rows[0]!.lsn;
          const asked = services[(n + writer) % 2]!;
          const started = Date.now();
          const response = await fetch(`${asked.url}/users/${userId}?wait=20000`, {
            headers: { 'x-min-position': lsn },
            signal: AbortSignal.timeout(30_000),
          });
          waits.push(Date.now() - started);
          const body = (await response.json()) as { name?: string; message?: string };
          if (response.status !== 200) {
            failed.push(`${response.status} ${body.message ?? ''}`);
            continue;
          }
          if (body.name !== name) older.push(`${userId}: wrote ${name}, read ${body.name} (position ${lsn})`);
          const position = parseLsn(response.headers.get('x-uis-position') ?? '');
          if (position === undefined || position < parseLsn(lsn)!)
            older.push(`${userId}: x-uis-position ${response.headers.get('x-uis-position')} before ${lsn}`);
          if (response.headers.get('x-uis-served-by') === asked.config.advertisedEndpoint) local++;
          else forwarded++;
        }
      } finally {
        await db.end();
      }
    }),
  );
  waits.sort((a, b) => a - b);
  t.comment(
    `${READS} reads: ${local} local, ${forwarded} forwarded; wait p50 ${waits[waits.length >> 1]} ms, ` +
      `p99 ${waits[Math.floor(waits.length * 0.99)]} ms, max ${waits[waits.length - 1]} ms`,
  );
  t.same(failed.slice(0, 3), [], 'every read answered 200');
  t.same(older.slice(0, 3), [], 'no read older than its write');
  t.ok(local > 100 && forwarded > 100, 'reads answered locally and through forwarding');

  // Every answer says where its partition stands, as /metrics does.
  const plain = await fetch(`${services[0]!.url}/users/${userIds[0]}`);
  t.equal(plain.status, 200);
  t.match(plain.headers.get('x-uis-position'), /^[0-9A-F]+\/[0-9A-F]+$/);
  t.match(plain.headers.get('x-uis-staleness-ms'), /^\d+$/);
  t.match(plain.headers.get('x-uis-lag-records'), /^\d+$/);
  t.match(plain.headers.get('x-uis-position-committed-at'), /^\d{4}-\d\d-\d\dT/);
  t.ok((await metricSum(services[0]!.url, 'uis_view_position_lsn')) > 0, 'uis_view_position_lsn in /metrics');
  const rounds = await metricSum(services[0]!.url, 'uis_view_position_round_seconds_count');
  const roundSeconds = await metricSum(services[0]!.url, 'uis_view_position_round_seconds_sum');
  t.ok(rounds > 0, 'rounds counted in /metrics');
  t.comment(`instance 0: ${rounds} rounds, ${((roundSeconds / rounds) * 1000).toFixed(0)} ms each on average`);

  // A staleness bound is met by a fresh round.
  // (A round takes a commit or two after it reads Connect's offsets: a bound far under a second may not be met.)
  const fresh = await fetch(`${services[1]!.url}/users/${userIds[1]}?maxStalenessMs=2000&wait=10000`);
  t.equal(fresh.status, 200);
  t.ok(Number(fresh.headers.get('x-uis-staleness-ms')) <= 2000 + 100, 'staleness within the bound');

  // A position the database has not reached is answered 503 with the position reached, after the wait.
  const { rows } = await (async () => {
    const db = await connect();
    try {
      return await db.query<{ lsn: string }>('SELECT (pg_current_wal_lsn() + 1000000000)::text AS lsn');
    } finally {
      await db.end();
    }
  })();
  const future = await fetch(`${services[0]!.url}/users/${userIds[2]}?minPosition=${rows[0]!.lsn}&wait=300`);
  t.equal(future.status, 503);
  t.match(await future.json(), { error: 'Service Unavailable', position: /\// });

  const bad = await fetch(`${services[0]!.url}/users/${userIds[0]}`, { headers: { 'x-min-position': 'yesterday' } });
  t.equal(bad.status, 400);
  t.match(((await bad.json()) as { message: string }).message, /LSN/);
});

t.test('an instance without Kafka Connect cannot promise freshness, and says so', async (t) => {
  const service = await startTestService(uniqueName('ryw-none'));
  t.teardown(() => service.stop());
  await eventually('the engine started', 60_000, async () =>
    (await fetch(`${service.url}/users/1?minPosition=0/1`)).status === 501 ? true : undefined,
  );
  const plain = await fetch(`${service.url}/users/1`);
  t.equal(plain.headers.get('x-uis-position'), null, 'no position header without positions');
});
