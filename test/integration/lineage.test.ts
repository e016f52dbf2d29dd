// GET /users/:userId/lineage against the running stack: a user is created, followed twice, unfollowed
// once and renamed, each in its own transaction; the lineage (asked of both instances, so once through
// forwarding) must name, for the profile and for each count, exactly the source change that last moved
// it: table, primary key, operation, an LSN within that transaction's bounds, and the CDC record in
// Kafka, which is read back; and the changelog offset must hold the row as served. Then the user's
// activity (the tweet count's change per hour) after three tweets and a delete.
import t from 'tap';
import pg from 'pg';
import { parseLsn } from '../../src/serving/freshness.js';
import { readRecordAt } from '../support/kafka.js';
import { startTestService, waitReady, type TestService } from '../support/service.js';
import { stack, uniqueName } from '../support/stack.js';

interface SourceChange {
  table: string;
  primaryKey: Record<string, string>;
  op: string;
  lsn: string;
  committedAt: string;
  cdc: { topic: string; partition: number; offset: string };
}
interface LineageAnswer {
  userId: string;
  partition: number;
  servedBy: string;
  lastModified: string;
  changelog: { topic: string; partition: number; offset: string | null };
  fields: Record<string, { value?: number; lastChange: SourceChange | null }>;
}

t.test('lineage names the source change behind the row and each count', async (t) => {
  const app = uniqueName('lineage');
  const flags = { 'connect-url': stack.connectUrl, 'max-read-wait-ms': '30000', lineage: 'on' };
  const services: TestService[] = [];
  t.teardown(async () => {
    await Promise.all(services.map((s) => s.stop()));
  });
  services.push(await startTestService(app, { flags }), await startTestService(app, { flags }));
  await waitReady(services, 180_000);

  const base = 7_200_000_000_000_000_000n + BigInt(Date.now() % 1_000_000) * 1000n;
  const [userId, fan1, fan2] = [base, base + 1n, base + 2n].map(String) as [string, string, string];
  const [follow1, follow2] = [base + 10n, base + 11n].map(String) as [string, string];
  const db = new pg.Client(stack.postgres);
  await db.connect();
  t.teardown(() => db.end());
  /** Runs one transaction; returns the WAL positions just before and just after it. */
  const transaction = async (...statements: Array<[string, unknown[]]>) => {
    const before = (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    await db.query('BEGIN');
    for (const [sql, values] of statements) await db.query(sql, values);
    await db.query('COMMIT');
    const after = (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    return { before: parseLsn(before)!, after: parseLsn(after)! };
  };
  const insertUser = 'INSERT INTO users (user_id, username, name) VALUES ($1, $2, $3)';
  const created = await transaction(
    [insertUser, [userId, `lineage_${userId}`, 'first']],
    [insertUser, [fan1, `lineage_${fan1}`, 'fan one']],
    [insertUser, [fan2, `lineage_${fan2}`, 'fan two']],
  );
  const followed = await transaction(
    ['INSERT INTO follows (follow_id, follower_id, followee_id) VALUES ($1, $2, $3)', [follow1, fan1, userId]],
    ['INSERT INTO follows (follow_id, follower_id, followee_id) VALUES ($1, $2, $3)', [follow2, fan2, userId]],
  );
  const unfollowed = await transaction(['DELETE FROM follows WHERE follow_id = $1', [follow1]]);
  const renamed = await transaction(['UPDATE users SET name = $1 WHERE user_id = $2', ['second', userId]]);
  t.ok(created.after <= followed.before && unfollowed.after <= renamed.before, 'the transactions follow each other');

  // Read-your-writes: both instances answer once the rename is in the view.
  const position = `${(renamed.after >> 32n).toString(16)}/${(renamed.after & 0xffffffffn).toString(16)}`;
  for (const service of services) {
    const user = await fetch(`${service.url}/users/${userId}?wait=30000`, { headers: { 'x-min-position': position } });
    t.equal(user.status, 200, 'the view has the rename');
    t.match(await user.json(), { name: 'second', followerCount: 1 });
  }

  const answers: LineageAnswer[] = [];
  const servedBy = new Set<string>();
  for (const service of services) {
    const response = await fetch(`${service.url}/users/${userId}/lineage`);
    t.equal(response.status, 200);
    const answer = (await response.json()) as LineageAnswer;
    answers.push(answer);
    servedBy.add(response.headers.get('x-uis-served-by') ?? '');
  }
  t.equal(servedBy.size, 1, 'both answers come from the owner: one of them was forwarded');
  t.same(answers[0], answers[1], 'the same lineage through either instance');
  const lineage = answers[0]!;
  t.equal(lineage.userId, userId);

  const within = (change: SourceChange | null, bounds: { before: bigint; after: bigint }, what: string) => {
    const lsn = change ? parseLsn(change.lsn) : undefined;
    t.ok(
      lsn !== undefined && lsn >= bounds.before && lsn <= bounds.after,
      `${what}: LSN ${change?.lsn} within its transaction`,
    );
  };
  const profile = lineage.fields.profile!.lastChange;
  t.match(profile, {
    table: 'users',
    primaryKey: { user_id: userId },
    op: 'update',
    cdc: { topic: 'cdc.public.users' },
  });
  within(profile, renamed, 'profile');
  const followers = lineage.fields.followerCount!;
  t.equal(followers.value, 1);
  t.match(followers.lastChange, { table: 'follows', primaryKey: { follow_id: follow1 }, op: 'delete' });
  within(followers.lastChange, unfollowed, 'followerCount');
  t.same(lineage.fields.followingCount, { value: 0, lastChange: null }, 'no change ever moved followingCount');
  t.same(lineage.fields.tweetCount, { value: 0, lastChange: null });
  t.same(lineage.fields.likeCount, { value: 0, lastChange: null });
  // (lastModified is the commit time of the change applied last, which across source partitions need
  // not be the latest: the follows and users changes may be applied in either order.)
  t.ok(Date.parse(lineage.lastModified) > 0, 'lastModified is a time');

  // The CDC records named are the changes themselves.
  for (const [change, key] of [
    [profile!, { user_id: userId }],
    [followers.lastChange!, { follow_id: follow1 }],
  ] as const) {
    const record = await readRecordAt(change.cdc.topic, change.cdc.partition, change.cdc.offset);
    const recordKey = JSON.parse(record.key!.toString().replace(/(\d{16,})/g, '"$1"')) as Record<string, string>;
    t.same(
      Object.fromEntries(Object.entries(recordKey).map(([k, v]) => [k, String(v)])),
      key,
      `${change.table} CDC key`,
    );
  }

  // The changelog record at the offset given holds the row as served.
  t.not(lineage.changelog.offset, null, 'the row was found in its changelog');
  const row = await readRecordAt(lineage.changelog.topic, lineage.changelog.partition, lineage.changelog.offset!);
  t.equal(row.key?.toString(), userId);
  t.match(row.value?.toString('latin1'), /"name":"second"/);

  const missing = await fetch(`${services[0]!.url}/users/${base + 99n}/lineage`);
  t.equal(missing.status, 404);
  t.equal((await fetch(`${services[0]!.url}/users/abc/lineage`)).status, 400);

  // GET /users/:userId/activity: three tweets, then one deleted, asked of both instances (once through
  // forwarding): the hours add up to the change of the tweet count, 2.
  const tweets = [base + 20n, base + 21n, base + 22n].map(String);
  const tweeted = await transaction(
    ...tweets.map((id): [string, unknown[]] => [
      'INSERT INTO tweets (tweet_id, text, user_id) VALUES ($1, $2, $3)',
      [id, 'hi', userId],
    ]),
  );
  const deleted = await transaction(['DELETE FROM tweets WHERE tweet_id = $1', [tweets[0]]]);
  const at = `${(deleted.after >> 32n).toString(16)}/${(deleted.after & 0xffffffffn).toString(16)}`;
  t.ok(tweeted.after <= deleted.before);
  for (const service of services) {
    const user = await fetch(`${service.url}/users/${userId}?wait=30000`, { headers: { 'x-min-position': at } });
    t.match(await user.json(), { tweetCount: 2 }, 'the view has the tweets and the delete');
    const response = await fetch(`${service.url}/users/${userId}/activity`);
    t.equal(response.status, 200);
    const activity = (await response.json()) as {
      userId: string;
      hours: Array<{ start: string; end: string; tweetCountChange: number }>;
    };
    t.equal(activity.hours.length, 24, 'the last 24 hours, every one listed');
    t.equal(
      activity.hours.reduce((sum, h) => sum + h.tweetCountChange, 0),
      2,
      'three tweets written and one deleted in the last hours (the current hour, or across an hour boundary)',
    );
    t.ok(
      Date.parse(activity.hours[23]!.start) <= Date.now() && Date.now() < Date.parse(activity.hours[23]!.end),
      'the last is the current hour',
    );
  }
  const two = (await (await fetch(`${services[1]!.url}/users/${userId}/activity?hours=2`)).json()) as {
    hours: unknown[];
  };
  t.equal(two.hours.length, 2, '?hours=2');
  t.equal((await fetch(`${services[0]!.url}/users/${userId}/activity?hours=25`)).status, 400);
  t.equal((await fetch(`${services[0]!.url}/users/${base + 99n}/activity`)).status, 404, 'no such user');
});
