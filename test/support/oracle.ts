// The expected view of each user, computed straight from the PostgreSQL source tables: what
// `GET /users/:userId` must serve once the change streams have been processed. A user that is
// absent from the result does not exist (404).
//
// joined_date is rendered the way Debezium 3.6 (pgoutput, JsonConverter) renders a timestamptz,
// as observed on the local stack: UTC, a 'Z' suffix and always exactly six fractional digits,
// e.g. 2026-11-27T09:00:43.000000Z, 2026-11-27T09:00:43.780000Z, 2026-11-27T09:00:43.788156Z.
// Years above 9999 get a '+' (+12026-01-01T00:00:00.000000Z); BC years use astronomical numbering
// (44 BC is -0043-03-15T12:00:00.000000Z); infinite values are the strings infinity / -infinity.
import type { Client } from 'pg';
import type { UserDocument } from '../../topology/user-information.js';

/** The document the service must answer for a user (the seed's fields). */
export type ExpectedUser = UserDocument;

/**
 * A SQL expression rendering the timestamptz `column` as Debezium does (see the file comment).
 * Independent of the session's TimeZone and DateStyle.
 */
export function debeziumTimestampSql(column: string): string {
  const utc = `(${column} AT TIME ZONE 'UTC')`;
  // EXTRACT(YEAR) counts 1 BC as -1; ISO 8601 (and Java) count it as year 0.
  const year = `(CASE WHEN EXTRACT(YEAR FROM ${utc}) < 0 THEN EXTRACT(YEAR FROM ${utc})::int + 1 ELSE EXTRACT(YEAR FROM ${utc})::int END)`;
  return (
    `(CASE WHEN NOT isfinite(${column}) THEN ${column}::text ELSE ` +
    `(CASE WHEN ${year} > 9999 THEN '+' || ${year}::text ` +
    `WHEN ${year} < 0 THEN '-' || lpad((-${year})::text, 4, '0') ` +
    `ELSE lpad(${year}::text, 4, '0') END) || ` +
    `to_char(${utc}, '-MM-DD"T"HH24:MI:SS.US"Z"') END)`
  );
}

const MICROS_PER_DAY = 86_400_000_000n;

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** Proleptic Gregorian year, month (1-12) and day of a day count since 1970-01-01. */
function civilFromDays(days: bigint): { year: bigint; month: number; day: number } {
  const z = days + 719_468n; // days since 0000-03-01
  const era = floorDiv(z, 146_097n);
  const dayOfEra = z - era * 146_097n; // [0, 146096]
  const yearOfEra = (dayOfEra - dayOfEra / 1_460n + dayOfEra / 36_524n - dayOfEra / 146_096n) / 365n; // [0, 399]
  const dayOfYear = dayOfEra - (365n * yearOfEra + yearOfEra / 4n - yearOfEra / 100n); // [0, 365], from March 1
  const shiftedMonth = (5n * dayOfYear + 2n) / 153n; // [0, 11], 0 = March
  const day = Number(dayOfYear - (153n * shiftedMonth + 2n) / 5n + 1n);
  const month = Number(shiftedMonth < 10n ? shiftedMonth + 3n : shiftedMonth - 9n);
  const year = yearOfEra + era * 400n + (month <= 2 ? 1n : 0n);
  return { year, month, day };
}

const pad = (value: number | bigint, width: number): string => value.toString().padStart(width, '0');

/**
 * Renders a timestamptz given as PostgreSQL's `EXTRACT(EPOCH FROM ts)::text` (seconds with up to six
 * fractional digits, or Infinity / -Infinity) the way Debezium does. The JavaScript twin of
 * debeziumTimestampSql, so each can check the other.
 */
export function debeziumTimestampFromEpoch(epoch: string): string {
  if (epoch === 'Infinity') return 'infinity';
  if (epoch === '-Infinity') return '-infinity';
  const match = /^(-?)(\d+)(?:\.(\d{1,6}))?$/.exec(epoch);
  if (!match) throw new Error(`not an epoch in seconds: ${epoch}`);
  const [, sign = '', whole = '0', fraction = ''] = match;
  const magnitude = BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
  const micros = sign === '-' ? -magnitude : magnitude;
  const days = floorDiv(micros, MICROS_PER_DAY);
  let rest = micros - days * MICROS_PER_DAY;
  const { year, month, day } = civilFromDays(days);
  const microsecond = rest % 1_000_000n;
  rest /= 1_000_000n;
  const second = rest % 60n;
  rest /= 60n;
  const minute = rest % 60n;
  const hour = rest / 60n;
  const yearText = year > 9999n ? `+${year}` : year < 0n ? `-${pad(-year, 4)}` : pad(year, 4);
  return `${yearText}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}.${pad(microsecond, 6)}Z`;
}

/** A users row as pg returns it: a NULL column is null, as the service must serve it (JSON null, not ''). */
interface ProfileRow {
  user_id: string;
  username: string;
  name: string;
  description: string | null;
  location: string | null;
  web_page_url: string | null;
  joined_date: string;
  profile_image_url: string | null;
  background_image_url: string | null;
}

interface CountedRow extends ProfileRow {
  tweet_count: string;
  following_count: string;
  follower_count: string;
  like_count: string;
}

type Counts = Pick<ExpectedUser, 'tweetCount' | 'followingCount' | 'followerCount' | 'likeCount'>;

function toExpected(row: ProfileRow, counts: Counts): ExpectedUser {
  return {
    userId: row.user_id,
    username: row.username,
    name: row.name,
    description: row.description,
    location: row.location,
    webPageUrl: row.web_page_url,
    joinedDate: row.joined_date,
    profileImageUrl: row.profile_image_url,
    backgroundImageUrl: row.background_image_url,
    ...counts,
  };
}

/**
 * The expected view of every user (or of `userIds` only), keyed by the id as text. Same semantics as
 * running expectedUserBySeedQueries for each user, in five set-based queries' worth of work.
 */
export async function expectedUsers(db: Client, userIds?: string[]): Promise<Map<string, ExpectedUser>> {
  const only = userIds !== undefined;
  const filter = (column: string): string => (only ? `WHERE ${column} = ANY ($1::bigint[])` : '');
  const sql = `
    WITH t AS (SELECT user_id, count(*) AS n FROM tweets ${filter('user_id')} GROUP BY user_id),
         fing AS (SELECT follower_id AS user_id, count(*) AS n FROM follows ${filter('follower_id')} GROUP BY follower_id),
         fers AS (SELECT followee_id AS user_id, count(*) AS n FROM follows ${filter('followee_id')} GROUP BY followee_id),
         l AS (SELECT user_id, count(*) AS n FROM likes ${filter('user_id')} GROUP BY user_id)
    SELECT u.user_id::text AS user_id, u.username, u.name, u.description, u.location, u.web_page_url,
           ${debeziumTimestampSql('u.joined_date')} AS joined_date, u.profile_image_url, u.background_image_url,
           coalesce(t.n, 0)::text AS tweet_count, coalesce(fing.n, 0)::text AS following_count,
           coalesce(fers.n, 0)::text AS follower_count, coalesce(l.n, 0)::text AS like_count
    FROM users u
    LEFT JOIN t ON t.user_id = u.user_id
    LEFT JOIN fing ON fing.user_id = u.user_id
    LEFT JOIN fers ON fers.user_id = u.user_id
    LEFT JOIN l ON l.user_id = u.user_id
    ${filter('u.user_id')}
    ORDER BY u.user_id`;
  const result = await db.query<CountedRow>(sql, only ? [userIds] : []);
  const users = new Map<string, ExpectedUser>();
  for (const row of result.rows) {
    users.set(
      row.user_id,
      toExpected(row, {
        tweetCount: Number(row.tweet_count),
        followingCount: Number(row.following_count),
        followerCount: Number(row.follower_count),
        likeCount: Number(row.like_count),
      }),
    );
  }
  return users;
}

/**
 * The expected view of one user by the seed's five queries, run literally one after the other;
 * undefined if the user does not exist. joined_date is rendered in JavaScript from the exact epoch
 * (debeziumTimestampFromEpoch), independently of debeziumTimestampSql.
 */
export async function expectedUserBySeedQueries(db: Client, userId: string): Promise<ExpectedUser | undefined> {
  // SELECT * as the seed does; pg parses joined_date into a Date (millisecond precision), so the exact
  // value comes from the epoch, and the id from its text (in case a global int8 parser is installed).
  const user = await db.query<
    Omit<ProfileRow, 'user_id' | 'joined_date'> & {
      user_id: unknown;
      joined_date: unknown;
      user_id_text: string;
      joined_epoch: string;
    }
  >(
    `SELECT *, user_id::text AS user_id_text, EXTRACT(EPOCH FROM joined_date)::text AS joined_epoch
     FROM users WHERE user_id = $1`,
    [userId],
  );
  const row = user.rows[0];
  if (row === undefined) return undefined;
  const count = async (sql: string): Promise<number> => {
    const result = await db.query<{ count: string }>(sql, [userId]);
    return Number(result.rows[0]?.count ?? '0');
  };
  const tweetCount = await count('SELECT COUNT(*) AS count FROM tweets WHERE user_id = $1');
  const followingCount = await count('SELECT COUNT(*) AS count FROM follows WHERE follower_id = $1');
  const followerCount = await count('SELECT COUNT(*) AS count FROM follows WHERE followee_id = $1');
  const likeCount = await count('SELECT COUNT(*) AS count FROM likes WHERE user_id = $1');
  return toExpected(
    { ...row, user_id: row.user_id_text, joined_date: debeziumTimestampFromEpoch(row.joined_epoch) },
    { tweetCount, followingCount, followerCount, likeCount },
  );
}
