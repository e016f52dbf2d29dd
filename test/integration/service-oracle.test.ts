// The oracle: a random workload in PostgreSQL (updates moving tweets and likes
// between users, deletes of users, re-follows...), then every user over HTTP
// equals the seed's SQL queries. For 1 instance and for 3 (each asked for every
// key, so forwarding is covered). Also: the output topic read from the start
// equals the view, ids above 2^53 are exact, and a malformed CDC record goes
// to the dead-letter topic.
import t, { type Test } from 'tap';
import pg from 'pg';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { runWorkload } from '../support/workload.js';
import { compareWithOracle, type Mismatch } from '../support/view-check.js';
import { metricSum, startTestService, waitReady, type TestService } from '../support/service.js';
import { connectedProducer, kafka, readTable } from '../support/kafka.js';
import { stack, uniqueName, eventually } from '../support/stack.js';

let idRange = BigInt(Date.now() % 1_000_000) * 1_000_000_000n;
/** A fresh id range above 2^53 for each workload. */
const nextIdBase = () => 5_000_000_000_000_000_000n + (idRange += 1_000_000_000n);

async function workload(seed: number, operations: number) {
  const db = new pg.Client(stack.postgres);
  await db.connect();
  try {
    return await runWorkload(db, { seed, operations, idBase: nextIdBase() });
  } finally {
    await db.end();
  }
}

async function expectConvergence(
  t: { same(found: unknown, wanted: unknown, message: string): boolean },
  services: TestService[],
  userIds: string[],
): Promise<void> {
  let mismatches: Mismatch[] = [];
  await eventually('every user to match the oracle', 120_000, async () => {
    mismatches = await compareWithOracle(
      services.map((s) => s.url),
      userIds,
    );
    return mismatches.length === 0 ? true : undefined;
  }).catch(() => undefined);
  t.same(mismatches.slice(0, 3), [], `zero mismatches over ${userIds.length} users x ${services.length} instances`);
}

/**
 * The generic store routes (/stores) on the service: the view read as a range, gathered from every
 * instance a page at a time, has exactly the users /users answers; a count store's key and the key's
 * owner agree with /users.
 */
async function storesAgreeWithUsers(t: Test, services: TestService[], userIds: string[]): Promise<void> {
  const present = new Map<string, { tweetCount: number; servedBy: string }>();
  for (const id of userIds) {
    const answer = await fetch(`${services[0]!.url}/users/${id}`);
    if (answer.status === 200)
      present.set(id, {
        tweetCount: ((await answer.json()) as { tweetCount: number }).tweetCount,
        servedBy: answer.headers.get('x-uis-served-by')!,
      });
  }
  const ranged: string[] = [];
  let after: string | null = null;
  let pages = 0;
  do {
    const query = new URLSearchParams({ limit: '40', ...(after ? { after } : {}) });
    const page = await fetch(`${services[0]!.url}/stores/user-information/range?${query}`);
    const body = (await page.json()) as {
      rows: Array<{ key: string; value: { userId: string } }>;
      next: string | null;
      partial: boolean;
    };
    t.equal(page.status, 200);
    t.equal(body.partial, false, 'every partition answered');
    for (const row of body.rows) if (row.key === row.value.userId && present.has(row.key)) ranged.push(row.key);
    after = body.next;
    pages++;
  } while (after !== null && pages < 100);
  t.same(new Set(ranged), new Set(present.keys()), `the range (${pages} pages) holds exactly the users /users answers`);
  const [id, user] = [...present].find(([, u]) => u.tweetCount > 0) ?? [...present][0]!;
  const count = await fetch(`${services[1]!.url}/stores/tweet-count/keys/${id}`);
  t.same(await count.json(), { key: id, value: user.tweetCount }, "a count store's row equals the view's count");
  const where = (await (await fetch(`${services[2]!.url}/stores/user-information/metadata/${id}`)).json()) as {
    owner: string;
  };
  t.equal(where.owner, user.servedBy, 'the key-to-owner metadata names the instance that answers /users');
  t.equal((await fetch(`${services[0]!.url}/stores/no-such-store/keys/1`)).status, 404, 'an unknown store: 404');
  t.equal((await fetch(`${services[0]!.url}/stores/tweet-count/keys/x1`)).status, 400, 'a key that is not an id: 400');
}

t.test('one instance matches the oracle', async (t) => {
  // The engine thread with a bounded heap (as the memory runbook suggests) keeps the view right too.
  const service = await startTestService(uniqueName('oracle1'), { flags: { 'engine-heap-mib': '96' } });
  t.teardown(() => service.stop());
  await waitReady([service]);
  const result = await workload(1, 400);
  t.ok(
    result.userIds.some((id) => BigInt(id) > 2n ** 53n),
    'the workload has ids above 2^53',
  );
  t.ok(
    result.log.some((op) => op.kind === 'moveTweet'),
    'a tweet moved between users',
  );
  t.ok(result.deletedUserIds.length > 0, 'users were deleted');
  await expectConvergence(t, [service], result.userIds);

  // Readiness means the snapshot is processed through the whole topology: a new application,
  // started now that all of this is in the CDC topics, has every user right once it is ready.
  const fresh = await startTestService(uniqueName('oracle1-ready'), {
    flags: { 'connect-url': stack.connectUrl },
  });
  t.teardown(() => fresh.stop());
  await waitReady([fresh], 240_000);
  const atReady = await compareWithOracle([fresh.url], result.userIds);
  t.same(atReady.slice(0, 3), [], `all ${result.userIds.length} users right as soon as it is ready`);
});

t.test('three instances match the oracle, each answering every key', async (t) => {
  const app = uniqueName('oracle3');
  const services = [await startTestService(app), await startTestService(app), await startTestService(app)];
  t.teardown(() => Promise.all(services.map((s) => s.stop())));
  await waitReady(services);
  const result = await workload(2, 400);
  await expectConvergence(t, services, result.userIds);

  // Forwarding happened: some answers came from another instance than the one asked.
  const servedBy = new Set<string>();
  for (const id of result.userIds.slice(0, 30)) {
    const response = await fetch(`${services[0]!.url}/users/${id}`);
    servedBy.add(response.headers.get('x-uis-served-by') ?? '');
    if (response.status === 200) {
      t.match(response.headers.get('last-modified'), /GMT$/, 'Last-Modified on every answer');
      const etag = response.headers.get('etag')!;
      const again = await fetch(`${services[0]!.url}/users/${id}`, { headers: { 'if-none-match': etag } });
      t.equal(again.status, 304, 'If-None-Match with the ETag gives 304');
    }
  }
  t.ok(servedBy.size > 1, `answers came from ${servedBy.size} instances`);
  await storesAgreeWithUsers(t, services, result.userIds);
  const engineHeap = await metricSum(services[0]!.url, 'uis_engine_heap_used_bytes');
  t.ok(engineHeap > 1_000_000, `/metrics reports the engine thread's heap (${engineHeap} bytes)`);
  // Caught up, each engine thread gives way to requests (decision 0026).
  for (const service of services)
    await eventually('the engine thread to lower its priority', 30_000, async () =>
      (await metricSum(service.url, 'uis_engine_nice')) === 19 ? true : undefined,
    );
  t.pass('every engine thread runs at nice 19 once its instance caught up');

  // The output topic, read from the beginning by a fresh consumer, equals the view.
  const registry = new SchemaRegistry({ host: stack.registryUrl });
  const topic = await readTable(services[0]!.config.outputTopic);
  let compared = 0;
  for (const id of result.userIds) {
    const response = await fetch(`${services[1]!.url}/users/${id}`);
    const bytes = topic.get(id);
    if (response.status === 404) {
      t.notOk(bytes, `deleted user ${id} is absent from the topic`);
      continue;
    }
    const fromTopic = (await registry.decode(bytes!)) as Record<string, unknown>;
    const { updatedAt: _updatedAt, ...fields } = { ...fromTopic };
    t.same(fields, await response.json(), `user ${id}: the topic and the view agree`);
    compared++;
  }
  t.ok(compared > 0);
});

t.test('a malformed change event goes to the dead-letter topic and processing goes on', async (t) => {
  const app = uniqueName('dlq');
  const service = await startTestService(app);
  t.teardown(() => service.stop());
  await waitReady([service]);
  const producer = await connectedProducer();
  const key = `{"user_id":${Date.now()}}`;
  await producer.send({
    topic: 'cdc.public.users',
    messages: [{ key, value: '{"op":"c","after":{"user_id":"not a number"}' }],
  });
  await producer.disconnect();
  const result = await workload(3, 60);
  await expectConvergence(t, [service], result.userIds);

  const letters: Array<Record<string, string>> = [];
  const consumer = kafka.consumer({ groupId: uniqueName('dlq-reader') });
  await consumer.connect();
  await consumer.subscribe({ topic: `${app}-dead-letters`, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.key?.toString() === key) {
        letters.push(Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])));
      }
    },
  });
  await eventually('the dead letter', 30_000, async () => (letters.length ? true : undefined)).catch(() => undefined);
  await consumer.disconnect();
  t.match(letters[0], { 'dlq.source.topic': 'cdc.public.users', 'dlq.reason': /Error$/ });
});
