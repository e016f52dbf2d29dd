// Read-your-writes from a read replica, against the running stack: the view tasks' output records carry
// the input offsets of their commits, so the replica knows which source position its rows reflect, as a
// standby copy does (decision 0017). On both Kafka clients: kafkajs reports the transaction marker after
// the last record as lag, which the replica's look at the partition's tail accounts for.
import t from 'tap';
import pg from 'pg';
import { formatLsn, parseLsn } from '../../src/serving/freshness.js';
import { startTestService, waitReady } from '../support/service.js';
import { stack, uniqueName } from '../support/stack.js';

for (const client of ['platformatic', 'kafkajs'])
  t.test(
    `a read replica answers read-your-writes once its rows prove the position, never older (${client})`,
    async (t) => {
      const app = uniqueName('replica-ryw');
      const flags = { 'connect-url': stack.connectUrl, 'max-read-wait-ms': '20000', 'kafka-client': client };
      const processor = await startTestService(app, { flags });
      t.teardown(() => processor.stop());
      await waitReady([processor]);
      const replica = await startTestService(app, { replica: true, flags });
      t.teardown(() => replica.stop());
      await waitReady([replica]);

      const db = new pg.Client(stack.postgres);
      await db.connect();
      t.teardown(() => db.end());
      const lsnNow = async () =>
        (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
      const userId = String(7_400_000_000_000_000_000n + BigInt(Date.now() % 1_000_000) * 1000n);
      await db.query('INSERT INTO users (user_id, username, name) VALUES ($1, $2, $3)', [userId, `rr_${userId}`, 'v0']);
      const WRITES = 10;
      for (let n = 1; n <= WRITES; n++) {
        await db.query('UPDATE users SET name = $1 WHERE user_id = $2', [`v${n}`, userId]);
        const lsn = await lsnNow();
        const answer = await fetch(`${replica.url}/users/${userId}?wait=20000`, { headers: { 'x-min-position': lsn } });
        t.equal(answer.status, 200, `write ${n} read at ${lsn}`);
        t.equal(((await answer.json()) as { name: string }).name, `v${n}`, 'the write, not an older row');
        t.equal(answer.headers.get('x-uis-served-by'), replica.config.advertisedEndpoint, 'served by the replica');
        const position = answer.headers.get('x-uis-position') ?? '';
        t.ok(
          (parseLsn(position) ?? -1n) >= parseLsn(lsn)!,
          `the position it proves (${position}) is at or past the write's (${lsn})`,
        );
      }
      // A position past anything written: the replica cannot prove it and says so.
      const ahead = formatLsn(parseLsn(await lsnNow())! + 1_000_000_000n);
      const refused = await fetch(`${replica.url}/users/${userId}?wait=300`, { headers: { 'x-min-position': ahead } });
      t.equal(refused.status, 503, 'a position not reached is refused, not answered with an older row');
    },
  );
