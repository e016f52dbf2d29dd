/**
 * The User Information view: each user's profile left-joined with four counts
 * (tweets, following, followers, likes), kept current from the Debezium
 * change streams of the users, tweets, follows and likes tables.
 *
 *   users   ─ table ─ groupBy(userId) ─ latest ───────────────┐
 *   tweets  ─ table ─ groupBy(userId) ─ count ─────────────────┤
 *   follows ─ table ─ groupBy(followerId) ─ count (following) ─┤ left joins ─> user-information
 *           └──────── groupBy(followeeId) ─ count (followers) ─┤   (store + compacted topic)
 *   likes   ─ table ─ groupBy(userId) ─ count ─────────────────┘
 *
 * The tweet count's changes also feed tweets per user per hour (./tweet-activity.ts), kept in the
 * same tasks as the view.
 *
 * Every table is regrouped by the canonical userId (a decimal string), so the
 * five tables joined at the end are co-partitioned.
 */
import { StreamsBuilder } from '../src/dsl/builder.js';
import type { TopologyGraph } from '../src/dsl/graph.js';
import { debeziumLineage, debeziumSerde, type CdcChange, type JsonObject } from '../src/serdes/debezium.js';
import { answerRowSerde } from '../src/serdes/answer-row.js';
import { Serdes, type Serde } from '../src/serdes/index.js';
import { followRow, likeRow, tweetRow, userRow, type UserRow } from './cdc-rows.js';
import { addTweetActivity } from './tweet-activity.js';

/** A row of the view: exactly the seed's JSON document, plus the time of its newest change. */
export interface UserInformation extends UserRow {
  tweetCount: number;
  followingCount: number;
  followerCount: number;
  likeCount: number;
  /** Source commit time (ms) of the newest change reflected in the row. */
  updatedAt: number;
}

/** The document GET /users/:userId answers: the seed's fields, exactly. */
export type UserDocument = Omit<UserInformation, 'updatedAt'>;

export const VIEW_STORE = 'user-information';

export interface UserInformationOptions {
  /** Debezium's topic.prefix: topics are <prefix>.public.<table>. */
  cdcTopicPrefix: string;
  outputTopic: string;
  /** The output topic's value serde: Avro with the schema registry in production. */
  outputValueSerde: Serde<UserInformation>;
  /** Keep each row's lineage (GET /users/:userId/lineage; default false). */
  lineage?: boolean;
}

export const userIdSerde = Serdes.int64String;
/** The view store keeps each row as the answer GET gives (document, ETag, Last-Modified). */
export const viewSerde = answerRowSerde<UserInformation, UserDocument>({
  name: 'user-information',
  document: (v) => ({
    userId: v.userId,
    username: v.username,
    name: v.name,
    description: v.description,
    location: v.location,
    webPageUrl: v.webPageUrl,
    joinedDate: v.joinedDate,
    profileImageUrl: v.profileImageUrl,
    backgroundImageUrl: v.backgroundImageUrl,
    tweetCount: v.tweetCount,
    followingCount: v.followingCount,
    followerCount: v.followerCount,
    likeCount: v.likeCount,
  }),
  changedAt: (v) => v.updatedAt,
  value: (document, updatedAt) => ({ ...document, updatedAt }),
});

/**
 * The parts of a row GET /users/:userId/lineage explains, by the regrouping (repartition topic) their
 * changes reach the view's task through, and the store each part comes from. With lineage on, that
 * store keeps lineage too: a change that found no row in the view (the user's own record not arrived
 * yet, through its own repartition topic) still moved the part, and only its store saw it.
 */
export const VIEW_LINEAGE_PARTS = [
  { field: 'profile', grouping: 'users-by-id', store: 'users' },
  { field: 'tweetCount', grouping: 'tweets-by-user', store: 'tweet-count' },
  { field: 'followingCount', grouping: 'follows-by-follower', store: 'following-count' },
  { field: 'followerCount', grouping: 'follows-by-followee', store: 'follower-count' },
  { field: 'likeCount', grouping: 'likes-by-user', store: 'like-count' },
] as const;
const grouping = (field: (typeof VIEW_LINEAGE_PARTS)[number]['field']) =>
  VIEW_LINEAGE_PARTS.find((p) => p.field === field)!.grouping;

export function userInformationTopology(options: UserInformationOptions): TopologyGraph {
  const builder = new StreamsBuilder();
  const lineage = options.lineage ?? false;
  const table = <R extends object>(name: string, mapRow: (after: JsonObject) => R) =>
    builder
      .stream(`${options.cdcTopicPrefix}.public.${name}`, {
        keySerde: Serdes.bytes,
        valueSerde: debeziumSerde(name, mapRow),
        timestampExtractor: (change: CdcChange<R> | null, recordTime) => change?.committedAt ?? recordTime,
        ...(lineage ? { lineage: debeziumLineage<R>(name) } : {}),
      })
      .mapValues((change) => change?.row ?? null)
      .toTable({ storeName: `${name}-source`, keySerde: Serdes.bytes, valueSerde: Serdes.json<R>(name) });
  const byUser = (name: string) => ({ name, keySerde: userIdSerde, valueSerde: Serdes.string });

  const users = table('users', userRow)
    .groupBy((_k, user) => ({ key: user.userId, value: user }), {
      name: grouping('profile'),
      keySerde: userIdSerde,
      valueSerde: Serdes.json<UserRow>('user'),
    })
    .aggregate<UserRow | null>(
      () => null,
      (_id, user) => user,
      () => null,
      { storeName: 'users', valueSerde: Serdes.json<UserRow | null>('user'), lineage },
    );
  const tweetCount = table('tweets', tweetRow)
    .groupBy((_k, t) => ({ key: t.userId, value: t.tweetId }), byUser(grouping('tweetCount')))
    .count({ storeName: 'tweet-count', lineage });
  const follows = table('follows', followRow);
  const followingCount = follows
    .groupBy((_k, f) => ({ key: f.followerId, value: f.followId }), byUser(grouping('followingCount')))
    .count({ storeName: 'following-count', lineage });
  const followerCount = follows
    .groupBy((_k, f) => ({ key: f.followeeId, value: f.followId }), byUser(grouping('followerCount')))
    .count({ storeName: 'follower-count', lineage });
  const likeCount = table('likes', likeRow)
    .groupBy((_k, l) => ({ key: l.userId, value: l.likeId }), byUser(grouping('likeCount')))
    .count({ storeName: 'like-count', lineage });

  users
    .filter((_id, user) => user !== null)
    .leftJoin(tweetCount, (user, n) => ({ ...user!, tweetCount: n ?? 0 }))
    .leftJoin(followingCount, (view, n) => ({ ...view, followingCount: n ?? 0 }))
    .leftJoin(followerCount, (view, n) => ({ ...view, followerCount: n ?? 0 }))
    .leftJoin(likeCount, (view, n) => ({ ...view, likeCount: n ?? 0 }))
    .mapValues((view, _id, timestamp): UserInformation => ({ ...view, updatedAt: timestamp ?? 0 }), {
      storeName: VIEW_STORE,
      keySerde: userIdSerde,
      valueSerde: viewSerde,
      // Which source change last moved the row and each count: GET /users/:userId/lineage.
      lineage,
    })
    .toStream()
    .to(options.outputTopic, { keySerde: userIdSerde, valueSerde: options.outputValueSerde });
  addTweetActivity(builder, tweetCount.toStream(), userIdSerde);

  return builder.build();
}
