// Lineage through the user-information topology, in the test driver: which source change last moved
// each part of a row, carried through the repartition topics and kept in the view's lineage store.
import t from 'tap';
import { TopologyTestDriver } from '../../src/testing/test-driver.js';
import type { OutgoingRecord } from '../../src/processor/types.js';
import { TaskCore, type InputRecord } from '../../src/runtime/task-core.js';
import { MemoryBackend } from '../../src/state/memory-backend.js';
import { TaskState } from '../../src/state/task-state.js';
import { stringifyJson } from '../../src/serdes/json.js';
import {
  decodeLineage,
  describeRecord,
  isLater,
  laterOf,
  LINEAGE_HEADER,
  lineageKey,
  lineageStoreName,
} from '../../src/processor/lineage.js';
import { repartitionTopicName } from '../../src/processor/compile.js';
import { readDebeziumLineage } from '../../src/serdes/debezium.js';
import { userInformationTopology, viewSerde, VIEW_LINEAGE_PARTS, VIEW_STORE } from '../../topology/user-information.js';

const APP = 'lineage-app';
let clock = 1_700_000_000_000;
let lsn = 0x16b6c50;

function driver() {
  return new TopologyTestDriver(
    userInformationTopology({
      cdcTopicPrefix: 'cdc',
      outputTopic: 'user-information',
      outputValueSerde: viewSerde,
      lineage: true,
    }),
    APP,
  );
}

/** A flattened Debezium event (add.fields=op,source.ts_ms,source.lsn), as the stack's connector writes it. */
function change(
  d: TopologyTestDriver,
  table: string,
  pk: string,
  op: 'c' | 'u' | 'd',
  row: Record<string, unknown>,
  at = { committedAt: ++clock, lsn: (lsn += 0x100) },
) {
  const key = Buffer.from(stringifyJson({ [pk]: row[pk] as bigint }));
  const event = {
    ...row,
    __op: op,
    __source_ts_ms: at.committedAt,
    __source_lsn: at.lsn,
    ...(op === 'd' ? { __deleted: 'true' } : {}),
  };
  d.pipeRaw(`cdc.public.${table}`, key, Buffer.from(stringifyJson(event as never)));
  return { committedAt: at.committedAt, lsn: String(at.lsn) };
}
const user = (id: bigint, name: string) => ({
  user_id: id,
  username: name,
  name,
  description: null,
  location: null,
  web_page_url: null,
  joined_date: '2020-01-02T03:04:05Z',
  profile_image_url: null,
  background_image_url: null,
});
const follow = (id: bigint, follower: bigint, followee: bigint) => ({
  follow_id: id,
  follower_id: follower,
  followee_id: followee,
});

/** A part's lineage as GET /users/:userId/lineage reads it (src/service/view-lineage.ts): the later of the row's and its store's. */
function lineageOf(d: TopologyTestDriver, userId: string, field: (typeof VIEW_LINEAGE_PARTS)[number]['field']) {
  const part = VIEW_LINEAGE_PARTS.find((p) => p.field === field)!;
  const sources = d.topology.subtopologies.find((s) => s.stores.some((st) => st.name === VIEW_STORE))!.sources;
  const index = sources.findIndex((s) => s.topic === repartitionTopicName(APP, part.grouping));
  const key = lineageKey(Buffer.from(userId), index);
  const read = (store: string) => d.get<Buffer, Buffer>(lineageStoreName(store), key) ?? undefined;
  const stored = laterOf(read(VIEW_STORE), read(part.store));
  if (stored === undefined) return null;
  const { key: sourceKey, facts, ...rest } = decodeLineage(stored);
  return { ...rest, key: sourceKey?.toString(), ...readDebeziumLineage(facts) };
}

t.test("a part's changes made before its row existed still count: the user's record arrives last", async (t) => {
  // The user's record and the follows reach the view's task through different repartition topics, from
  // different tasks: the follows may come first, when the row does not exist yet.
  const d = driver();
  const created = { committedAt: ++clock, lsn: (lsn += 0x100) };
  const followed = { committedAt: ++clock, lsn: (lsn += 0x100) };
  const unfollowed = { committedAt: ++clock, lsn: (lsn += 0x100) };
  change(d, 'follows', 'follow_id', 'c', follow(10n, 2n, 1n), followed);
  change(d, 'follows', 'follow_id', 'd', follow(10n, 2n, 1n), unfollowed);
  change(d, 'users', 'user_id', 'c', user(1n, 'ann'), created);
  change(d, 'follows', 'follow_id', 'c', follow(11n, 3n, 1n), { ...followed, lsn: followed.lsn + 8 });
  t.match(
    lineageOf(d, '1', 'followerCount'),
    { op: 'd', key: '{"follow_id":10}', lsn: String(unfollowed.lsn) },
    'the delete, the latest in the source, though it found no row and another change came after it',
  );
  t.match(lineageOf(d, '1', 'profile'), { op: 'c', lsn: String(created.lsn) });
  t.same(d.deadLetters, []);
});

t.test('each part of a row names the source change that last moved it', async (t) => {
  const d = driver();
  const created = change(d, 'users', 'user_id', 'c', user(1n, 'ann'));
  change(d, 'users', 'user_id', 'c', user(2n, 'bob'));
  change(d, 'follows', 'follow_id', 'c', follow(10n, 2n, 1n));
  const second = change(d, 'follows', 'follow_id', 'c', follow(11n, 9007199254740993n, 1n));

  t.same(lineageOf(d, '1', 'profile'), {
    table: 'users',
    key: '{"user_id":1}',
    op: 'c',
    lsn: created.lsn,
    timestamp: created.committedAt,
    order: Number(created.lsn),
    topic: 'cdc.public.users',
    partition: 0,
    offset: '0',
  });
  // The second follow moved ann's followerCount last; the CDC record, not the repartition record.
  t.same(lineageOf(d, '1', 'followerCount'), {
    table: 'follows',
    key: '{"follow_id":11}',
    op: 'c',
    lsn: second.lsn,
    timestamp: second.committedAt,
    order: Number(second.lsn),
    topic: 'cdc.public.follows',
    partition: 0,
    offset: '1',
  });
  t.equal(lineageOf(d, '1', 'followingCount'), null, 'ann follows no one: no change moved that count');
  t.match(lineageOf(d, '2', 'followingCount'), { table: 'follows', key: '{"follow_id":10}' });

  // A later profile change moves only the profile's lineage.
  const renamed = change(d, 'users', 'user_id', 'u', user(1n, 'anne'));
  t.match(lineageOf(d, '1', 'profile'), { op: 'u', lsn: renamed.lsn });
  t.match(lineageOf(d, '1', 'followerCount'), { lsn: second.lsn });

  // A delete of a follow is a change that moved the count too.
  const unfollowed = change(d, 'follows', 'follow_id', 'd', follow(11n, 9007199254740993n, 1n));
  t.match(lineageOf(d, '1', 'followerCount'), { op: 'd', lsn: unfollowed.lsn, key: '{"follow_id":11}' });

  t.same(d.deadLetters, []);
});

t.test('changes of different source partitions applied out of order: the later in the source is kept', async (t) => {
  const d = driver();
  change(d, 'users', 'user_id', 'c', user(1n, 'ann'));
  const earlier = { committedAt: ++clock, lsn: (lsn += 0x100) };
  const later = { committedAt: ++clock, lsn: (lsn += 0x100) };
  change(d, 'follows', 'follow_id', 'c', follow(11n, 3n, 1n), later);
  change(d, 'follows', 'follow_id', 'c', follow(10n, 2n, 1n), earlier);
  t.equal(d.get<string, { followerCount: number }>(VIEW_STORE, '1')?.followerCount, 2);
  t.match(lineageOf(d, '1', 'followerCount'), { key: '{"follow_id":11}', lsn: String(later.lsn) });
});

t.test('held count changes keep the later change in the source, whatever order they arrive in', async (t) => {
  // The changes as the source made them: ann followed by 2, then by 3, then 2 unfollows.
  const source = driver();
  change(source, 'users', 'user_id', 'c', user(1n, 'ann'));
  change(source, 'follows', 'follow_id', 'c', follow(10n, 2n, 1n));
  change(source, 'follows', 'follow_id', 'c', follow(11n, 3n, 1n));
  const unfollowed = change(source, 'follows', 'follow_id', 'd', follow(10n, 2n, 1n));
  const followee = repartitionTopicName(APP, 'follows-by-followee');
  const [follow10, follow11, unfollow10] = source.outputRecords(followee);

  // The view's task gets them with follow 11 last (it came from another source partition), all
  // within one commit interval: the count's held change is forwarded once, at the flush.
  const view = source.topology.subtopologies.find((s) => s.stores.some((st) => st.name === VIEW_STORE))!;
  const task = new TaskCore(source.topology, view, 0, new TaskState(new MemoryBackend(), view.stores, 0), {
    cacheChanges: true,
  });
  const offsets = new Map<string, number>();
  const input = (record: OutgoingRecord): InputRecord => {
    const offset = offsets.get(record.topic) ?? 0;
    offsets.set(record.topic, offset + 1);
    return { ...record, partition: 0, offset: String(offset) };
  };
  for (const record of [
    ...source.outputRecords(repartitionTopicName(APP, 'users-by-id')),
    follow10!,
    unfollow10!,
    follow11!,
  ]) {
    t.equal(task.process(input(record)), undefined);
  }
  t.ok(task.heldChanges > 0, 'the count changes are held');
  t.same(task.flush(), []);
  t.equal(task.state.store<string, { followerCount: number }>(VIEW_STORE).get('1')?.followerCount, 1);
  const index = view.sources.findIndex((s) => s.topic === followee);
  const kept = task.state.store<Buffer, Buffer>(lineageStoreName(VIEW_STORE)).get(lineageKey(Buffer.from('1'), index));
  t.match(readDebeziumLineage(decodeLineage(kept!).facts), { op: 'd', lsn: unfollowed.lsn });
});

t.test('a deleted row takes its own lineage with it; the counts, which stay, keep theirs', async (t) => {
  const d = driver();
  change(d, 'users', 'user_id', 'c', user(1n, 'ann'));
  const followed = change(d, 'follows', 'follow_id', 'c', follow(10n, 2n, 1n));
  t.not(lineageOf(d, '1', 'followerCount'), null);
  change(d, 'users', 'user_id', 'd', user(1n, 'ann'));
  t.equal(d.get(VIEW_STORE, '1'), null);
  const sources = d.topology.subtopologies.find((s) => s.stores.some((st) => st.name === VIEW_STORE))!.sources;
  for (const index of sources.keys())
    t.equal(d.get(lineageStoreName(VIEW_STORE), lineageKey(Buffer.from('1'), index)), null, `the row's part ${index}`);
  t.equal(lineageOf(d, '1', 'profile'), null, "the users store's row is gone with its lineage");
  t.match(lineageOf(d, '1', 'followerCount'), { lsn: followed.lsn }, 'a recreated user would show it');
});

t.test('repartition records carry the lineage header of their source change; output records do not', async (t) => {
  const d = driver();
  change(d, 'users', 'user_id', 'c', user(1n, 'ann'));
  const repartitioned = d.outputHeaders(repartitionTopicName(APP, 'users-by-id'));
  t.equal(repartitioned.length, 1);
  const header = repartitioned[0]?.find((h) => h.key === LINEAGE_HEADER);
  t.ok(header, 'the repartition record has the lineage header');
  t.match(decodeLineage(header!.value), { topic: 'cdc.public.users', facts: /^c\|\d+\|users$/ });
  t.same(d.outputHeaders('user-information'), [[]], 'the output record has no headers');
});

t.test('the encoding keeps every field exactly, ids and offsets beyond 32 bits included', async (t) => {
  const origin = {
    topic: 'cdc.public.likes',
    partition: 300,
    offset: String(2 ** 40 + 7),
    timestamp: 0,
    key: Buffer.from('{"like_id":9007199254740993}'),
    value: null,
  };
  const encoded = describeRecord(origin, 1_733_000_000_123, { facts: 'u|123456789012|likes', order: 123456789012 });
  t.ok(encoded.length < 100, `${encoded.length} bytes`);
  t.same(decodeLineage(encoded), {
    topic: 'cdc.public.likes',
    partition: 300,
    offset: String(2 ** 40 + 7),
    timestamp: 1_733_000_000_123,
    order: 123456789012,
    key: Buffer.from('{"like_id":9007199254740993}'),
    facts: 'u|123456789012|likes',
  });
  t.same(decodeLineage(describeRecord({ ...origin, key: null }, 5)), {
    ...decodeLineage(encoded),
    key: null,
    timestamp: 5,
    order: 0,
    facts: '',
  });
  const later = describeRecord(origin, 1_733_000_000_123, { facts: '', order: 123456789013 });
  t.ok(isLater(later, encoded) && !isLater(encoded, later), 'same time: the order decides');
  t.ok(isLater(describeRecord(origin, 1_733_000_000_124), later), 'a later time wins whatever the order');
  t.throws(() => decodeLineage(Buffer.from([9, 1, 2])), /unknown encoding version 9/);
  t.same(readDebeziumLineage('d||users'), { op: 'd', lsn: undefined, table: 'users' });
  t.equal(readDebeziumLineage('something else'), undefined);
});

t.test('without lineage the topology keeps none and sends no lineage headers', async (t) => {
  const d = new TopologyTestDriver(
    userInformationTopology({ cdcTopicPrefix: 'cdc', outputTopic: 'user-information', outputValueSerde: viewSerde }),
    APP,
  );
  change(d, 'users', 'user_id', 'c', user(1n, 'ann'));
  t.notOk(d.topology.subtopologies.some((s) => s.stores.some((st) => st.name === lineageStoreName(VIEW_STORE))));
  t.same(d.outputHeaders(repartitionTopicName(APP, 'users-by-id')), [[]]);
});
