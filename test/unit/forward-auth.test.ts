// Forwarded requests between instances: with a shared secret, the forwarded marker is honoured only with
// a valid, fresh signature over the request; a client's forged marker is ignored (the instance forwards
// the request to the key's owner as for any client). Without a secret the marker is honoured as sent.
import t from 'tap';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import {
  FORWARD_AUTH_HEADER,
  FORWARDED_HEADER,
  ForwardAuth,
  STANDBY_READ_HEADER,
} from '../../src/serving/forward-auth.js';
import { buildServer } from '../../src/serving/server.js';
import { noStandby, type Lookup, type ViewSource } from '../../src/serving/view-source.js';
import { viewSerde } from '../../topology/user-information.js';
import { viewRow } from '../support/view-rows.js';

const SECRET = 'a shared secret of 32 bytes.....';

/** A server that says whether it honoured a request as a forward, and from whom. */
async function echo(auth: ForwardAuth): Promise<FastifyInstance> {
  const app = Fastify();
  const answer = (request: Parameters<ForwardAuth['forwardedBy']>[0]) => ({ by: auth.forwardedBy(request) ?? null });
  app.get('/users/:id', async (request) => answer(request));
  app.post('/users::batchGet', async (request) => answer(request));
  return app;
}

t.test('a valid signature is honoured; anything else is a client request', async (t) => {
  const sender = new ForwardAuth(SECRET);
  const app = await echo(new ForwardAuth(SECRET));
  t.teardown(() => app.close());
  const by = async (url: string, headers: Record<string, string>, method: 'GET' | 'POST' = 'GET') =>
    (await app.inject({ method, url, headers, ...(method === 'POST' ? { payload: {} } : {}) })).json().by;

  t.equal(await by('/users/1', sender.headers('GET', '/users/1', 'a:1')), 'a:1', 'signed by an instance');
  t.equal(
    await by('/users/1', sender.headers('GET', '/users/1', 'a:1', { [STANDBY_READ_HEADER]: '5000' })),
    'a:1',
    'with a standby read',
  );
  t.equal(
    await by('/users:batchGet', sender.headers('POST', '/users:batchGet', 'a:1'), 'POST'),
    'a:1',
    'a forwarded batch',
  );
  t.equal(await by('/users/1', { [FORWARDED_HEADER]: 'a:1' }), null, 'a marker without a signature is ignored');
  t.equal(await by('/users/2', sender.headers('GET', '/users/1', 'a:1')), null, 'signed for another path');
  t.equal(
    await by('/users/1', { ...sender.headers('GET', '/users/1', 'a:1'), [FORWARDED_HEADER]: 'b:2' }),
    null,
    'the marker changed after signing',
  );
  t.equal(
    await by('/users/1', { ...sender.headers('GET', '/users/1', 'a:1'), [STANDBY_READ_HEADER]: '99999999' }),
    null,
    'a standby read added after signing',
  );
  t.equal(
    await by('/users/1', new ForwardAuth('another secret of 32 bytes......').headers('GET', '/users/1', 'a:1')),
    null,
    'signed with another secret',
  );
  const signed = sender.headers('GET', '/users/1', 'a:1');
  const [, mac] = signed[FORWARD_AUTH_HEADER]!.split('.');
  t.equal(
    await by('/users/1', { ...signed, [FORWARD_AUTH_HEADER]: `${Date.now() - 31_000}.${mac}` }),
    null,
    'another time (a replay after 30 s, or a forged time)',
  );
  t.equal(await by('/users/1', { ...signed, [FORWARD_AUTH_HEADER]: 'garbage' }), null, 'garbage');
});

t.test('without a secret the marker is honoured as sent', async (t) => {
  const app = await echo(new ForwardAuth());
  t.teardown(() => app.close());
  const response = await app.inject({ method: 'GET', url: '/users/1', headers: { [FORWARDED_HEADER]: 'x:1' } });
  t.equal(response.json().by, 'x:1');
  t.notOk(new ForwardAuth().headers('GET', '/users/1', 'a:1')[FORWARD_AUTH_HEADER], 'and nothing is signed');
});

/** Id 1 lives on the "owner" server; the "other" server forwards it there. */
class OneKeySource implements ViewSource {
  endpoint = '';
  peer = '';
  constructor(private readonly owns: boolean) {}
  lookup(): Lookup {
    if (!this.owns) return { kind: 'remote', partition: 0, owner: this.peer, standby: noStandby };
    return { kind: 'local', partition: 0, value: viewSerde.serialize(user) };
  }
  isMember = (endpoint: string) => endpoint === this.peer;
  readiness = () => ({ ready: true });
}

const user = viewRow('1', { username: 'u', name: 'U', joinedDate: '2020-01-01' });

async function pair(secret?: string) {
  const owner = new OneKeySource(true);
  const other = new OneKeySource(false);
  const servers: FastifyInstance[] = [];
  for (const source of [owner, other]) {
    const app = await buildServer({
      source,
      registry: new Registry(),
      corsOrigins: [],
      ...(secret ? { forwardSecret: secret } : {}),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    source.endpoint = `127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    servers.push(app);
  }
  owner.peer = other.endpoint;
  other.peer = owner.endpoint;
  return { owner, other, close: () => Promise.all(servers.map((s) => s.close())) };
}

t.test("between two instances with a secret, forwarding works and a client's forged marker does nothing", async (t) => {
  const { owner, other, close } = await pair(SECRET);
  t.teardown(close);
  const plain = await fetch(`http://${other.endpoint}/users/1`);
  t.equal(plain.status, 200, 'a request to the other instance is forwarded to the owner');
  t.equal(plain.headers.get('x-uis-served-by'), owner.endpoint);
  const forged = await fetch(`http://${other.endpoint}/users/1`, { headers: { [FORWARDED_HEADER]: 'evil:1' } });
  t.equal(forged.status, 200, 'a forged marker is ignored: the request is forwarded as any other');
  t.equal(forged.headers.get('x-uis-served-by'), owner.endpoint);
});

t.test('without a secret, a forged marker is honoured (why the secret is recommended)', async (t) => {
  const { other, close } = await pair();
  t.teardown(close);
  const forged = await fetch(`http://${other.endpoint}/users/1`, { headers: { [FORWARDED_HEADER]: 'evil:1' } });
  t.equal(forged.status, 503, 'the instance took it for a forward and did not forward it again');
});
