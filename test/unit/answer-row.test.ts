// A view row stored as its HTTP answer: body, ETag and Last-Modified worked out once, at write.
import t from 'tap';
import { entityTag } from '../../src/serdes/answer-row.js';
import { DeserializationError } from '../../src/serdes/serde.js';
import { stringifyJson } from '../../src/serdes/json.js';
import { viewSerde, type UserInformation } from '../../topology/user-information.js';

const view: UserInformation = {
  userId: '9223372036854775807',
  username: 'big',
  name: 'Name "big" é',
  description: '',
  location: 'here',
  webPageUrl: 'https://example.com',
  joinedDate: '2020-01-02T03:04:05.000006Z',
  profileImageUrl: 'p.png',
  backgroundImageUrl: 'b.png',
  tweetCount: 1,
  followingCount: 2,
  followerCount: 3,
  likeCount: 4,
  updatedAt: 1_796_179_743_363,
};
const { updatedAt, ...document } = view;

t.test('entity tags', async (t) => {
  const row = Buffer.from('{"userId":"1","tweetCount":3}');
  t.equal(entityTag(row), entityTag(Buffer.from(row)), 'stable for the same bytes');
  t.match(entityTag(row), /^"[0-9a-z]+-[0-9a-z]+"$/, 'a quoted strong validator');
  const tags = new Set<string>();
  for (let n = 0; n < 1000; n++) tags.add(entityTag(Buffer.from(`{"userId":"1","tweetCount":${n}}`)));
  t.equal(tags.size, 1000, 'every count gives a different tag');
});

t.test('a stored row is its answer', async (t) => {
  const stored = viewSerde.serialize(view);
  t.same(viewSerde.deserialize(stored), view, 'the value comes back, change time included');
  const answer = viewSerde.answer(stored);
  t.same(JSON.parse(answer.body.toString('utf8')), document, 'the body is the seed document, nothing more');
  t.equal(answer.body.toString('utf8'), stringifyJson(document), 'properties in the schema order');
  t.equal(answer.etag, entityTag(answer.body), 'the ETag validates the body');
  t.equal(answer.lastModified, new Date(updatedAt).toUTCString());
  t.equal(
    viewSerde.answer(viewSerde.serialize({ ...view, updatedAt: updatedAt + 1 })).etag,
    answer.etag,
    'the same body keeps its ETag when only the change time moves',
  );
  t.not(viewSerde.answer(viewSerde.serialize({ ...view, likeCount: 5 })).etag, answer.etag);
});

t.test('a row written as plain JSON (before this format) is still read and answered', async (t) => {
  const legacy = Buffer.from(stringifyJson(view));
  t.same(viewSerde.deserialize(legacy), view);
  const answer = viewSerde.answer(legacy);
  t.same(answer, viewSerde.answer(viewSerde.serialize(view)), 'the same answer as the new format gives');
});

t.test('bytes that are not a row fail with a DeserializationError', async (t) => {
  const stored = viewSerde.serialize(view);
  for (const bad of [Buffer.alloc(0), Buffer.from([1, 2, 3]), stored.subarray(0, 20), Buffer.from('xyz')]) {
    t.throws(() => viewSerde.deserialize(bad), DeserializationError, `${bad.length} bytes`);
  }
});
