// The two baselines answer the same documents as our service, straight from PostgreSQL; the cache-aside one
// serves a stale document within its TTL and counts its hits and misses. Needs the local stack's PostgreSQL;
// starts Redis with redis.sh when none answers (and stops it afterwards).
//   npx tap bench/baselines/baselines.test.ts
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import pg from 'pg';
import { startCacheAsideService, cacheKey, type CacheStats } from './cache-aside-service.js';
import { encodeCommand, parseReply, RespClient, RespError } from './resp.js';
import { startFloorService } from './floor-service.js';
import { startSqlService } from './sql-service.js';
import { pgConfigFromEnv, type UserDocument } from './user-document.js';

const run = promisify(execFile);
const redisScript = fileURLToPath(new URL('./redis.sh', import.meta.url));
const redisPort = Number(process.env.REDIS_PORT ?? '6379');

// A fresh id range above 2^53 for each run.
const idBase = 8_800_000_000_000_000_000n + BigInt(Date.now() % 1_000_000) * 1_000_000_000n;
const id = (n: number): string => (idBase + BigInt(n)).toString();
const [star, fan, otherFan, missing] = [id(1), id(2), id(3), id(999)];

const starDocument: UserDocument = {
  userId: star,
  username: `baseline-${star}`,
  name: 'Star ✨',
  description: 'a "quoted" description\nover two lines',
  location: 'Zürich',
  webPageUrl: 'https://example.com/star',
  joinedDate: '2026-11-27T07:00:43.500000Z', // inserted as 09:00:43.5+02
  profileImageUrl: 'https://example.com/star.png',
  backgroundImageUrl: 'https://example.com/star-bg.png',
  tweetCount: 4,
  followingCount: 1,
  followerCount: 2,
  likeCount: 3,
};

async function redisAnswers(): Promise<boolean> {
  const client = new RespClient({ port: redisPort, connections: 1, connectTimeoutMs: 500 });
  try {
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    await client.close();
  }
}

async function get(url: string): Promise<{ status: number; body: string; cache: string | null; type: string | null }> {
  const response = await fetch(url);
  return {
    status: response.status,
    body: await response.text(),
    cache: response.headers.get('x-cache'),
    type: response.headers.get('content-type'),
  };
}

async function stats(url: string): Promise<CacheStats> {
  return (await (await fetch(`${url}/stats`)).json()) as CacheStats;
}

t.test('RESP: commands as bulk-string arrays, every reply type, replies split across chunks', async (t) => {
  t.equal(
    encodeCommand(['SET', 'k', 'é', 'EX', 60]),
    '*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\né\r\n$2\r\nEX\r\n$2\r\n60\r\n',
  );
  const replies = '+OK\r\n-ERR wrong\r\n:42\r\n$-1\r\n$5\r\nh\r\nlo\r\n*2\r\n$1\r\na\r\n*-1\r\n$0\r\n\r\n';
  const buf = Buffer.from(replies);
  const values: unknown[] = [];
  for (let position = 0; position < buf.length;) {
    const reply = parseReply(buf, position);
    if (reply === undefined) throw new Error(`incomplete at ${position}`);
    values.push(reply.value);
    position = reply.end;
  }
  t.same(values, ['OK', new RespError('ERR wrong'), 42, null, 'h\r\nlo', ['a', null], '']);
  t.type(values[1], RespError);
  const bulk = Buffer.from('$5\r\nh\r\nlo\r\n');
  for (let cut = 0; cut < bulk.length; cut++) {
    t.equal(parseReply(bulk.subarray(0, cut), 0), undefined, `incomplete at ${cut} bytes`);
  }
  t.same(parseReply(bulk, 0), { value: 'h\r\nlo', end: bulk.length });
  t.equal(parseReply(Buffer.from('*2\r\n$1\r\na\r\n'), 0), undefined, 'an array missing an item is incomplete');
  t.throws(() => parseReply(Buffer.from('?x\r\n'), 0), /protocol error/);
});

t.test('the baselines', async (t) => {
  const db = new pg.Client(pgConfigFromEnv());
  try {
    await db.connect();
  } catch (error) {
    throw new Error(`PostgreSQL is not up (bash stack/stack.sh up starts it): ${String(error)}`);
  }
  t.teardown(() => db.end());

  if (!(await redisAnswers())) {
    await run('bash', [redisScript, 'start']);
    t.teardown(async () => void (await run('bash', [redisScript, 'stop'])));
  }
  const redis = new RespClient({ port: redisPort, connections: 1 });
  t.teardown(() => redis.close());

  const cleanUp = () =>
    db.query('DELETE FROM users WHERE user_id BETWEEN $1 AND $2', [id(0), id(999_999_999)]).then(() => undefined);
  await cleanUp();
  t.teardown(cleanUp);
  await db.query(
    `INSERT INTO users (user_id, username, name, description, location, web_page_url, joined_date,
                        profile_image_url, background_image_url)
     VALUES ($1, $2, $3, $4, $5, $6, '2026-11-27 09:00:43.5+02', $7, $8)`,
    [
      star,
      starDocument.username,
      starDocument.name,
      starDocument.description,
      starDocument.location,
      starDocument.webPageUrl,
      starDocument.profileImageUrl,
      starDocument.backgroundImageUrl,
    ],
  );
  await db.query(`INSERT INTO users (user_id, username, joined_date) VALUES ($1, $2, $4), ($3, $5, $4)`, [
    fan,
    `baseline-${fan}`,
    otherFan,
    '2001-02-03 04:05:06.789012Z',
    `baseline-${otherFan}`,
  ]);
  for (let n = 1; n <= 4; n++) {
    await db.query('INSERT INTO tweets (tweet_id, text, user_id) VALUES ($1, $2, $3)', [id(n), `tweet ${n}`, star]);
  }
  for (let n = 1; n <= 3; n++) {
    await db.query('INSERT INTO likes (like_id, user_id, tweet_id) VALUES ($1, $2, $3)', [id(n), star, id(n)]);
  }
  await db.query(
    'INSERT INTO follows (follow_id, follower_id, followee_id) VALUES ($1, $4, $5), ($2, $5, $4), ($3, $6, $4)',
    [id(1), id(2), id(3), star, fan, otherFan],
  );

  const sql = await startSqlService({ port: 0, pool: 4 });
  t.teardown(() => sql.close());
  const cached = await startCacheAsideService({ port: 0, pool: 4, ttl: 60 });
  t.teardown(() => cached.close());

  await t.test('both answer the same, correct document', async (t) => {
    await redis.command(['DEL', cacheKey(star)]);
    const before = await stats(cached.url);
    const fromSql = await get(`${sql.url}/users/${star}`);
    t.equal(fromSql.status, 200);
    t.match(fromSql.type, /^application\/json/);
    t.same(JSON.parse(fromSql.body), starDocument);
    t.ok(fromSql.body.includes(`"userId":"${star}"`), 'the id above 2^53 keeps all its digits');

    const miss = await get(`${cached.url}/users/${star}`);
    t.equal(miss.status, 200);
    t.equal(miss.cache, 'miss');
    t.equal(miss.body, fromSql.body, 'the same bytes as the SQL service');
    const hit = await get(`${cached.url}/users/${star}`);
    t.equal(hit.cache, 'hit');
    t.equal(hit.body, fromSql.body, 'a hit answers the same bytes');
    t.match(hit.type, /^application\/json/);
    t.same(await stats(cached.url), { ...before, hits: before.hits + 1, misses: before.misses + 1 });

    // The fan was inserted with none of the nullable columns: they are NULL, so JSON null, not ''.
    const plain = await get(`${sql.url}/users/${fan}`);
    t.strictSame(JSON.parse(plain.body), {
      userId: fan,
      username: `baseline-${fan}`,
      name: '',
      description: null,
      location: null,
      webPageUrl: null,
      joinedDate: '2001-02-03T04:05:06.789012Z',
      profileImageUrl: null,
      backgroundImageUrl: null,
      tweetCount: 0,
      followingCount: 1,
      followerCount: 1,
      likeCount: 0,
    });
    t.equal((await get(`${cached.url}/users/${fan}`)).body, plain.body);
  });

  await t.test('404 for a missing user, 400 for an id that is not a canonical 64-bit integer', async (t) => {
    for (const service of [sql, cached]) {
      const absent = await get(`${service.url}/users/${missing}`);
      t.equal(absent.status, 404, `${service.url}: 404`);
      t.same(JSON.parse(absent.body), { error: 'Not Found', message: `user ${missing} does not exist` });
      for (const bad of ['abc', '01', '-0', '+1', '9223372036854775808', '1.5']) {
        const answer = await get(`${service.url}/users/${encodeURIComponent(bad)}`);
        t.equal(answer.status, 400, `${service.url}: 400 for ${bad}`);
        t.match(JSON.parse(answer.body), { error: 'Bad Request', message: String });
      }
    }
    t.equal(await redis.get(cacheKey(missing)), null, 'a missing user is not cached');
  });

  await t.test('cache-aside serves a stale document within its TTL', async (t) => {
    await redis.command(['DEL', cacheKey(star)]);
    const before = await stats(cached.url);
    const first = await get(`${cached.url}/users/${star}`);
    t.equal(first.cache, 'miss');
    t.ok(((await redis.command(['TTL', cacheKey(star)])) as number) > 55, 'stored with EX 60');

    await db.query(`UPDATE users SET name = 'Renamed' WHERE user_id = $1`, [star]);
    await db.query('INSERT INTO tweets (tweet_id, text, user_id) VALUES ($1, $2, $3)', [id(5), 'tweet 5', star]);

    const fresh = JSON.parse((await get(`${sql.url}/users/${star}`)).body) as UserDocument;
    t.match(fresh, { name: 'Renamed', tweetCount: 5 }, 'the SQL service sees the change at once');
    for (let i = 0; i < 3; i++) {
      const stale = await get(`${cached.url}/users/${star}`);
      t.equal(stale.cache, 'hit');
      t.match(JSON.parse(stale.body), { name: starDocument.name, tweetCount: 4 }, 'cache-aside answers the old one');
    }
    t.same(await stats(cached.url), { ...before, misses: before.misses + 1, hits: before.hits + 3 });
  });

  await t.test('after the TTL the change is seen', async (t) => {
    const short = await startCacheAsideService({ port: 0, pool: 2, ttl: 1 });
    t.teardown(() => short.close());
    await redis.command(['DEL', cacheKey(otherFan)]);
    t.equal((await get(`${short.url}/users/${otherFan}`)).cache, 'miss');
    await db.query(`UPDATE users SET location = 'Elsewhere' WHERE user_id = $1`, [otherFan]);
    const stale = await get(`${short.url}/users/${otherFan}`);
    t.match({ cache: stale.cache, ...JSON.parse(stale.body) }, { cache: 'hit', location: null });
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const later = await get(`${short.url}/users/${otherFan}`);
    t.match({ cache: later.cache, ...JSON.parse(later.body) }, { cache: 'miss', location: 'Elsewhere' });
    t.same(await stats(short.url), { hits: 1, misses: 2, redisErrors: 0 });
  });

  await t.test('without Redis: no start; a Redis that goes away is answered around, and reconnected', async (t) => {
    await t.rejects(startCacheAsideService({ port: 0, redisPort: 1 }), 'no Redis on port 1');

    // A Redis of its own, on another port, to stop and start again.
    const env = {
      ...process.env,
      REDIS_PORT: String(20_000 + Math.floor(Math.random() * 20_000)),
      UIS_STACK_DIR: await mkdtemp(join(tmpdir(), 'uis-baseline-redis-')),
    };
    await run('bash', [redisScript, 'start'], { env });
    t.teardown(async () => {
      await run('bash', [redisScript, 'stop'], { env });
      await rm(env.UIS_STACK_DIR, { recursive: true, force: true });
    });
    const service = await startCacheAsideService({ port: 0, pool: 2, redisPort: Number(env.REDIS_PORT) });
    t.teardown(() => service.close());
    const expected = (await get(`${sql.url}/users/${fan}`)).body;

    t.equal((await get(`${service.url}/users/${fan}`)).cache, 'miss');
    t.equal((await get(`${service.url}/users/${fan}`)).cache, 'hit');
    await run('bash', [redisScript, 'stop'], { env });
    const without = await get(`${service.url}/users/${fan}`);
    t.match(without, { status: 200, cache: 'miss', body: expected }, 'answered from PostgreSQL');
    await run('bash', [redisScript, 'start'], { env });
    t.equal((await get(`${service.url}/users/${fan}`)).cache, 'miss', 'reconnected (the new Redis is empty)');
    t.equal((await get(`${service.url}/users/${fan}`)).cache, 'hit');
    t.same(await stats(service.url), { hits: 2, misses: 3, redisErrors: 1 });
  });
});

t.test('the floor answers a fixed document with the same schema, and 400 for a bad id', async (t) => {
  const floor = await startFloorService({ port: 0 });
  t.teardown(() => floor.close());
  const ok = await get(`${floor.url}/users/1000000000042`);
  t.equal(ok.status, 200);
  t.match(ok.type, /^application\/json/);
  const document = JSON.parse(ok.body) as UserDocument;
  t.same(Object.keys(document).sort(), Object.keys(starDocument).sort(), 'the fields of a user document');
  t.equal((await get(`${floor.url}/users/12abc`)).status, 400);
});
