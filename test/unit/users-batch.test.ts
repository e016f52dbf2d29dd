// POST /users:batchGet across two servers on loopback: each owns half the ids (a stand-in view source,
// our own interface); a batch to either gives every id's result in the order asked, the other half
// fetched from the owner in one forwarded request; bad requests get 400 with a reason.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { buildServer } from '../../src/serving/server.js';
import { noStandby, type Lookup, type ViewSource } from '../../src/serving/view-source.js';
import { viewSerde } from '../../topology/user-information.js';
import { viewRow } from '../support/view-rows.js';

const user = (id: string) =>
  viewRow(id, { tweetCount: Number(id) % 7, followingCount: 1, followerCount: 2, likeCount: 3 });

/** Even ids live on server "even", odd ones on "odd"; ids from 900 on do not exist; 13 is restoring. */
class HalfSource implements ViewSource {
  endpoint = '';
  peer = '';
  lookups = 0;
  constructor(private readonly parity: 0 | 1) {}
  lookup(key: Buffer): Lookup {
    this.lookups++;
    const id = Number(key.toString());
    const partition = id % 2;
    if (id === 13) return { kind: 'unavailable', partition, reason: 'restoring', standby: noStandby };
    if (partition !== this.parity) return { kind: 'remote', partition, owner: this.peer, standby: noStandby };
    return { kind: 'local', partition, value: id >= 900 ? undefined : viewSerde.serialize(user(String(id))) };
  }
  isMember = (endpoint: string) => endpoint === this.peer;
  readiness = () => ({ ready: true });
}

async function listen(source: HalfSource): Promise<FastifyInstance> {
  const app = await buildServer({ source, registry: new Registry(), corsOrigins: [], batchMaxIds: 50 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  source.endpoint = `127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return app;
}

t.test('a batch gets every id, local and forwarded, in the order asked', async (t) => {
  const even = new HalfSource(0);
  const odd = new HalfSource(1);
  const servers = [await listen(even), await listen(odd)];
  t.teardown(() => Promise.all(servers.map((s) => s.close())));
  even.peer = odd.endpoint;
  odd.peer = even.endpoint;

  const ids = ['5', '2', '901', '13', '4', '7', '900'];
  const response = await fetch(`http://${even.endpoint}/users:batchGet`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ids }),
  });
  t.equal(response.status, 200);
  const { results } = (await response.json()) as {
    results: Array<{ id: string; status: number; user?: { userId: string; tweetCount: number }; servedBy?: string }>;
  };
  t.same(
    results.map((r) => r.id),
    ids,
    'one result per id, in order',
  );
  t.same(
    results.map((r) => r.status),
    [200, 200, 404, 503, 200, 200, 404],
  );
  t.same(results[0]!.user, { ...documentOf('5') }, 'a forwarded user is the whole document');
  t.equal(results[0]!.servedBy, odd.endpoint, 'served by its owner');
  t.equal(results[1]!.servedBy, even.endpoint);
  t.equal(results[1]!.user!.tweetCount, 2);
  t.equal(odd.lookups, 3, 'the owner was asked once for its three ids (5, 901, 7), not once per id');
});

t.test('bad batches get 400 with a reason', async (t) => {
  const source = new HalfSource(0);
  const app = await listen(source);
  t.teardown(() => app.close());
  const post = (body: unknown) =>
    app.inject({ method: 'POST', url: '/users:batchGet', payload: body as Record<string, unknown> });
  const cases: Array<[unknown, RegExp]> = [
    [{ ids: [] }, /fewer than 1 items/],
    [{ ids: Array.from({ length: 51 }, (_, i) => String(i)) }, /more than 50 items/],
    [{ ids: ['1', 'abc'] }, /64-bit integers .* not: abc/],
    [{ ids: ['007'] }, /not: 007/],
    [{ users: ['1'] }, /ids/],
    [{ ids: [{ id: 1 }] }, /must be string/],
  ];
  for (const [body, reason] of cases) {
    const response = await post(body);
    t.equal(response.statusCode, 400, JSON.stringify(body).slice(0, 60));
    t.match(response.json().message, reason);
  }
  const huge = await app.inject({
    method: 'POST',
    url: '/users:batchGet',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ ids: Array.from({ length: 50 }, () => '1'.repeat(200)) }),
  });
  t.equal(huge.statusCode, 413, 'a body larger than the most ids allowed can take is refused unread');
});

function documentOf(id: string) {
  const { updatedAt: _, ...document } = user(id);
  return document;
}
