// The user-information topology on Debezium-shaped change events, in the test driver.
import t from 'tap';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import { stringifyJson } from '../../src/serdes/json.js';
import { Serdes } from '../../src/serdes/index.js';
import { InvalidRecordError } from '../../src/processor/errors.js';
import { userRow } from '../../topology/cdc-rows.js';
import {
  userInformationTopology,
  viewSerde,
  userIdSerde,
  VIEW_STORE,
  type UserDocument,
  type UserInformation,
} from '../../topology/user-information.js';

const BIG = 9223372036854775807n; // 2^63 - 1: beyond 2^53, must stay exact
let clock = 1_700_000_000_000;

function driver() {
  return new TopologyTestDriver(
    userInformationTopology({ cdcTopicPrefix: 'cdc', outputTopic: 'user-information', outputValueSerde: viewSerde }),
  );
}

type Row = Record<string, string | bigint | number | null>;
/** How change() writes events: Debezium's envelope, or flattened by ExtractNewRecordState as the stack's connector does. */
let shape: 'envelope' | 'flattened' = 'envelope';
/** Sends a change event the way Debezium's JsonConverter (schemas off) writes it, in the current shape. */
function change(d: TopologyTestDriver, table: string, pk: string, op: 'c' | 'u' | 'd' | 'r', row: Row, before?: Row) {
  const key = Buffer.from(stringifyJson({ [pk]: row[pk] }));
  const ts = ++clock;
  const event =
    shape === 'envelope'
      ? {
          before: op === 'd' ? row : (before ?? null),
          after: op === 'd' ? null : row,
          source: { connector: 'postgresql', table, ts_ms: ts },
          op,
          ts_ms: ts + 5,
        }
      : // delete.tombstone.handling.mode=rewrite-with-tombstone, add.fields=op,source.ts_ms
        { ...row, __op: op, __source_ts_ms: ts, ...(op === 'd' ? { __deleted: 'true' } : {}) };
  d.pipeRaw(`cdc.public.${table}`, key, Buffer.from(stringifyJson(event)));
  if (op === 'd') d.pipeRaw(`cdc.public.${table}`, key, null); // Debezium's tombstone
  return ts;
}
const user = (id: bigint, username: string): Row => ({
  user_id: id,
  username,
  name: `Name ${username}`,
  description: 'desc',
  location: 'here',
  web_page_url: 'https://example.com',
  joined_date: '2020-01-02T03:04:05.000006Z',
  profile_image_url: 'p.png',
  background_image_url: 'b.png',
});
const view = (d: TopologyTestDriver, id: bigint | string) => d.get<string, UserInformation>(VIEW_STORE, String(id));

t.test('a user with no activity: the seed document with zero counts, ids exact beyond 2^53', async (t) => {
  const d = driver();
  const committed = change(d, 'users', 'user_id', 'r', user(BIG, 'big'));
  t.same(view(d, BIG), {
    userId: '9223372036854775807',
    username: 'big',
    name: 'Name big',
    description: 'desc',
    location: 'here',
    webPageUrl: 'https://example.com',
    joinedDate: '2020-01-02T03:04:05.000006Z',
    profileImageUrl: 'p.png',
    backgroundImageUrl: 'b.png',
    tweetCount: 0,
    followingCount: 0,
    followerCount: 0,
    likeCount: 0,
    updatedAt: committed,
  });
  t.same(d.deadLetters, []);
});

t.test('counts follow inserts, moves between users, deletes and re-follows', async (t) => {
  const d = driver();
  change(d, 'users', 'user_id', 'c', user(1n, 'a'));
  change(d, 'users', 'user_id', 'c', user(2n, 'b'));
  change(d, 'tweets', 'tweet_id', 'c', { tweet_id: 10n, text: 'x', user_id: 1n });
  change(d, 'tweets', 'tweet_id', 'c', { tweet_id: 11n, text: 'y', user_id: 1n });
  change(d, 'tweets', 'tweet_id', 'u', { tweet_id: 11n, text: 'y', user_id: 2n }); // moved to user 2
  change(d, 'likes', 'like_id', 'c', { like_id: 20n, user_id: 2n, tweet_id: 10n });
  change(d, 'follows', 'follow_id', 'c', { follow_id: 30n, follower_id: 1n, followee_id: 2n });
  change(d, 'follows', 'follow_id', 'd', { follow_id: 30n, follower_id: 1n, followee_id: 2n }); // unfollow
  const last = change(d, 'follows', 'follow_id', 'c', { follow_id: 31n, follower_id: 1n, followee_id: 2n }); // follow again
  t.match(view(d, 1n), { tweetCount: 1, followingCount: 1, followerCount: 0, likeCount: 0 });
  t.match(view(d, 2n), { tweetCount: 1, followingCount: 0, followerCount: 1, likeCount: 1, updatedAt: last });
  change(d, 'tweets', 'tweet_id', 'd', { tweet_id: 10n, text: 'x', user_id: 1n });
  t.match(view(d, 1n), { tweetCount: 0 });
});

t.test('counts arriving before their user are joined when the user appears', async (t) => {
  const d = driver();
  change(d, 'tweets', 'tweet_id', 'c', { tweet_id: 10n, text: 'x', user_id: 5n });
  change(d, 'follows', 'follow_id', 'c', { follow_id: 30n, follower_id: 6n, followee_id: 5n });
  t.equal(view(d, 5n), null);
  change(d, 'users', 'user_id', 'c', user(5n, 'late'));
  t.match(view(d, 5n), { userId: '5', tweetCount: 1, followerCount: 1 });
});

t.test('deleting a user removes it from the view and writes a tombstone', async (t) => {
  const d = driver();
  change(d, 'users', 'user_id', 'c', user(7n, 'gone'));
  change(d, 'users', 'user_id', 'u', { ...user(7n, 'gone'), name: 'Renamed' });
  t.match(view(d, 7n), { name: 'Renamed' });
  change(d, 'users', 'user_id', 'd', user(7n, 'gone'));
  t.equal(view(d, 7n), null);
  const out = d.readOutput('user-information', { keySerde: userIdSerde, valueSerde: viewSerde });
  t.same(out.at(-1)?.key, '7');
  t.equal(out.at(-1)?.value, null, 'the last output record for the user is a tombstone');
  t.same([...d.readCompacted('user-information', { keySerde: userIdSerde, valueSerde: viewSerde }).keys()], []);
});

t.test('bad change events become dead letters and processing goes on', async (t) => {
  const d = driver();
  d.pipeRaw('cdc.public.users', Buffer.from('{"user_id":1}'), Buffer.from('not json'));
  d.pipeRaw('cdc.public.users', Buffer.from('{"user_id":1}'), Buffer.from('{"op":"x","source":{"ts_ms":1}}'));
  d.pipeRaw(
    'cdc.public.tweets',
    Buffer.from('{"tweet_id":1}'),
    Buffer.from('{"op":"c","after":{"tweet_id":1,"user_id":"abc"},"source":{"ts_ms":1}}'),
  );
  d.pipeRaw(
    'cdc.public.tweets',
    Buffer.from('{"tweet_id":2}'),
    Buffer.from('{"op":"c","after":{"tweet_id":2,"user_id":1.5},"source":{"ts_ms":1}}'),
  );
  change(d, 'users', 'user_id', 'c', user(1n, 'ok'));
  t.same(
    d.deadLetters.map((l) => l.reason),
    ['DeserializationError', 'InvalidRecordError', 'InvalidRecordError', 'InvalidRecordError'],
  );
  t.match(view(d, 1n), { username: 'ok', tweetCount: 0 }, 'the good record after them is processed');
});

t.test('flattened events (ExtractNewRecordState) give the same view and output as envelopes', async (t) => {
  const run = async (as: typeof shape) => {
    shape = as;
    clock = 1_800_000_000_000;
    const d = driver();
    change(d, 'users', 'user_id', 'r', user(BIG, 'big'));
    change(d, 'users', 'user_id', 'c', user(2n, 'b'));
    change(d, 'users', 'user_id', 'c', user(3n, 'c'));
    change(d, 'tweets', 'tweet_id', 'c', { tweet_id: 10n, text: 'x', user_id: BIG });
    change(d, 'tweets', 'tweet_id', 'u', { tweet_id: 10n, text: 'x', user_id: 2n });
    change(d, 'follows', 'follow_id', 'c', { follow_id: 30n, follower_id: BIG, followee_id: 2n });
    change(d, 'likes', 'like_id', 'c', { like_id: 20n, user_id: 2n, tweet_id: 10n });
    change(d, 'likes', 'like_id', 'd', { like_id: 20n, user_id: 2n, tweet_id: 10n });
    change(d, 'users', 'user_id', 'u', { ...user(2n, 'b'), name: 'Renamed' });
    change(d, 'users', 'user_id', 'd', user(3n, 'c'));
    shape = 'envelope';
    t.same(d.deadLetters, [], `${as}: no dead letters`);
    return {
      view: await d.all<string, UserInformation>(VIEW_STORE),
      output: d.readOutput('user-information', { keySerde: userIdSerde, valueSerde: viewSerde }),
    };
  };
  const envelope = await run('envelope');
  const flattened = await run('flattened');
  t.same([...flattened.view.keys()].sort(), ['2', BIG.toString()]);
  t.match(flattened.view.get('2'), { name: 'Renamed', tweetCount: 1, followerCount: 1, likeCount: 0 });
  t.same(flattened.view, envelope.view, 'the same view, commit times included');
  t.same(flattened.output, envelope.output, 'the same output records');
});

t.test('a flattened event without its op or commit time is a dead letter', async (t) => {
  const d = driver();
  const key = Buffer.from('{"user_id":1}');
  d.pipeRaw('cdc.public.users', key, Buffer.from('{"user_id":1,"__op":"x","__source_ts_ms":1}'));
  d.pipeRaw('cdc.public.users', key, Buffer.from('{"user_id":1,"username":"u","__op":"c"}'));
  d.pipeRaw('cdc.public.users', key, Buffer.from('{"user_id":"abc","__op":"c","__source_ts_ms":1}'));
  t.same(
    d.deadLetters.map((l) => l.reason),
    ['InvalidRecordError', 'InvalidRecordError', 'InvalidRecordError'],
  );
  t.match(
    d.deadLetters.map((l) => l.error.message),
    [/unknown op "x"/, /no source.ts_ms/, /not a 64-bit id/],
  );
});

t.test('nullable columns: NULL is null, an empty string stays empty, a value stays itself', async (t) => {
  const nullable = ['description', 'location', 'web_page_url', 'profile_image_url', 'background_image_url'];
  const fields = ['description', 'location', 'webPageUrl', 'profileImageUrl', 'backgroundImageUrl'] as const;
  const row = (value: string | null) => ({
    ...user(1n, 'u'),
    ...Object.fromEntries(nullable.map((column) => [column, value])),
  });
  for (const value of [null, '', 'x y']) {
    const mapped = userRow(row(value));
    for (const field of fields) t.equal(mapped[field], value, `${field} from ${JSON.stringify(value)}`);
  }
  const { description: _absent, ...withoutDescription } = user(1n, 'u');
  t.equal(userRow(withoutDescription).description, null, 'a column the event does not carry is null');
  t.equal(userRow({ ...user(1n, 'u'), name: null }).name, '', 'name is NOT NULL: a missing value stays ""');
  t.throws(() => userRow({ ...user(1n, 'u'), location: 5 }), InvalidRecordError, 'a number is not text');
});

t.test('NULL columns reach the view, its stored answer and the output as null, and back to values', async (t) => {
  for (const as of ['envelope', 'flattened'] as const) {
    shape = as;
    const d = driver();
    const unset = { ...user(8n, 'n'), description: null, location: '', web_page_url: null, profile_image_url: null };
    change(d, 'users', 'user_id', 'c', unset);
    const row = view(d, 8n);
    t.strictSame(
      row && [row.description, row.location, row.webPageUrl, row.profileImageUrl, row.backgroundImageUrl],
      [null, '', null, null, 'b.png'],
      `${as}: the view row has null where the column is NULL, "" where it is empty`,
    );
    change(d, 'users', 'user_id', 'u', { ...unset, description: 'now set', location: null });
    t.strictSame(
      d
        .readOutput('user-information', { keySerde: userIdSerde, valueSerde: Serdes.bytes })
        .flatMap(({ value }) => (value === null ? [] : [viewSerde.answer(value).body.toString('utf8')]))
        .map((body) => {
          const document = JSON.parse(body) as UserDocument;
          return [document.description, document.location, document.webPageUrl];
        }),
      [
        [null, '', null],
        ['now set', null, null],
      ],
      `${as}: the stored answers (the HTTP bodies) have JSON null, NULL <-> value both ways`,
    );
    t.same(d.deadLetters, []);
  }
  shape = 'envelope';
});
