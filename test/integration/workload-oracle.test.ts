// The test helpers themselves against the real PostgreSQL: the random workload keeps its
// constraints and its notable operations do what they claim, and the set-based oracle agrees with
// the seed's five queries for every user the workload touched, with exact 64-bit ids.
import t from 'tap';
import pg from 'pg';
import { stack } from '../support/stack.js';
import {
  debeziumTimestampFromEpoch,
  debeziumTimestampSql,
  expectedUserBySeedQueries,
  expectedUsers,
} from '../support/oracle.js';
import { freshIdBase, removeWorkload, runWorkload, type NotableOperation } from '../support/workload.js';

const TWO_TO_53 = 2n ** 53n;
const seed = Number(process.env.WORKLOAD_SEED ?? '20261127');

async function connect(t: { teardown: (fn: () => unknown) => void }): Promise<pg.Client> {
  const db = new pg.Client(stack.postgres);
  await db.connect();
  t.teardown(() => db.end());
  return db;
}

t.test('timestamps render as Debezium 3.6 renders a timestamptz', async (t) => {
  const db = await connect(t);
  // Observed on cdc.public.users: inserted value -> joined_date in the change event.
  const observed: [string, string][] = [
    ['2026-11-27 09:00:43+00', '2026-11-27T09:00:43.000000Z'],
    ['2026-11-27 00:00:00+00', '2026-11-27T00:00:00.000000Z'],
    ['2026-11-27 09:00:43.7+00', '2026-11-27T09:00:43.700000Z'],
    ['2026-11-27 09:00:43.788+00', '2026-11-27T09:00:43.788000Z'],
    ['2026-11-27 09:00:43.7881+00', '2026-11-27T09:00:43.788100Z'],
    ['2026-11-27 09:00:43.788156+00', '2026-11-27T09:00:43.788156Z'],
    ['2026-11-27 09:00:43.000001+00', '2026-11-27T09:00:43.000001Z'],
    ['2026-11-27 11:00:43.5+02', '2026-11-27T09:00:43.500000Z'],
    ['2026-06-01 12:00:00.5+05:30', '2026-06-01T06:30:00.500000Z'],
    ['1960-03-04 05:06:07.08+00', '1960-03-04T05:06:07.080000Z'],
    ['0999-01-01 00:00:00+00', '0999-01-01T00:00:00.000000Z'],
    ['0044-03-15 12:00:00+00 BC', '-0043-03-15T12:00:00.000000Z'],
    ['12026-01-01 00:00:00+00', '+12026-01-01T00:00:00.000000Z'],
    ['infinity', 'infinity'],
    ['-infinity', '-infinity'],
  ];
  // Not observed, but where the calendar arithmetic is easy to get wrong.
  const derived: [string, string][] = [
    ['1969-12-31 23:59:59.999999+00', '1969-12-31T23:59:59.999999Z'],
    ['1970-01-01 00:00:00+00', '1970-01-01T00:00:00.000000Z'],
    ['2000-02-29 23:59:59.5+00', '2000-02-29T23:59:59.500000Z'],
    ['1900-03-01 00:00:00+00', '1900-03-01T00:00:00.000000Z'],
    ['0001-01-01 00:00:00+00 BC', '0000-01-01T00:00:00.000000Z'],
    ['9999-12-31 23:59:59.999999+00', '9999-12-31T23:59:59.999999Z'],
  ];
  // The rendering must not depend on the session's time zone.
  await db.query("SET TIME ZONE 'America/St_Johns'");
  for (const [input, expected] of [...observed, ...derived]) {
    const result = await db.query<{ sql: string; epoch: string }>(
      `SELECT ${debeziumTimestampSql('$1::timestamptz')} AS sql, EXTRACT(EPOCH FROM $1::timestamptz)::text AS epoch`,
      [input],
    );
    const row = result.rows[0];
    t.equal(row?.sql, expected, `SQL rendering of ${input}`);
    t.equal(debeziumTimestampFromEpoch(row?.epoch ?? ''), expected, `JavaScript rendering of ${input}`);
  }
});

t.test('the workload keeps its promises and the oracle agrees with the seed queries', async (t) => {
  const db = await connect(t);
  const check = await connect(t);
  const idBase = freshIdBase();
  t.comment(`seed ${seed}, ids from ${idBase}`);
  t.teardown(() => removeWorkload(check, idBase));

  const checkedNotable: Record<string, number> = {};
  const onNotable = async (operation: NotableOperation): Promise<void> => {
    checkedNotable[operation.kind] = (checkedNotable[operation.kind] ?? 0) + 1;
    switch (operation.kind) {
      case 'moveTweet': {
        const from = await expectedUserBySeedQueries(check, operation.from);
        const to = await expectedUserBySeedQueries(check, operation.to);
        t.equal(from?.tweetCount, operation.after.from, `${operation.at}: the old owner's tweet count`);
        t.equal(to?.tweetCount, operation.after.to, `${operation.at}: the new owner's tweet count`);
        t.equal(operation.after.from, operation.before.from - 1, `${operation.at}: the old owner has one tweet less`);
        t.equal(operation.after.to, operation.before.to + 1, `${operation.at}: the new owner has one tweet more`);
        const owner = await check.query<{ user_id: string }>('SELECT user_id::text FROM tweets WHERE tweet_id = $1', [
          operation.tweetId,
        ]);
        t.equal(owner.rows[0]?.user_id, operation.to, `${operation.at}: the tweet belongs to the new owner`);
        break;
      }
      case 'deleteUser':
      case 'rollback': {
        const userId = operation.kind === 'deleteUser' ? operation.userId : operation.rolledBackUserId;
        t.equal(await expectedUserBySeedQueries(check, userId), undefined, `${operation.at}: ${userId} is absent`);
        break;
      }
      case 'refollow': {
        const rows = await check.query<{ follow_id: string }>(
          'SELECT follow_id::text FROM follows WHERE follower_id = $1 AND followee_id = $2',
          [operation.followerId, operation.followeeId],
        );
        t.same(
          rows.rows.map((row) => row.follow_id),
          [operation.followIds[operation.followIds.length - 1]],
          `${operation.at}: one follow of the pair, the latest`,
        );
        t.equal(new Set(operation.followIds).size, 2, `${operation.at}: followed twice with different ids`);
        break;
      }
      default:
        break;
    }
  };

  let progress = 0;
  const started = Date.now();
  const result = await runWorkload(db, {
    seed,
    operations: 300,
    idBase,
    onNotable,
    onProgress: (done) => (progress = done),
  });
  t.comment(`300 operations in ${Date.now() - started} ms: ${JSON.stringify(result.operationsByKind)}`);
  t.equal(progress, 300, 'progress reported up to the last operation');
  t.equal(result.skipped, 0, 'no unique violation: the model tracked the constraints');
  for (const kind of ['moveTweet', 'moveLike', 'deleteUser', 'recreateUser', 'refollow', 'transaction', 'rollback']) {
    t.ok((checkedNotable[kind] ?? 0) > 0, `at least one ${kind}`);
  }

  const expected = await expectedUsers(check, result.userIds);
  // Nullable columns NULL, empty and set, so that the tests comparing the view with the oracle cover each.
  const nullable = ['description', 'location', 'webPageUrl', 'profileImageUrl', 'backgroundImageUrl'] as const;
  const values = [...expected.values()].flatMap((user) => nullable.map((field) => user[field]));
  t.ok(values.includes(null), 'some nullable columns are NULL');
  t.ok(values.includes(''), 'some are empty strings');
  t.ok(
    values.some((value) => value !== null && value !== ''),
    'some are set',
  );
  const deleted = new Set(result.deletedUserIds);
  t.ok(deleted.size > 0, 'some users stay deleted');
  t.equal(expected.size, result.userIds.length - deleted.size, 'every user that was not deleted exists');
  for (const userId of result.userIds) {
    const bySeed = await expectedUserBySeedQueries(check, userId);
    t.same(expected.get(userId), bySeed, `${userId}: set-based oracle = seed queries`);
    if (deleted.has(userId)) t.equal(bySeed, undefined, `${userId}: deleted, absent`);
    else {
      const { tweetCount, followingCount, followerCount, likeCount } = bySeed ?? {};
      t.same({ tweetCount, followingCount, followerCount, likeCount }, result.counts.get(userId), `${userId}: counts`);
    }
  }
  const recreated = result.log.find((operation) => operation.kind === 'recreateUser');
  if (recreated?.kind === 'recreateUser') {
    t.equal(expected.get(recreated.userId)?.username, recreated.username, 'a re-created user has its new profile');
  }

  // The unfiltered oracle gives the same for these users.
  const everyone = await expectedUsers(check);
  for (const [userId, user] of expected) t.same(everyone.get(userId), user, `${userId}: unfiltered oracle`);

  // Exact 64-bit ids: above 2^53, distinct as strings though they are the same JavaScript number.
  const big = [...expected.keys()].filter((userId) => BigInt(userId) > TWO_TO_53);
  t.ok(big.length >= 2, 'ids above 2^53 exist');
  const first = big.find((userId) => String(Number(userId)) !== userId) ?? '';
  t.ok(first, `${first} is not exact as a number`);
  const twin = big.find((userId) => userId !== first && Number(userId) === Number(first));
  t.ok(twin, `${first} and ${twin} are the same double`);
  const roundTrip = await check.query<{ user_id: string }>('SELECT user_id::text FROM users WHERE user_id = $1', [
    first,
  ]);
  t.equal(roundTrip.rows[0]?.user_id, first, 'the id round-trips exactly as a string');
  t.equal(expected.get(first)?.userId, first, 'the oracle keeps the exact id');
  t.match(expected.get(first)?.joinedDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'joined date as Debezium');
});

t.test('the same seed gives the same workload', async (t) => {
  const db = await connect(t);
  const runs = [];
  for (let run = 0; run < 2; run++) {
    const idBase = freshIdBase();
    t.teardown(() => removeWorkload(db, idBase));
    const result = await runWorkload(db, { seed: seed + 1, operations: 120, idBase });
    const offset = (id: string): string => (BigInt(id) - idBase).toString();
    runs.push({
      operationsByKind: result.operationsByKind,
      log: result.log.map((operation) => [operation.kind, operation.at]),
      userIds: result.userIds.map(offset),
      deleted: result.deletedUserIds.map(offset),
      counts: [...result.counts].map(([userId, counts]) => [offset(userId), counts]),
    });
  }
  t.same(runs[1], runs[0]);
});
