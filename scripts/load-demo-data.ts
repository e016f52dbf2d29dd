// Loads demo data into the source tables with server-side SQL, in one transaction:
//   node --import tsx scripts/load-demo-data.ts [--users N] [--follows-per-user F] [--celebrity-share S]
//                                               [--tweets-per-user T] [--likes-per-user L]
// N users (default 5000) with ids from 1_000_000_000_001 (user 1_000_000_000_001 is 'celebrity', followed by
// a share S of everyone, default 0.9), plus 'bigid' with id 9007199254740993 (2^53 + 1, not exact as a
// JavaScript number). Each user also follows about F others (default 20.7, before duplicates are removed)
// with Zipf-like (1/rank) popularity, has about T - 0.5 tweets (default 10; skewed, the celebrity has 300,
// bigid 12) and likes about L tweets (default 15.6, before duplicates are removed; skewed to the older
// tweets). Tweets, follows and likes have ids from 2e12, 3e12 and 4e12. The same options give the same data
// (seeded). If N demo users are there already, nothing is done (npm run stack:reset starts afresh);
// otherwise the demo ranges are deleted first.
// Connection: PG_PORT, PG_DB, PG_USER, PG_PASSWORD (127.0.0.1:5432, twitter, uis, uis).
import pg from 'pg';
import { stack } from '../test/support/stack.js';

const USER_BASE = 1_000_000_000_000n; // demo user i (1-based) has id USER_BASE + i
const TWEET_BASE = 2_000_000_000_000n;
const FOLLOW_BASE = 3_000_000_000_000n;
const LIKE_BASE = 4_000_000_000_000n;
const RANGE = 1_000_000_000_000n; // each base's range
const BIG_ID = 9_007_199_254_740_993n; // 2^53 + 1
const CELEBRITY_ID = USER_BASE + 1n;
const ZIPF_Q = 10; // flattens the head of the 1/rank popularity: the most popular after the celebrity get ~30%

const USAGE =
  'usage: node --import tsx scripts/load-demo-data.ts [--users N] [--follows-per-user F] [--celebrity-share S] ' +
  '[--tweets-per-user T] [--likes-per-user L]';

interface Shape {
  users: number;
  followsPerUser: number;
  celebrityShare: number;
  tweetsPerUser: number;
  likesPerUser: number;
}

/** The options, checked: each is a number within its range, or the process stops saying which is wrong. */
function shapeOptions(argv: string[]): Shape {
  const ranges: Record<keyof Shape, { flag: string; value: number; min: number; max: number; integer?: boolean }> = {
    users: { flag: '--users', value: 5000, min: 2, max: 100_000_000, integer: true },
    followsPerUser: { flag: '--follows-per-user', value: 20.7, min: 0, max: 10_000 },
    celebrityShare: { flag: '--celebrity-share', value: 0.9, min: 0, max: 1 },
    tweetsPerUser: { flag: '--tweets-per-user', value: 10, min: 0, max: 10_000 },
    likesPerUser: { flag: '--likes-per-user', value: 15.6, min: 0, max: 10_000 },
  };
  const byFlag = new Map(Object.entries(ranges).map(([key, r]) => [r.flag, key as keyof Shape]));
  const given = new Map<keyof Shape, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const [flag, inline] = arg.split('=', 2) as [string, string | undefined];
    const key = byFlag.get(flag);
    if (!key) throw new Error(`unknown argument ${arg}\n${USAGE}`);
    given.set(key, inline ?? argv[++i] ?? '');
  }
  const shape = {} as Shape;
  for (const [key, r] of Object.entries(ranges) as Array<[keyof Shape, (typeof ranges)[keyof Shape]]>) {
    const text = given.get(key);
    const value = text === undefined ? r.value : Number(text);
    if (
      text !== undefined &&
      (text.trim() === '' ||
        !Number.isFinite(value) ||
        value < r.min ||
        value > r.max ||
        (r.integer && !Number.isSafeInteger(value)))
    ) {
      throw new Error(
        `${r.flag} must be ${r.integer ? 'an integer' : 'a number'} from ${r.min} to ${r.max}, not ${JSON.stringify(text)}`,
      );
    }
    shape[key] = value;
  }
  return shape;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

let shape: Shape;
try {
  shape = shapeOptions(process.argv.slice(2));
} catch (error) {
  console.error(`load-demo-data: ${(error as Error).message}`);
  process.exit(2);
}
const users = shape.users;
const n = users;
const all = users + 1; // with bigid, user number N + 1
/** SQL for the id of user number `i` (1..N+1). */
const idOf = (i: string): string => `(CASE WHEN ${i} = ${all} THEN ${BIG_ID} ELSE ${USER_BASE} + ${i} END)`;
// Popularity rank -> user number, a permutation of 2..N+1 so popularity does not follow the ids.
let multiplier = 7919;
while (gcd(multiplier, n) !== 1) multiplier += 2;

const db = new pg.Client(stack.postgres);
await db.connect();
const started = Date.now();
const seconds = (since: number): string => `${((Date.now() - since) / 1000).toFixed(2)} s`;
const count = (value: number): string => value.toLocaleString('en-US');
const inDemoUsers = (column: string): string =>
  `(${column} > ${USER_BASE} AND ${column} < ${USER_BASE + RANGE} OR ${column} = ${BIG_ID})`;
const inRange = (column: string, base: bigint): string => `(${column} >= ${base} AND ${column} < ${base + RANGE})`;

async function demoCounts(): Promise<{ users: number; tweets: number; follows: number; likes: number }> {
  const result = await db.query<{ users: string; tweets: string; follows: string; likes: string }>(
    `SELECT (SELECT count(*) FROM users WHERE ${inDemoUsers('user_id')}) AS users,
            (SELECT count(*) FROM tweets WHERE ${inRange('tweet_id', TWEET_BASE)}) AS tweets,
            (SELECT count(*) FROM follows WHERE ${inRange('follow_id', FOLLOW_BASE)}) AS follows,
            (SELECT count(*) FROM likes WHERE ${inRange('like_id', LIKE_BASE)}) AS likes`,
  );
  const row = result.rows[0];
  return {
    users: Number(row?.users ?? 0),
    tweets: Number(row?.tweets ?? 0),
    follows: Number(row?.follows ?? 0),
    likes: Number(row?.likes ?? 0),
  };
}

function summary(counts: { users: number; tweets: number; follows: number; likes: number }): void {
  console.log(
    `users ${count(counts.users)}, tweets ${count(counts.tweets)}, follows ${count(counts.follows)}, likes ${count(counts.likes)}`,
  );
  console.log(`celebrity: user_id ${CELEBRITY_ID} (username celebrity)`);
  console.log(`bigid:     user_id ${BIG_ID} (username bigid, above 2^53)`);
}

async function step(label: string, sql: string): Promise<number> {
  const since = Date.now();
  const result = await db.query(sql);
  const rows = result.rowCount ?? 0;
  console.log(`${label.padEnd(8)} ${count(rows).padStart(12)} rows  ${seconds(since)}`);
  return rows;
}

try {
  const existing = await demoCounts();
  const bigid = await db.query('SELECT 1 FROM users WHERE user_id = $1', [BIG_ID.toString()]);
  if (existing.users >= all && bigid.rowCount === 1) {
    console.log(`demo data is already there (${count(existing.users)} demo users >= ${count(all)}); nothing to do`);
    summary(existing);
  } else {
    console.log(
      `loading ${count(n)} demo users + bigid into ${stack.postgres.database} at ${stack.postgres.host}:${stack.postgres.port}`,
    );
    await db.query('BEGIN');
    await db.query('SET LOCAL synchronous_commit = off');
    if (existing.users + existing.tweets + existing.follows + existing.likes > 0) {
      const since = Date.now();
      await db.query(`DELETE FROM likes WHERE ${inRange('like_id', LIKE_BASE)}`);
      await db.query(`DELETE FROM follows WHERE ${inRange('follow_id', FOLLOW_BASE)}`);
      await db.query(`DELETE FROM tweets WHERE ${inRange('tweet_id', TWEET_BASE)}`);
      await db.query(`DELETE FROM users WHERE ${inDemoUsers('user_id')}`); // cascades to anything else of theirs
      console.log(`deleted the previous demo data (${count(existing.users)} users) in ${seconds(since)}`);
    }
    // Deterministic random(): the session is ours and nothing here runs in parallel workers.
    await db.query('SELECT setseed(0.4242)');

    // The nullable columns are sometimes unset: NULL for some users, '' for others (NULLIF(location, x) is NULL
    // where x is '' and the location is empty, and the location itself where x is NULL). Which one is chosen
    // by i, not by random(), so that the random draws, and with them every other value, stay as they were.
    await step(
      'users',
      `INSERT INTO users (user_id, username, name, description, location, web_page_url, joined_date,
                          profile_image_url, background_image_url)
       SELECT ${idOf('i')},
              CASE WHEN i = 1 THEN 'celebrity' WHEN i = ${all} THEN 'bigid' ELSE 'user_' || i END,
              CASE WHEN i = 1 THEN 'Celebrity' WHEN i = ${all} THEN 'Big Id'
                   ELSE (ARRAY['Ada','Grace','Linus','Zoë','José','Søren','Mei','Noor','Ivan','Amara','Kenji','Lucía',
                               'Olu','Priya','Tomás','Hana'])[1 + floor(random() * 16)::int] || ' ' ||
                        (ARRAY['Lovelace','Hopper','Müller','García','Kowalski','Nakamura','Nguyễn','Smith','Okafor',
                               'Rossi','Haddad','Silva'])[1 + floor(random() * 12)::int] END,
              CASE WHEN random() < 0.1 THEN (CASE WHEN i % 2 = 0 THEN NULL ELSE '' END)
                   ELSE (ARRAY['Engineer','Writer','Photographer','Student','Designer','Researcher','Chef','Runner'])
                          [1 + floor(random() * 8)::int] || ' who posts about ' ||
                        (ARRAY['streams','databases','coffee','cats','football','jazz','rust','typescript','space',
                               'gardening'])[1 + floor(random() * 10)::int] || ' and ' ||
                        (ARRAY['travel','books','music','cycling','open source','food','art','history'])
                          [1 + floor(random() * 8)::int] || '.' END,
              NULLIF((ARRAY['', 'Berlin', 'São Paulo', 'Tōkyō', 'San Francisco, CA', 'Lagos', 'Zürich', 'Montréal',
                            'Mumbai', 'Sydney', 'Nairobi', 'Seoul'])[1 + floor(random() * 12)::int],
                     CASE WHEN i % 3 = 0 THEN '' END),
              CASE WHEN random() < 0.3 THEN (CASE WHEN i % 2 = 1 THEN NULL ELSE '' END)
                   ELSE 'https://example.com/~user_' || i END,
              CASE WHEN i = 1 THEN timestamptz '2006-03-21 20:50:14+00'
                   WHEN random() < 0.2
                     THEN date_trunc('second', timestamptz '2006-03-21+00' + random() * interval '7200 days')
                   ELSE timestamptz '2006-03-21+00' + random() * interval '7200 days' END,
              CASE WHEN i % 50 = 7 THEN NULL ELSE 'https://images.example.com/profile/' || i || '.jpg' END,
              CASE WHEN random() < 0.4 THEN (CASE WHEN i % 3 = 1 THEN NULL ELSE '' END)
                   ELSE 'https://images.example.com/banner/' || i || '.png' END
       FROM generate_series(1, ${all}) AS i`,
    );

    // Each user follows the celebrity with probability S, and draws about F followees by
    // popularity rank r in [0, N) with density ~ 1/(r + q) (Zipf-Mandelbrot, r = q * ((N + q) / q)^U - q);
    // duplicates and self-follows are dropped.
    await step(
      'follows',
      `WITH degree AS MATERIALIZED (
         SELECT i, floor(-ln(1 - random()) * ${shape.followsPerUser})::int AS k FROM generate_series(1, ${all}) AS i
       ),
       draws AS (
         SELECT i AS follower, 1 AS followee FROM generate_series(2, ${all}) AS i WHERE random() < ${shape.celebrityShare}
         UNION ALL
         SELECT d.i, 2 + (least(floor(${ZIPF_Q} * power(${n / ZIPF_Q + 1}, random())) - ${ZIPF_Q}, ${n - 1})::bigint * ${multiplier}) % ${n}
         FROM degree AS d, generate_series(1, d.k) AS j
       ),
       pairs AS (SELECT DISTINCT follower, followee FROM draws WHERE follower <> followee)
       INSERT INTO follows (follow_id, follower_id, followee_id)
       SELECT ${FOLLOW_BASE} + row_number() OVER (ORDER BY follower, followee), ${idOf('follower')}, ${idOf('followee')}
       FROM pairs`,
    );

    // Tweets per user: floor(T/2 * ln(U)^2), mean about T - 0.5 with a long tail; the celebrity has 300.
    const tweets = await step(
      'tweets',
      `WITH per_user AS MATERIALIZED (
         SELECT i, CASE WHEN i = 1 THEN 300 WHEN i = ${all} THEN 12 ELSE floor(${shape.tweetsPerUser / 2} * power(ln(1 - random()), 2))::int END AS k
         FROM generate_series(1, ${all}) AS i
       )
       INSERT INTO tweets (tweet_id, text, user_id)
       SELECT ${TWEET_BASE} + row_number() OVER (ORDER BY p.i, j),
              'Tweet #' || j || ' by user ' || p.i || ': ' ||
                (ARRAY['Just shipped a new feature', 'Reading about change data capture', 'Coffee first',
                       'Anyone else at the meetup tonight?', 'Hot take: tabs over spaces', 'Look at this sunset 🌅',
                       'Thread on stream processing 🧵', 'Back from vacation'])[1 + floor(random() * 8)::int],
              ${idOf('p.i')}
       FROM per_user AS p, generate_series(1, p.k) AS j`,
    );

    // Likes per user: exponential with mean about L; the tweet is drawn as floor(T * U^2), favouring
    // the older (lower-numbered) tweets, the celebrity's first.
    await step(
      'likes',
      `WITH per_user AS MATERIALIZED (
         SELECT i, floor(-ln(1 - random()) * ${shape.likesPerUser})::int AS k FROM generate_series(1, ${all}) AS i
       ),
       pairs AS (
         SELECT DISTINCT p.i AS liker, 1 + floor(${tweets} * power(random(), 2))::bigint AS tweet
         FROM per_user AS p, generate_series(1, p.k) AS j
       )
       INSERT INTO likes (like_id, user_id, tweet_id)
       SELECT ${LIKE_BASE} + row_number() OVER (ORDER BY liker, tweet), ${idOf('liker')}, ${TWEET_BASE} + tweet
       FROM pairs`,
    );
    await db.query('COMMIT');
    const analyzed = Date.now();
    await db.query('ANALYZE users, tweets, follows, likes');
    console.log(`analyzed in ${seconds(analyzed)}; loaded in ${seconds(started)}`);
    const loaded = await demoCounts();
    const celebrity = await db.query<{ followers: string }>(
      'SELECT count(*) AS followers FROM follows WHERE followee_id = $1',
      [CELEBRITY_ID.toString()],
    );
    console.log(`celebrity has ${count(Number(celebrity.rows[0]?.followers ?? 0))} followers`);
    summary(loaded);
  }
} catch (error) {
  await db.query('ROLLBACK').catch(() => undefined);
  throw error;
} finally {
  await db.end();
}
