// The generic store routes (src/query/store-routes.ts) on two instances: keys answered wherever they
// are asked (forwarded to the owner), where a key lives, ranges gathered from every partition a
// page at a time, and a range that cannot reach a partition says which.
import t, { type Test } from 'tap';
import Fastify, { type FastifyInstance } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import type { TopologyGraph } from '../../src/dsl/graph.js';
import { storeRoutes } from '../../src/query/store-routes.js';
import type { KafkaStreams } from '../../src/runtime/kafka-streams.js';
import { Serdes } from '../../src/serdes/index.js';
import { SessionWindows, TimeWindows } from '../../src/dsl/windows.js';
import { connectedProducer, createTopics } from '../support/kafka.js';
import { eventually, uniqueName } from '../support/stack.js';
import { streamsOnStack } from '../support/streams.js';

const S = { keySerde: Serdes.string, valueSerde: Serdes.string };

interface RangeAnswer {
  rows: Array<{ key: string; value: number }>;
  next: string | null;
  partial: boolean;
  missingPartitions: Array<{ partition: number; reason: string }>;
}

/** Two instances of a topology, each serving its stores on a port of its own; stopped at the end. */
async function twoInstances(
  t: Test,
  applicationId: string,
  topology: () => TopologyGraph,
  maxLimit?: number,
): Promise<{ servers: FastifyInstance[]; instances: KafkaStreams[] }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'uis-routes-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const servers: FastifyInstance[] = [];
  const instances: KafkaStreams[] = [];
  for (let i = 0; i < 2; i++) {
    const streams = streamsOnStack(topology(), { applicationId, stateDir: join(stateDir, `instance-${i}`) });
    const app = Fastify();
    await app.register(storeRoutes, { streams, ...(maxLimit ? { maxLimit } : {}) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    streams.advertise(`127.0.0.1:${(app.server.address() as AddressInfo).port}`);
    servers.push(app);
    instances.push(streams);
  }
  t.teardown(async () => {
    await Promise.all(instances.map((s) => s.stop()));
    await Promise.all(servers.map((s) => s.close()));
  });
  for (const streams of instances) await streams.start();
  return { servers, instances };
}

t.test('store routes: keys, owners and ranges across two instances', async (t) => {
  const prefix = uniqueName('routes');
  const topics = { words: `${prefix}-words` };
  await createTopics([topics.words], 4);
  const topology = () => {
    const builder = new StreamsBuilder();
    builder.stream(topics.words, S).groupByKey(S).count({ storeName: 'counts' });
    return builder.build();
  };
  const { servers, instances } = await twoInstances(t, prefix, topology, 50);

  const words = Array.from({ length: 40 }, (_, i) => `w${String(i).padStart(2, '0')}`);
  const expected = new Map(words.map((w, i) => [w, (i % 3) + 1]));
  const producer = await connectedProducer();
  t.teardown(() => producer.disconnect());
  await producer.send({
    topic: topics.words,
    messages: [...expected].flatMap(([w, n]) => Array.from({ length: n }, () => ({ key: w, value: w }))),
  });

  const get = async (server: FastifyInstance, url: string) => {
    const answer = await server.inject({ method: 'GET', url });
    return { status: answer.statusCode, body: answer.json() as unknown };
  };
  const [a, b] = servers as [FastifyInstance, FastifyInstance];
  const rangeAll = async (server: FastifyInstance, query: string) => {
    const rows: RangeAnswer['rows'] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const { status, body } = await get(
        server,
        `/stores/counts/range?${query}&limit=7${next ? `&after=${next}` : ''}`,
      );
      if (status !== 200) throw new Error(`range: HTTP ${status} ${JSON.stringify(body)}`);
      const page = body as RangeAnswer;
      if (page.partial) throw new Error(`partial: ${JSON.stringify(page.missingPartitions)}`);
      rows.push(...page.rows);
      next = page.next;
      pages++;
    } while (next && pages < 50);
    return rows;
  };

  // Both instances running their share, every count in.
  await eventually('every count, gathered from both instances', 90_000, async () => {
    if (!instances.every((s) => s.ready)) return undefined;
    try {
      const rows = await rangeAll(a, 'from=w00');
      return rows.length === words.length && rows.every((r) => r.value === expected.get(r.key)) ? true : undefined;
    } catch {
      return undefined;
    }
  });

  const owners = await Promise.all(
    words.map(async (w) => (await get(a, `/stores/counts/metadata/${w}`)).body as { owner: string; local: boolean }),
  );
  const endpoints = instances.map((s) => s.config.endpoint);
  t.ok(
    owners.every((o) => endpoints.includes(o.owner)),
    'every key is owned by one of the two instances',
  );
  t.ok(owners.some((o) => o.local) && owners.some((o) => !o.local), 'each instance owns some of the keys');

  for (const server of [a, b]) {
    const answers = await Promise.all(words.map((w) => get(server, `/stores/counts/keys/${w}`)));
    t.same(
      answers.map((x) => [x.status, (x.body as { value: number }).value]),
      words.map((w) => [200, expected.get(w)]),
      'every key answered by either instance (forwarded to its owner when needed)',
    );
  }
  t.equal((await get(b, '/stores/counts/keys/nope')).status, 404, 'a missing key is a 404');

  const forward = await rangeAll(b, 'from=w05&to=w24');
  t.same(
    forward.map((r) => r.key),
    words.slice(5, 25),
    'a bounded range, in key order, paged by its continuation token',
  );
  const backward = await rangeAll(a, 'reverse=true&prefix=w1');
  t.same(
    backward.map((r) => r.key),
    words.filter((w) => w.startsWith('w1')).reverse(),
    'a prefix, in reverse',
  );

  for (const [url, status, reason] of [
    ['/stores/counts/range?limit=0', 400, /limit must be/],
    ['/stores/counts/range?limit=51', 400, /limit must be/],
    ['/stores/counts/range?after=%2F%2F', 400, /continuation token/],
    ['/stores/counts/range?reverse=maybe', 400, /reverse must be/],
    ['/stores/nothing/range', 404, /no store named nothing/],
    ['/stores/nothing/keys/x', 404, /no store named nothing/],
  ] as const) {
    const answer = await get(a, url);
    t.equal(answer.status, status, `${url}: ${status}`);
    t.match((answer.body as { error: string }).error, reason, `${url}: says why`);
  }

  // B's HTTP goes away while B still owns its partitions: a range from A says which it could not read.
  await b.close();
  const { status, body } = await get(a, '/stores/counts/range?limit=50');
  const partial = body as RangeAnswer;
  t.equal(status, 200);
  t.equal(partial.partial, true, 'the answer says it is partial');
  const bPartitions = instances[1]!
    .storePartitions('counts')
    .filter((p) => p.local)
    .map((p) => p.partition);
  t.same(
    partial.missingPartitions.map((m) => m.partition),
    bPartitions,
    "the missing partitions are B's",
  );
  t.ok(
    partial.rows.length > 0 && partial.rows.every((r) => owners[words.indexOf(r.key)]!.local),
    "the rows it has are A's",
  );
});

t.test("store routes: a key's time windows and sessions in a time range, from either instance", async (t) => {
  const prefix = uniqueName('wroutes');
  const clicks = `${prefix}-clicks`;
  await createTopics([clicks], 4);
  const topology = () => {
    const builder = new StreamsBuilder();
    const grouped = builder.stream(clicks, S).groupByKey(S);
    grouped.windowedBy(TimeWindows.ofSizeAndGrace(60_000, 600_000)).count({ storeName: 'per-minute' });
    grouped.windowedBy(SessionWindows.ofInactivityGapAndGrace(60_000, 600_000)).count({ storeName: 'visits' });
    return builder.build();
  };
  const { servers } = await twoInstances(t, prefix, topology);

  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000; // recent: the broker deletes records a week old
  const users = Array.from({ length: 12 }, (_, i) => `u${i}`);
  const producer = await connectedProducer();
  t.teardown(() => producer.disconnect());
  // Each user clicks at 0:00:10, 0:00:20 and 0:01:05 (one session, two minutes), then at 0:05:00.
  const at = [10_000, 20_000, 65_000, 300_000];
  await producer.send({
    topic: clicks,
    messages: users.flatMap((user) => at.map((ms) => ({ key: user, value: 'x', timestamp: String(hour + ms) }))),
  });

  type Windows = { key: string; windows: Array<{ start: number; end: number; value: number; timestamp: number }> };
  const windowsOf = async (server: FastifyInstance, store: string, user: string, query = '') => {
    const answer = await server.inject({ method: 'GET', url: `/stores/${store}/keys/${user}/windows${query}` });
    return { status: answer.statusCode, body: answer.json() as Windows & { error?: string } };
  };
  const [a, b] = servers as [FastifyInstance, FastifyInstance];
  await eventually('every user to have 4 clicks counted', 60_000, async () => {
    for (const user of users) {
      const { status, body } = await windowsOf(a, 'per-minute', user);
      if (status !== 200 || body.windows.reduce((n, w) => n + w.value, 0) !== 4) return undefined;
    }
    return true;
  });
  for (const server of [a, b]) {
    for (const user of users) {
      t.same(
        (await windowsOf(server, 'per-minute', user)).body,
        {
          key: user,
          windows: [
            { start: hour, end: hour + 60_000, value: 2, timestamp: hour + 20_000 },
            { start: hour + 60_000, end: hour + 120_000, value: 1, timestamp: hour + 65_000 },
            { start: hour + 300_000, end: hour + 360_000, value: 1, timestamp: hour + 300_000 },
          ],
        },
        `${user}'s minutes, asked anywhere`,
      );
      t.same((await windowsOf(server, 'visits', user, `?from=${hour + 60_000}&to=${hour + 400_000}`)).body, {
        key: user,
        windows: [
          { start: hour + 10_000, end: hour + 65_000, value: 3, timestamp: hour + 65_000 },
          { start: hour + 300_000, end: hour + 300_000, value: 1, timestamp: hour + 300_000 },
        ],
      });
    }
  }
  const limited = await windowsOf(a, 'per-minute', 'u1', `?from=${hour + 60_000}&to=${hour + 300_000}&limit=1`);
  t.same(
    limited.body.windows.map((w) => w.start),
    [hour + 60_000],
    'windows starting in [from, to], at most limit',
  );
  t.equal((await windowsOf(a, 'per-minute', 'u1', '?from=soon')).status, 400);
  t.equal((await windowsOf(a, 'per-minute', 'u1', '?from=5&to=4')).status, 400);
  t.equal((await a.inject({ method: 'GET', url: '/stores/per-minute/keys/u1' })).statusCode, 400, 'a plain key read');
});
