// The rows of the source tables as the topology uses them, read from
// Debezium's `after` images. Ids become exact decimal strings.
import { InvalidRecordError } from '../src/processor/errors.js';
import type { JsonObject } from '../src/serdes/debezium.js';
import { toInt64String } from '../src/serdes/primitive.js';

export interface UserRow {
  userId: string;
  username: string;
  name: string;
  /** Nullable columns: null when the column is NULL (not set), which is not the same as ''. */
  description: string | null;
  location: string | null;
  webPageUrl: string | null;
  joinedDate: string;
  profileImageUrl: string | null;
  backgroundImageUrl: string | null;
}
export interface TweetRow {
  tweetId: string;
  userId: string;
}
export interface FollowRow {
  followId: string;
  followerId: string;
  followeeId: string;
}
export interface LikeRow {
  likeId: string;
  userId: string;
  tweetId: string;
}

function id(row: JsonObject, column: string): string {
  try {
    return toInt64String(row[column]);
  } catch {
    throw new InvalidRecordError(`column ${column} is not a 64-bit id: ${String(row[column])}`);
  }
}

/** A NOT NULL text column (username, name): '' if the event does not carry it. */
function text(row: JsonObject, column: string): string {
  return nullableText(row, column) ?? '';
}

/** A nullable text column: NULL (or a column the event does not carry) is null, never ''. */
function nullableText(row: JsonObject, column: string): string | null {
  const value = row[column];
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') throw new InvalidRecordError(`column ${column} is not text`);
  return value;
}

/** timestamptz arrives as an ISO string (Debezium ZonedTimestamp); date as days since the epoch. */
function isoDate(row: JsonObject, column: string): string {
  const value = row[column];
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return new Date(value * 86_400_000).toISOString().slice(0, 10);
  if (value === null || value === undefined) return '';
  throw new InvalidRecordError(`column ${column} is not a date`);
}

export const userRow = (r: JsonObject): UserRow => ({
  userId: id(r, 'user_id'),
  username: text(r, 'username'),
  name: text(r, 'name'),
  description: nullableText(r, 'description'),
  location: nullableText(r, 'location'),
  webPageUrl: nullableText(r, 'web_page_url'),
  joinedDate: isoDate(r, 'joined_date'),
  profileImageUrl: nullableText(r, 'profile_image_url'),
  backgroundImageUrl: nullableText(r, 'background_image_url'),
});

export const tweetRow = (r: JsonObject): TweetRow => ({ tweetId: id(r, 'tweet_id'), userId: id(r, 'user_id') });

export const followRow = (r: JsonObject): FollowRow => ({
  followId: id(r, 'follow_id'),
  followerId: id(r, 'follower_id'),
  followeeId: id(r, 'followee_id'),
});

export const likeRow = (r: JsonObject): LikeRow => ({
  likeId: id(r, 'like_id'),
  userId: id(r, 'user_id'),
  tweetId: id(r, 'tweet_id'),
});
