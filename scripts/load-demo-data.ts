// Loads demo data into the source tables with server-side SQL, in one transaction:
//   node --import tsx scripts/load-demo-data.ts [--users N]      (default 5000)
// N users with ids from 1_000_000_000_001 (user 1_000_000_000_001 is 'celebrity', followed by about
// 90% of everyone), plus 'bigid' with id 9007199254740993 (2^53 + 1, not exact as a JavaScript
// number). About 20 follows per user with Zipf-like (1/rank) popularity, about 10 tweets per user
// (skewed; bigid has 12), about 15 likes per user (skewed to the older tweets). Tweets, follows and likes have ids
// from 2e12, 3e12 and 4e12. The same N gives the same data (seeded). If the demo users are there
// already, nothing is done; otherwise the demo ranges are deleted first.
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
const MEAN_RANDOM_FOLLOWS = 20.7; // per user, before duplicates are removed, besides the celebrity
const MEAN_LIKES = 15.6; // per user, before duplicates are removed
const ZIPF_Q = 10; // flattens the head of the 1/rank popularity: the most popular after the celebrity get ~30%

function usersOption(argv: string[]): number {
  let value = '5000';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--users') value = argv[++i] ?? '';
    else if (arg.startsWith('--users=')) value = arg.slice('--users='.length);
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: node --import tsx scripts/load-demo-data.ts [--users N]');
      process.exit(0);
    } else throw new Error(`unknown argument ${arg}`);
  }
  const users = Number(value);
  if (!Number.isSafeInteger(users) || users < 2 || users > 100_000_000) {
    throw new Error(`--users must be an integer from 2 to 100000000, not ${JSON.stringify(value)}`);
  }
  return users;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

const users = usersOption(process.argv.slice(2));
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
              CASE WHEN random() < 0.1 THEN ''
                   ELSE (ARRAY['Engineer','Writer','Photographer','Student','Designer','Researcher','Chef','Runner'])
                          [1 + floor(random() * 8)::int] || ' who posts about ' ||
                        (ARRAY['streams','databases','coffee','cats','football','jazz','rust','typescript','space',
                               'gardening'])[1 + floor(random() * 10)::int] || ' and ' ||
                        (ARRAY['travel','books','music','cycling','open source','food','art','history'])
                          [1 + floor(random() * 8)::int] || '.' END,
              (ARRAY['', 'Berlin', 'São Paulo', 'Tōkyō', 'San Francisco, CA', 'Lagos', 'Zürich', 'Montréal', 'Mumbai',
                     'Sydney', 'Nairobi', 'Seoul'])[1 + floor(random() * 12)::int],
              CASE WHEN random() < 0.3 THEN '' ELSE 'https://example.com/~user_' || i END,
              CASE WHEN i = 1 THEN timestamptz '2006-03-21 20:50:14+00'
                   WHEN random() < 0.2
                     THEN date_trunc('second', timestamptz '2006-03-21+00' + random() * interval '7200 days')
                   ELSE timestamptz '2006-03-21+00' + random() * interval '7200 days' END,
              'https://images.example.com/profile/' || i || '.jpg',
              CASE WHEN random() < 0.4 THEN '' ELSE 'https://images.example.com/banner/' || i || '.png' END
       FROM generate_series(1, ${all}) AS i`,
    );

    // Each user follows the celebrity with probability 0.9, and draws about MEAN_RANDOM_FOLLOWS followees by
    // popularity rank r in [0, N) with density ~ 1/(r + q) (Zipf-Mandelbrot, r = q * ((N + q) / q)^U - q);
    // duplicates and self-follows are dropped.
    await step(
      'follows',
      `WITH degree AS MATERIALIZED (
         SELECT i, floor(-ln(1 - random()) * ${MEAN_RANDOM_FOLLOWS})::int AS k FROM generate_series(1, ${all}) AS i
       ),
       draws AS (
         SELECT i AS follower, 1 AS followee FROM generate_series(2, ${all}) AS i WHERE random() < 0.9
         UNION ALL
         SELECT d.i, 2 + (least(floor(${ZIPF_Q} * power(${n / ZIPF_Q + 1}, random())) - ${ZIPF_Q}, ${n - 1})::bigint * ${multiplier}) % ${n}
         FROM degree AS d, generate_series(1, d.k) AS j
       ),
       pairs AS (SELECT DISTINCT follower, followee FROM draws WHERE follower <> followee)
       INSERT INTO follows (follow_id, follower_id, followee_id)
       SELECT ${FOLLOW_BASE} + row_number() OVER (ORDER BY follower, followee), ${idOf('follower')}, ${idOf('followee')}
       FROM pairs`,
    );

    // Tweets per user: floor(5 * ln(U)^2), mean about 10 with a long tail; the celebrity has 300.
    const tweets = await step(
      'tweets',
      `WITH per_user AS MATERIALIZED (
         SELECT i, CASE WHEN i = 1 THEN 300 WHEN i = ${all} THEN 12 ELSE floor(5 * power(ln(1 - random()), 2))::int END AS k
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

    // Likes per user: exponential with mean about 15; the tweet is drawn as floor(T * U^2), favouring
    // the older (lower-numbered) tweets, the celebrity's first.
    await step(
      'likes',
      `WITH per_user AS MATERIALIZED (
         SELECT i, floor(-ln(1 - random()) * ${MEAN_LIKES})::int AS k FROM generate_series(1, ${all}) AS i
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
