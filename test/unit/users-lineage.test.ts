// GET /users/:userId/lineage across two servers on loopback with stand-in sources (our own interfaces):
// the owner answers from its lineage store, the other forwards; bad ids, missing users and instances
// that keep no lineage get 4xx/5xx with a reason.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { describeRecord } from '../../src/processor/lineage.js';
import { buildServer } from '../../src/serving/server.js';
import type { ViewLineage } from '../../src/serving/routes/users-lineage.js';
import { noStandby, type Lookup, type ViewSource } from '../../src/serving/view-source.js';
import { viewSerde } from '../../topology/user-information.js';
import { viewRow } from '../support/view-rows.js';

const COMMITTED = Date.UTC(2026, 11, 3, 7, 0, 0);

/** Users 1-9 live on server "one"; 404 from 5 on. */
class OneOwner implements ViewSource {
  endpoint = '';
  owner = '';
  lookup(key: Buffer): Lookup {
    const id = Number(key.toString());
    if (this.owner !== this.endpoint) return { kind: 'remote', partition: 1, owner: this.owner, standby: noStandby };
    const value =
      id >= 5 ? undefined : viewSerde.serialize(viewRow(String(id), { followerCount: 7, updatedAt: COMMITTED }));
    return { kind: 'local', partition: 1, value };
  }
  isMember = (endpoint: string) => endpoint === this.owner;
  readiness = () => ({ ready: true });
}

const followChange = describeRecord(
  {
    topic: 'cdc.public.follows',
    partition: 2,
    offset: '41',
    timestamp: 0,
    key: Buffer.from('{"follow_id":9007199254740993}'),
    value: null,
  },
  COMMITTED,
  { facts: 'd|23456789|follows', order: 23456789 },
);
const lineage: ViewLineage = {
  parts: [
    { field: 'profile', inputTopic: 'users-by-id' },
    { field: 'followerCount', inputTopic: 'by-followee' },
  ],
  changelogTopic: 'app-user-information-changelog',
  read: (_key, _partition, topic) => (topic === 'by-followee' ? followChange : undefined),
  changelogOffset: async () => 17n,
};

async function listen(source: OneOwner, withLineage: boolean): Promise<FastifyInstance> {
  const app = await buildServer({
    source,
    registry: new Registry(),
    corsOrigins: [],
    ...(withLineage ? { lineage } : {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  source.endpoint = `127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return app;
}

t.test('the owner answers from its lineage store; the other instance forwards', async (t) => {
  const one = new OneOwner();
  const two = new OneOwner();
  const servers = [await listen(one, true), await listen(two, true)];
  t.teardown(() => Promise.all(servers.map((s) => s.close())));
  one.owner = two.owner = one.endpoint;

  const expected = {
    userId: '3',
    partition: 1,
    servedBy: one.endpoint,
    lastModified: new Date(COMMITTED).toISOString(),
    changelog: { topic: 'app-user-information-changelog', partition: 1, offset: '17' },
    fields: {
      profile: { lastChange: null },
      followerCount: {
        value: 7,
        lastChange: {
          table: 'follows',
          primaryKey: { follow_id: '9007199254740993' },
          op: 'delete',
          lsn: '0/165EC15',
          committedAt: new Date(COMMITTED).toISOString(),
          cdc: { topic: 'cdc.public.follows', partition: 2, offset: '41' },
        },
      },
    },
  };
  for (const server of [one, two]) {
    const response = await fetch(`http://${server.endpoint}/users/3/lineage`);
    t.equal(response.status, 200);
    t.same(await response.json(), expected, server === one ? 'local' : 'forwarded');
    t.equal(response.headers.get('x-uis-served-by'), one.endpoint);
  }
  t.equal((await fetch(`http://${two.endpoint}/users/7/lineage`)).status, 404, 'a missing user, through forwarding');
  const bad = await fetch(`http://${one.endpoint}/users/x1/lineage`);
  t.equal(bad.status, 400);
  t.match(await bad.json(), { message: /64-bit integer/ });
});

t.test('an instance that keeps no lineage says so', async (t) => {
  const source = new OneOwner();
  const server = await listen(source, false);
  t.teardown(() => server.close());
  source.owner = source.endpoint;
  const response = await fetch(`http://${source.endpoint}/users/3/lineage`);
  t.equal(response.status, 501);
  t.match(await response.json(), { message: /--lineage off/ });
});
