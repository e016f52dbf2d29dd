// A deterministic random workload on the PostgreSQL source tables, in a fresh id range, for tests
// that compare the service's view with the oracle (oracle.ts). The same seed, operation count and
// id base give the same statements. The workload tracks the tables' state in memory so that it
// respects every constraint; a unique violation that happens anyway is skipped and counted.
//
// Ids: users idBase + n, tweets idBase + 1e8 + n, follows idBase + 2e8 + n, likes idBase + 3e8 + n,
// so one run uses [idBase, idBase + 4e8). Choose idBase above 2^53 (e.g. 5e18 + k * 1e9) to get ids
// that are not exact as JavaScript numbers; above 2^62 consecutive ids even round to the same double.
import { randomInt } from 'node:crypto';
import type { Client } from 'pg';

export interface Counts {
  tweetCount: number;
  followingCount: number;
  followerCount: number;
  likeCount: number;
}

/** Operations a test may want to check specifically. `at` is the operation's number (0-based). */
export type NotableOperation =
  | {
      kind: 'moveTweet';
      at: number;
      tweetId: string;
      from: string;
      to: string;
      /** The two users' tweet counts just before and just after the move (from the in-memory model). */
      before: { from: number; to: number };
      after: { from: number; to: number };
    }
  | { kind: 'moveLike'; at: number; likeId: string; tweetId: string; from: string; to: string }
  | {
      kind: 'deleteUser';
      at: number;
      userId: string;
      /** Rows the delete removed by cascading. */
      cascaded: { tweets: number; likes: number; follows: number };
    }
  | { kind: 'recreateUser'; at: number; userId: string; username: string }
  | {
      /** The pair was followed, unfollowed and followed again, with a new follow_id each time. */
      kind: 'refollow';
      at: number;
      followerId: string;
      followeeId: string;
      followIds: string[];
    }
  | { kind: 'transaction'; at: number; description: string; statements: number }
  | { kind: 'rollback'; at: number; description: string; statements: number; rolledBackUserId: string };

export interface WorkloadOptions {
  seed: number;
  operations: number;
  idBase: bigint;
  onProgress?: (done: number) => void;
  /** Sleep between operations, to spread the workload over time. */
  pauseMs?: number;
  /**
   * Paces the workload: operation n starts no earlier than n / ratePerSecond seconds after the start. When
   * the database cannot keep up, a backlog of more than a second is forgiven rather than made up in a burst.
   */
  ratePerSecond?: number;
  /** Stops the workload between two operations (the result then covers the operations done). */
  signal?: AbortSignal;
  /** Called after each notable operation has committed (awaited), e.g. to look at the tables then. */
  onNotable?: (operation: NotableOperation) => void | Promise<void>;
}

export interface WorkloadResult {
  /** Every user id the workload created, in order of creation, including those deleted since. */
  userIds: string[];
  /** The users that do not exist at the end (deleted and not re-created). */
  deletedUserIds: string[];
  /** The in-memory model's counts of each user that exists at the end. */
  counts: Map<string, Counts>;
  log: NotableOperation[];
  /** How many operations of each kind ran. */
  operationsByKind: Record<string, number>;
  /** Statements skipped because of a unique violation (0 when the model is right). */
  skipped: number;
}

const STRIDE = 100_000_000n;
const INT64_MAX = 9_223_372_036_854_775_807n;
/** How many ids from its idBase one run may use, in each table. */
export const WORKLOAD_ID_RANGE = 4n * STRIDE;

/**
 * A random idBase for a fresh run: above 2^62, where consecutive ids round to the same double, and odd,
 * so that even the first id is not exact as a JavaScript number. 4 million possible bases.
 */
export function freshIdBase(): bigint {
  return 5_000_000_000_000_000_001n + BigInt(randomInt(0, 4_000_000)) * 1_000_000_000n;
}

/** Deletes a run's rows (its users, and by cascading everything that refers to them). */
export async function removeWorkload(db: Client, idBase: bigint): Promise<void> {
  await db.query('DELETE FROM users WHERE user_id >= $1::bigint AND user_id < $1::bigint + $2::bigint', [
    idBase.toString(),
    WORKLOAD_ID_RANGE.toString(),
  ]);
}

/** A seeded xorshift32 generator of numbers in [0, 1): the same seed gives the same sequence. */
export function prng(seed: number): () => number {
  let x = (Math.imul(seed | 0, 0x9e3779b1) ^ 0x5bd1e995) | 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4_294_967_296;
  };
  for (let i = 0; i < 8; i++) next();
  return next;
}

/** A set of ids with O(1) add, delete and uniform random pick, deterministic in its order. */
class Bag {
  private readonly items: string[] = [];
  private readonly index = new Map<string, number>();
  get size(): number {
    return this.items.length;
  }
  has(item: string): boolean {
    return this.index.has(item);
  }
  add(item: string): void {
    if (this.index.has(item)) return;
    this.index.set(item, this.items.length);
    this.items.push(item);
  }
  delete(item: string): void {
    const at = this.index.get(item);
    if (at === undefined) return;
    const last = this.items.pop() as string;
    this.index.delete(item);
    if (last !== item) {
      this.items[at] = last;
      this.index.set(last, at);
    }
  }
  pick(random: () => number): string | undefined {
    return this.items[Math.floor(random() * this.items.length)];
  }
  values(): readonly string[] {
    return this.items;
  }
}

const pairKey = (a: string, b: string): string => `${a}/${b}`;

/** The source tables' state as the workload believes it to be. */
class Model {
  readonly users = new Bag();
  readonly deleted = new Bag();
  readonly created: string[] = [];
  private readonly createdSet = new Set<string>();
  readonly tweets = new Map<string, string>(); // tweet -> owner
  readonly tweetBag = new Bag();
  readonly tweetCounts = new Map<string, number>();
  readonly follows = new Map<string, { follower: string; followee: string }>();
  readonly followBag = new Bag();
  readonly followByPair = new Map<string, string>();
  readonly likes = new Map<string, { user: string; tweet: string }>();
  readonly likeBag = new Bag();
  readonly likePairs = new Set<string>();
  /** Pairs unfollowed at some point, candidates for following again. */
  readonly unfollowed = new Bag();

  tweetCount(user: string): number {
    return this.tweetCounts.get(user) ?? 0;
  }
  addUser(user: string): void {
    if (!this.createdSet.has(user)) {
      this.createdSet.add(user);
      this.created.push(user);
    }
    this.users.add(user);
    this.deleted.delete(user);
  }
  addTweet(tweet: string, owner: string): void {
    this.tweets.set(tweet, owner);
    this.tweetBag.add(tweet);
    this.tweetCounts.set(owner, this.tweetCount(owner) + 1);
  }
  moveTweet(tweet: string, to: string): void {
    const from = this.tweets.get(tweet);
    if (from === undefined) throw new Error(`model: no tweet ${tweet}`);
    this.tweets.set(tweet, to);
    this.tweetCounts.set(from, this.tweetCount(from) - 1);
    this.tweetCounts.set(to, this.tweetCount(to) + 1);
  }
  /** Removes a tweet and, as ON DELETE CASCADE does, its likes; returns how many likes went. */
  removeTweet(tweet: string): number {
    const owner = this.tweets.get(tweet);
    if (owner === undefined) return 0;
    this.tweets.delete(tweet);
    this.tweetBag.delete(tweet);
    this.tweetCounts.set(owner, this.tweetCount(owner) - 1);
    let likes = 0;
    for (const [like, row] of this.likes) {
      if (row.tweet === tweet) {
        this.removeLike(like);
        likes++;
      }
    }
    return likes;
  }
  addFollow(follow: string, follower: string, followee: string): void {
    this.follows.set(follow, { follower, followee });
    this.followBag.add(follow);
    this.followByPair.set(pairKey(follower, followee), follow);
  }
  removeFollow(follow: string): void {
    const row = this.follows.get(follow);
    if (row === undefined) return;
    this.follows.delete(follow);
    this.followBag.delete(follow);
    this.followByPair.delete(pairKey(row.follower, row.followee));
  }
  addLike(like: string, user: string, tweet: string): void {
    this.likes.set(like, { user, tweet });
    this.likeBag.add(like);
    this.likePairs.add(pairKey(user, tweet));
  }
  moveLike(like: string, to: string): void {
    const row = this.likes.get(like);
    if (row === undefined) throw new Error(`model: no like ${like}`);
    this.likePairs.delete(pairKey(row.user, row.tweet));
    this.likePairs.add(pairKey(to, row.tweet));
    this.likes.set(like, { user: to, tweet: row.tweet });
  }
  removeLike(like: string): void {
    const row = this.likes.get(like);
    if (row === undefined) return;
    this.likes.delete(like);
    this.likeBag.delete(like);
    this.likePairs.delete(pairKey(row.user, row.tweet));
  }
  /** Removes a user and everything ON DELETE CASCADE removes with it. */
  removeUser(user: string): { tweets: number; likes: number; follows: number } {
    const cascaded = { tweets: 0, likes: 0, follows: 0 };
    for (const [tweet, owner] of [...this.tweets]) {
      if (owner === user) {
        cascaded.likes += this.removeTweet(tweet);
        cascaded.tweets++;
      }
    }
    for (const [like, row] of [...this.likes]) {
      if (row.user === user) {
        this.removeLike(like);
        cascaded.likes++;
      }
    }
    for (const [follow, row] of [...this.follows]) {
      if (row.follower === user || row.followee === user) {
        this.removeFollow(follow);
        cascaded.follows++;
      }
    }
    this.tweetCounts.delete(user);
    this.users.delete(user);
    this.deleted.add(user);
    return cascaded;
  }
  counts(): Map<string, Counts> {
    const counts = new Map<string, Counts>();
    for (const user of this.users.values()) {
      counts.set(user, { tweetCount: 0, followingCount: 0, followerCount: 0, likeCount: 0 });
    }
    const bump = (user: string, field: keyof Counts): void => {
      const entry = counts.get(user);
      if (entry === undefined) throw new Error(`model: a row refers to the missing user ${user}`);
      entry[field]++;
    };
    for (const owner of this.tweets.values()) bump(owner, 'tweetCount');
    for (const { follower, followee } of this.follows.values()) {
      bump(follower, 'followingCount');
      bump(followee, 'followerCount');
    }
    for (const { user } of this.likes.values()) bump(user, 'likeCount');
    return counts;
  }
}

type Statement = [sql: string, params: unknown[]];

const FIRST_NAMES = ['Ada', 'Grace', 'Linus', 'Zoë', 'José', 'Søren', 'Åsa', 'Mei', '美咲', 'Ола', 'Noor', "O'Brien"];
const LAST_NAMES = [
  'Lovelace',
  'Hopper',
  'Müller',
  'García',
  'Kowalski',
  'Nakamura',
  'Nguyễn',
  'Smith',
  '',
  'D"Angelo',
];
const LOCATIONS = [
  null,
  '',
  'Berlin',
  'São Paulo',
  'Tōkyō',
  'San Francisco, CA',
  'Zürich',
  'Lagos',
  'Montréal',
  'Earth 🌍',
];
const WORDS = ['stream', 'table', 'join', 'kafka', 'change', 'event', 'coffee', 'deploy', 'friday', 'offset', 'replay'];
const EDGE_TIMESTAMPS = ['1969-12-31T23:59:59.999999Z', '1970-01-01T00:00:00Z', '2000-02-29T12:00:00.5Z'];
const FROM_MS = Date.UTC(2006, 2, 21);
const TO_MS = Date.UTC(2026, 0, 1);

/**
 * Runs `operations` random operations (creating users first) on ids from `idBase`; the range must be
 * empty. Each operation is its own transaction except the multi-statement ones (kinds 'transaction'
 * and 'rollback' in the log). After a warm-up, operations of each notable kind are forced in, so a
 * run of a few hundred operations has moved a tweet and a like, deleted users (at least one stays
 * deleted), re-created one, followed a pair again after unfollowing it, and committed and rolled back
 * multi-statement transactions.
 */
export async function runWorkload(db: Client, options: WorkloadOptions): Promise<WorkloadResult> {
  const { idBase, operations } = options;
  if (idBase < 1n || idBase + WORKLOAD_ID_RANGE > INT64_MAX) throw new RangeError(`idBase ${idBase} out of range`);
  if (operations > Number(STRIDE) / 2) throw new RangeError(`at most ${Number(STRIDE) / 2} operations`);
  const occupied = await db.query<{ n: string }>(
    `SELECT (SELECT count(*) FROM users WHERE user_id >= $1::bigint AND user_id < $1::bigint + $2::bigint)
          + (SELECT count(*) FROM tweets WHERE tweet_id >= $1::bigint AND tweet_id < $1::bigint + $2::bigint)
          + (SELECT count(*) FROM follows WHERE follow_id >= $1::bigint AND follow_id < $1::bigint + $2::bigint)
          + (SELECT count(*) FROM likes WHERE like_id >= $1::bigint AND like_id < $1::bigint + $2::bigint) AS n`,
    [idBase.toString(), WORKLOAD_ID_RANGE.toString()],
  );
  if (occupied.rows[0]?.n !== '0') throw new Error(`the id range from ${idBase} is not empty`);

  const random = prng(options.seed);
  const model = new Model();
  const log: NotableOperation[] = [];
  const operationsByKind: Record<string, number> = {};
  let skipped = 0;
  let at = 0;
  const next = { user: 0n, tweet: 0n, follow: 0n, like: 0n, username: 0 };
  const newUserId = (): string => (idBase + next.user++).toString();
  const newTweetId = (): string => (idBase + STRIDE + next.tweet++).toString();
  const newFollowId = (): string => (idBase + 2n * STRIDE + next.follow++).toString();
  const newLikeId = (): string => (idBase + 3n * STRIDE + next.like++).toString();
  const newUsername = (): string => `wl${idBase.toString(36)}_${next.username++}`;

  const chance = (p: number): boolean => random() < p;
  const choose = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
  const words = (n: number): string => Array.from({ length: n }, () => choose(WORDS)).join(' ');
  const joinedDate = (): string => {
    if (chance(0.05)) return choose(EDGE_TIMESTAMPS);
    const ms = FROM_MS + Math.floor(random() * (TO_MS - FROM_MS));
    const offsetMinutes = choose([0, 0, 0, 330, -480, 60]);
    const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19);
    const precision = choose(['s', 'ms', 'us', 'us']);
    const fraction =
      precision === 's'
        ? ''
        : precision === 'ms'
          ? `.${String(ms % 1000).padStart(3, '0')}`
          : `.${String(ms % 1000).padStart(3, '0')}${String(Math.floor(random() * 1000)).padStart(3, '0')}`;
    const sign = offsetMinutes < 0 ? '-' : '+';
    const abs = Math.abs(offsetMinutes);
    const zone =
      offsetMinutes === 0
        ? 'Z'
        : `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
    return `${local}${fraction}${zone}`;
  };
  /**
   * A nullable column: with probability p not set, as NULL or as '' (half each, from the same draw, so a seed
   * draws as many numbers as before NULLs existed), else value().
   */
  const unsetOr = (p: number, value: () => string): string | null => {
    const r = random();
    return r >= p ? value() : r < p / 2 ? null : '';
  };
  /** NULL for one user in 20 (no image), from the one draw the URL always took. */
  const profileImageUrl = (): string | null => {
    const n = Math.floor(random() * 1e9);
    return n % 20 === 0 ? null : `https://img.example.org/p/${n}.jpg`;
  };
  const profile = (): Record<string, string | null> => ({
    name: chance(0.05) ? '' : `${choose(FIRST_NAMES)} ${choose(LAST_NAMES)}`.trim(),
    description: unsetOr(0.1, () => `${words(3 + Math.floor(random() * 8))}${chance(0.2) ? ' ✨\n#cdc' : ''}`),
    location: choose(LOCATIONS),
    web_page_url: unsetOr(0.3, () => `https://example.org/~${Math.floor(random() * 1e6)}`),
    joined_date: joinedDate(),
    profile_image_url: profileImageUrl(),
    background_image_url: unsetOr(0.3, () => `https://img.example.org/b/${Math.floor(random() * 1e9)}.png`),
  });

  /** Runs the statements (in one transaction if more than one, or if `rollback`); false after a unique violation. */
  const execute = async (statements: Statement[], rollback = false): Promise<boolean> => {
    const transaction = statements.length > 1 || rollback;
    try {
      if (transaction) await db.query('BEGIN');
      for (const [sql, params] of statements) await db.query(sql, params);
      if (transaction) await db.query(rollback ? 'ROLLBACK' : 'COMMIT');
      return true;
    } catch (error) {
      if (transaction) await db.query('ROLLBACK');
      if ((error as { code?: unknown }).code === '23505') {
        skipped++;
        return false;
      }
      throw error;
    }
  };
  const note = async (operation: NotableOperation): Promise<void> => {
    log.push(operation);
    await options.onNotable?.(operation);
  };

  const insertUser = (user: string, username: string, fields: Record<string, string | null>): Statement => [
    `INSERT INTO users (user_id, username, name, description, location, web_page_url, joined_date,
                        profile_image_url, background_image_url)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      user,
      username,
      fields.name,
      fields.description,
      fields.location,
      fields.web_page_url,
      fields.joined_date,
      fields.profile_image_url,
      fields.background_image_url,
    ],
  ];
  const insertTweet = (tweet: string, owner: string): Statement => [
    'INSERT INTO tweets (tweet_id, text, user_id) VALUES ($1, $2, $3)',
    [tweet, `${words(2 + Math.floor(random() * 10))}${chance(0.1) ? ' 🚀' : ''}`, owner],
  ];
  const insertFollow = (follow: string, follower: string, followee: string): Statement => [
    'INSERT INTO follows (follow_id, follower_id, followee_id) VALUES ($1, $2, $3)',
    [follow, follower, followee],
  ];
  const deleteFollow = (follow: string): Statement => ['DELETE FROM follows WHERE follow_id = $1', [follow]];

  /** Two distinct existing users not yet in a follow pair, or undefined. */
  const freshPair = (): [string, string] | undefined => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const follower = model.users.pick(random);
      const followee = model.users.pick(random);
      if (follower === undefined || followee === undefined || follower === followee) continue;
      if (!model.followByPair.has(pairKey(follower, followee))) return [follower, followee];
    }
    return undefined;
  };
  const otherUser = (than: string): string | undefined => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const user = model.users.pick(random);
      if (user !== undefined && user !== than) return user;
    }
    return undefined;
  };

  type Operation = () => Promise<boolean>;
  const ops: Record<string, Operation> = {
    createUser: async () => {
      const user = newUserId();
      const username = newUsername();
      if (!(await execute([insertUser(user, username, profile())]))) return false;
      model.addUser(user);
      return true;
    },
    insertTweet: async () => {
      const owner = model.users.pick(random);
      if (owner === undefined) return false;
      const tweet = newTweetId();
      if (!(await execute([insertTweet(tweet, owner)]))) return false;
      model.addTweet(tweet, owner);
      return true;
    },
    insertLike: async () => {
      for (let attempt = 0; attempt < 10; attempt++) {
        const user = model.users.pick(random);
        const tweet = model.tweetBag.pick(random);
        if (user === undefined || tweet === undefined) return false;
        if (model.likePairs.has(pairKey(user, tweet))) continue;
        const like = newLikeId();
        const statement: Statement = [
          'INSERT INTO likes (like_id, user_id, tweet_id) VALUES ($1, $2, $3)',
          [like, user, tweet],
        ];
        if (!(await execute([statement]))) return false;
        model.addLike(like, user, tweet);
        return true;
      }
      return false;
    },
    insertFollow: async () => {
      const pair = freshPair();
      if (pair === undefined) return false;
      const follow = newFollowId();
      if (!(await execute([insertFollow(follow, ...pair)]))) return false;
      model.addFollow(follow, ...pair);
      return true;
    },
    updateProfile: async () => {
      const user = model.users.pick(random);
      if (user === undefined) return false;
      const fields = profile();
      const names = Object.keys(fields).filter(() => chance(0.4));
      const sets: string[] = [];
      const params: unknown[] = [user];
      for (const name of names) {
        params.push(fields[name]);
        sets.push(`${name} = $${params.length}`);
      }
      if (chance(0.2)) {
        params.push(newUsername());
        sets.push(`username = $${params.length}`);
      }
      // Sometimes an update that changes nothing: Debezium still emits an update event.
      if (sets.length === 0) sets.push('name = name');
      return execute([[`UPDATE users SET ${sets.join(', ')} WHERE user_id = $1`, params]]);
    },
    moveTweet: async () => {
      const tweet = model.tweetBag.pick(random);
      if (tweet === undefined) return false;
      const from = model.tweets.get(tweet) as string;
      const to = otherUser(from);
      if (to === undefined) return false;
      const before = { from: model.tweetCount(from), to: model.tweetCount(to) };
      if (!(await execute([['UPDATE tweets SET user_id = $2 WHERE tweet_id = $1', [tweet, to]]]))) return false;
      model.moveTweet(tweet, to);
      const after = { from: model.tweetCount(from), to: model.tweetCount(to) };
      await note({ kind: 'moveTweet', at, tweetId: tweet, from, to, before, after });
      return true;
    },
    moveLike: async () => {
      for (let attempt = 0; attempt < 10; attempt++) {
        const like = model.likeBag.pick(random);
        if (like === undefined) return false;
        const row = model.likes.get(like) as { user: string; tweet: string };
        const to = otherUser(row.user);
        if (to === undefined) return false;
        if (model.likePairs.has(pairKey(to, row.tweet))) continue;
        if (!(await execute([['UPDATE likes SET user_id = $2 WHERE like_id = $1', [like, to]]]))) return false;
        model.moveLike(like, to);
        await note({ kind: 'moveLike', at, likeId: like, tweetId: row.tweet, from: row.user, to });
        return true;
      }
      return false;
    },
    deleteTweet: async () => {
      const tweet = model.tweetBag.pick(random);
      if (tweet === undefined) return false;
      await execute([['DELETE FROM tweets WHERE tweet_id = $1', [tweet]]]);
      model.removeTweet(tweet);
      return true;
    },
    deleteLike: async () => {
      const like = model.likeBag.pick(random);
      if (like === undefined) return false;
      await execute([['DELETE FROM likes WHERE like_id = $1', [like]]]);
      model.removeLike(like);
      return true;
    },
    unfollow: async () => {
      const follow = model.followBag.pick(random);
      if (follow === undefined) return false;
      const row = model.follows.get(follow) as { follower: string; followee: string };
      await execute([deleteFollow(follow)]);
      model.removeFollow(follow);
      model.unfollowed.add(pairKey(row.follower, row.followee));
      return true;
    },
    refollow: async () => {
      for (let attempt = 0; attempt < 10; attempt++) {
        const pair = model.unfollowed.pick(random);
        if (pair === undefined) return false;
        const [follower, followee] = pair.split('/') as [string, string];
        if (!model.users.has(follower) || !model.users.has(followee)) {
          model.unfollowed.delete(pair);
          continue;
        }
        if (model.followByPair.has(pair)) continue;
        const follow = newFollowId();
        if (!(await execute([insertFollow(follow, follower, followee)]))) return false;
        model.addFollow(follow, follower, followee);
        model.unfollowed.delete(pair);
        return true;
      }
      return false;
    },
    /** Follow, unfollow and follow again, three transactions. */
    followCycle: async () => {
      const pair = freshPair();
      if (pair === undefined) return false;
      const followIds: string[] = [];
      for (const step of ['follow', 'unfollow', 'follow'] as const) {
        if (step === 'follow') {
          const follow = newFollowId();
          if (!(await execute([insertFollow(follow, ...pair)]))) return false;
          model.addFollow(follow, ...pair);
          followIds.push(follow);
        } else {
          const follow = followIds[followIds.length - 1] as string;
          await execute([deleteFollow(follow)]);
          model.removeFollow(follow);
        }
      }
      await note({ kind: 'refollow', at, followerId: pair[0], followeeId: pair[1], followIds });
      return true;
    },
    deleteUser: async () => {
      if (model.users.size <= 3) return false;
      const user = model.users.pick(random) as string;
      await execute([['DELETE FROM users WHERE user_id = $1', [user]]]);
      const cascaded = model.removeUser(user);
      await note({ kind: 'deleteUser', at, userId: user, cascaded });
      return true;
    },
    /** Re-creates a deleted user; one deleted user is always left deleted. */
    recreateUser: async () => {
      if (model.deleted.size < 2) return false;
      const user = model.deleted.pick(random) as string;
      const username = newUsername();
      if (!(await execute([insertUser(user, username, profile())]))) return false;
      model.addUser(user);
      await note({ kind: 'recreateUser', at, userId: user, username });
      return true;
    },
    transaction: async () => {
      const variant = Math.floor(random() * 3);
      if (variant === 0) {
        // A new user with a first tweet, following someone who follows back.
        const other = model.users.pick(random);
        if (other === undefined) return false;
        const user = newUserId();
        const tweet = newTweetId();
        const follows = [newFollowId(), newFollowId()] as const;
        const statements = [
          insertUser(user, newUsername(), profile()),
          insertTweet(tweet, user),
          insertFollow(follows[0], user, other),
          insertFollow(follows[1], other, user),
        ];
        if (!(await execute(statements))) return false;
        model.addUser(user);
        model.addTweet(tweet, user);
        model.addFollow(follows[0], user, other);
        model.addFollow(follows[1], other, user);
        await note({ kind: 'transaction', at, description: 'new user, tweet, follow and follow back', statements: 4 });
        return true;
      }
      if (variant === 1) {
        // Unfollow and follow again within one transaction: a new follow_id, the same pair.
        const follow = model.followBag.pick(random);
        if (follow === undefined) return false;
        const row = model.follows.get(follow) as { follower: string; followee: string };
        const again = newFollowId();
        if (!(await execute([deleteFollow(follow), insertFollow(again, row.follower, row.followee)]))) return false;
        model.removeFollow(follow);
        model.addFollow(again, row.follower, row.followee);
        await note({ kind: 'transaction', at, description: 'unfollow and follow again', statements: 2 });
        return true;
      }
      // Move a tweet to a new owner who likes it, delete another tweet of the old owner, edit the old owner.
      const tweet = model.tweetBag.pick(random);
      if (tweet === undefined) return false;
      const from = model.tweets.get(tweet) as string;
      const to = otherUser(from);
      if (to === undefined) return false;
      const statements: Statement[] = [['UPDATE tweets SET user_id = $2 WHERE tweet_id = $1', [tweet, to]]];
      const like = model.likePairs.has(pairKey(to, tweet)) ? undefined : newLikeId();
      if (like !== undefined) {
        statements.push(['INSERT INTO likes (like_id, user_id, tweet_id) VALUES ($1, $2, $3)', [like, to, tweet]]);
      }
      const doomed = [...model.tweets].find(([id, owner]) => owner === from && id !== tweet)?.[0];
      if (doomed !== undefined) statements.push(['DELETE FROM tweets WHERE tweet_id = $1', [doomed]]);
      statements.push(['UPDATE users SET description = $2 WHERE user_id = $1', [from, words(4)]]);
      if (!(await execute(statements))) return false;
      model.moveTweet(tweet, to);
      if (like !== undefined) model.addLike(like, to, tweet);
      if (doomed !== undefined) model.removeTweet(doomed);
      await note({
        kind: 'transaction',
        at,
        description: 'move a tweet, like it, delete another',
        statements: statements.length,
      });
      return true;
    },
    /** Changes that are rolled back leave no trace. */
    rollback: async () => {
      const user = model.users.pick(random);
      if (user === undefined) return false;
      const rolledBackUserId = newUserId(); // stays unused: it is not in userIds and must not exist
      const statements: Statement[] = [
        insertTweet(newTweetId(), user),
        ['UPDATE users SET name = $2 WHERE user_id = $1', [user, 'rolled back']],
        insertUser(rolledBackUserId, newUsername(), profile()),
      ];
      await execute(statements, true);
      const description = 'tweet, rename and new user, rolled back';
      await note({ kind: 'rollback', at, description, statements: 3, rolledBackUserId });
      return true;
    },
  };

  const weights: [string, number][] = [
    ['insertTweet', 20],
    ['insertLike', 16],
    ['insertFollow', 16],
    ['updateProfile', 8],
    ['moveTweet', 5],
    ['moveLike', 3],
    ['deleteTweet', 4],
    ['deleteLike', 4],
    ['unfollow', 5],
    ['refollow', 3],
    ['deleteUser', 2],
    ['recreateUser', 2],
    ['createUser', 3],
    ['transaction', 3],
    ['rollback', 1],
  ];
  const totalWeight = weights.reduce((sum, [, weight]) => sum + weight, 0);
  const randomKind = (): string => {
    let r = random() * totalWeight;
    for (const [kind, weight] of weights) {
      r -= weight;
      if (r < 0) return kind;
    }
    return 'insertTweet';
  };
  const forced = [
    'followCycle',
    'moveTweet',
    'deleteUser',
    'moveLike',
    'transaction',
    'deleteUser',
    'recreateUser',
    'unfollow',
    'refollow',
    'rollback',
    'moveTweet',
  ];
  const warmUp = Math.min(200, Math.max(4, Math.floor(operations * 0.08)));

  let paceOrigin = Date.now();
  let paced = 0;
  for (at = 0; at < operations && options.signal?.aborted !== true; at++) {
    let kind: string | undefined;
    if (at >= warmUp * 2 && at % 5 === 0 && forced[0] !== undefined && (await (ops[forced[0]] as Operation)())) {
      kind = forced.shift();
    }
    for (let attempt = 0; kind === undefined; attempt++) {
      if (attempt > 60) throw new Error(`workload: no operation possible at ${at}`);
      const candidate = at < warmUp || attempt >= 50 ? 'createUser' : randomKind();
      if (await (ops[candidate] as Operation)()) kind = candidate;
    }
    operationsByKind[kind] = (operationsByKind[kind] ?? 0) + 1;
    options.onProgress?.(at + 1);
    if (options.pauseMs !== undefined && options.pauseMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
    if (options.ratePerSecond !== undefined) {
      const due = paceOrigin + (++paced * 1000) / options.ratePerSecond;
      const now = Date.now();
      if (due > now) await new Promise((resolve) => setTimeout(resolve, due - now));
      else if (now - due > 1000) [paceOrigin, paced] = [now, 0];
    }
  }

  return {
    userIds: [...model.created],
    deletedUserIds: model.created.filter((user) => !model.users.has(user)),
    counts: model.counts(),
    log,
    operationsByKind,
    skipped,
  };
}

/** Workload runs for one test, each in an id range of its own, all removed by `removeAll`. */
export class WorkloadRuns {
  private readonly idBases: bigint[] = [];
  /** Ids of the users the runs created. */
  readonly created = new Set<string>();

  constructor(
    private readonly db: Client,
    private readonly seed: number,
  ) {}

  /** One more run (seeded by the test's seed and the run's number). */
  async run(operations: number, ratePerSecond?: number): Promise<void> {
    const idBase = freshIdBase();
    this.idBases.push(idBase);
    const result = await runWorkload(this.db, {
      seed: this.seed + this.idBases.length,
      operations,
      idBase,
      ratePerSecond,
    });
    for (const id of result.userIds) this.created.add(id);
  }

  async removeAll(): Promise<void> {
    for (const idBase of this.idBases) await removeWorkload(this.db, idBase);
  }
}
