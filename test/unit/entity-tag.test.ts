// The ETag of a stored row: the same bytes give the same tag, any change gives another.
import t from 'tap';
import { entityTag } from '../../src/serving/routes/users.js';

t.test('entity tags', async (t) => {
  const row = Buffer.from('{"userId":"1","tweetCount":3}');
  t.equal(entityTag(row), entityTag(Buffer.from(row)), 'stable for the same bytes');
  t.match(entityTag(row), /^"[0-9a-z]+-[0-9a-z]+"$/, 'a quoted strong validator');
  const tags = new Set<string>();
  for (let n = 0; n < 1000; n++) tags.add(entityTag(Buffer.from(`{"userId":"1","tweetCount":${n}}`)));
  t.equal(tags.size, 1000, 'every count gives a different tag');
});
