// GET /users/:userId with freshness asked for, across two servers on loopback: each owns half the ids
// (a stand-in view source) and has a stand-in Freshness (our own interface) whose position the test
// moves. A read waits for its minimum position on the owner, also when forwarded; unmet, it is a 503
// with the position reached; answers carry the freshness headers; malformed asks get 400.
import t, { type Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { buildServer } from '../../src/serving/server.js';
import {
  satisfies,
  type Freshness,
  type FreshnessWant,
  type PartitionFreshness,
  type ViewPosition,
} from '../../src/serving/freshness.js';
import { noStandby, type Lookup, type StandbyCopies, type ViewSource } from '../../src/serving/view-source.js';
import { viewSerde } from '../../topology/user-information.js';
import { viewRow } from '../support/view-rows.js';

const user = (id: string, name: string) => viewRow(id, { name });

/** Even ids live on server 0, odd ones on server 1; the row's name is what the test last set. */
class HalfSource implements ViewSource {
  endpoint = '';
  peer = '';
  names = new Map<string, string>();
  /** This server's standby copy of the other half: the row's name in it, 10 ms stale. */
  copies = new Map<string, string>();
  constructor(private readonly parity: 0 | 1) {}
  private standby(id: string): StandbyCopies {
    const name = this.copies.get(id);
    if (name === undefined) return noStandby;
    return {
      hosts: [],
      readLocal: (maxStalenessMs) =>
        maxStalenessMs < 10
          ? undefined
          : { value: viewSerde.serialize(user(id, name)), lagRecords: 0n, stalenessMs: 10 },
    };
  }
  lookup(key: Buffer): Lookup {
    const id = key.toString();
    const partition = Number(id) % 2;
    if (partition !== this.parity) return { kind: 'remote', partition, owner: this.peer, standby: this.standby(id) };
    return { kind: 'local', partition, value: viewSerde.serialize(user(id, this.names.get(id) ?? 'old')) };
  }
  isMember = (endpoint: string) => endpoint === this.peer;
  readiness = () => ({ ready: true });
}

class StandInFreshness implements Freshness {
  position: ViewPosition | undefined = { lsn: 100n, committedAt: 0, observedAt: Date.now() };
  asked: FreshnessWant[] = [];
  /** What this instance's standby copy proves. */
  standbyPosition: ViewPosition | undefined = undefined;
  of(): PartitionFreshness {
    return { position: this.position, lagRecords: 0n };
  }
  ofStandby(): ViewPosition | undefined {
    return this.standbyPosition;
  }
  async waitFor(_partition: number, want: FreshnessWant, timeoutMs: number): Promise<boolean> {
    this.asked.push(want);
    const deadline = Date.now() + timeoutMs;
    while (!satisfies(this.position, want)) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return true;
  }
}

async function pair(t: Test) {
  const sources = [new HalfSource(0), new HalfSource(1)];
  const freshness = [new StandInFreshness(), new StandInFreshness()];
  const servers: FastifyInstance[] = [];
  for (const [i, source] of sources.entries()) {
    const app = await buildServer({
      source,
      registry: new Registry(),
      corsOrigins: [],
      freshness: freshness[i]!,
      maxReadWaitMs: 2000,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    source.endpoint = `127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    servers.push(app);
  }
  t.teardown(() => Promise.all(servers.map((s) => s.close())));
  sources[0]!.peer = sources[1]!.endpoint;
  sources[1]!.peer = sources[0]!.endpoint;
  const url = (i: number) => `http://${sources[i]!.endpoint}`;
  return { sources, freshness, url };
}

t.test('every answer carries its partition position', async (t) => {
  const { url } = await pair(t);
  for (const [asked, id] of [
    [0, '2'],
    [1, '2'],
  ] as const) {
    const response = await fetch(`${url(asked)}/users/${id}`);
    t.equal(response.status, 200);
    t.equal(response.headers.get('x-uis-position'), '0/64', `asked on server ${asked}`);
    t.match(response.headers.get('x-uis-staleness-ms'), /^\d+$/);
    t.equal(response.headers.get('x-uis-lag-records'), '0');
  }
});

t.test('a read waits on the owner for its minimum position, also when forwarded', async (t) => {
  const { sources, freshness, url } = await pair(t);
  for (const asked of [0, 1]) {
    freshness[0]!.position = { lsn: 100n, committedAt: undefined, observedAt: Date.now() };
    const reading = fetch(`${url(asked)}/users/4`, { headers: { 'x-min-position': '0/C8' } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The write at 0/C8 (200) reaches the owner's view.
    sources[0]!.names.set('4', `new${asked}`);
    freshness[0]!.position = { lsn: 200n, committedAt: undefined, observedAt: Date.now() };
    const response = await reading;
    t.equal(response.status, 200, `asked on server ${asked}`);
    t.equal(((await response.json()) as { name: string }).name, `new${asked}`);
    t.equal(response.headers.get('x-uis-position'), '0/C8');
    t.same(freshness[0]!.asked.at(-1), { minLsn: 200n }, 'the owner waited for it');
  }
  t.equal(freshness[1]!.asked.length, 0, 'the forwarding server did not wait itself');
});

t.test('unmet within the wait: 503 with the position reached', async (t) => {
  const { url } = await pair(t);
  for (const asked of [0, 1]) {
    const response = await fetch(`${url(asked)}/users/6?minPosition=1/0&wait=100`);
    t.equal(response.status, 503, `asked on server ${asked}`);
    t.equal(response.headers.get('retry-after'), '1');
    t.match(await response.json(), { position: '0/64', message: /did not reach position 1\/0 within 100 ms/ });
  }
  const stale = await fetch(`${url(0)}/users/6?maxStalenessMs=0&wait=50`);
  await new Promise((resolve) => setTimeout(resolve, 5));
  t.equal(stale.status, 503, 'a staleness bound of 0 ms is not met by an older position');
});

t.test('with the owner gone, a standby copy answers a read asking for freshness only where it proves it', async (t) => {
  const { sources, freshness, url } = await pair(t);
  sources[0]!.copies.set('3', 'copy');
  sources[0]!.peer = '127.0.0.1:1'; // the owner of odd ids does not answer
  const read = (query: string) => fetch(`${url(0)}/users/3?${query}`);

  const unproven = await read('minPosition=0/C8&wait=50');
  t.equal(unproven.status, 503, 'the copy proves no position yet');
  t.match(await unproven.json(), { message: /did not answer; the standby copy here proves no position yet/ });

  freshness[0]!.standbyPosition = { lsn: 300n, committedAt: 1_700_000_000_000, observedAt: Date.now() };
  const proven = await read('minPosition=0/C8&wait=50');
  t.equal(proven.status, 200, 'the copy proves 0/12C, past the write at 0/C8');
  t.equal(((await proven.json()) as { name: string }).name, 'copy');
  t.equal(proven.headers.get('x-uis-standby'), 'true');
  t.equal(proven.headers.get('x-uis-position'), '0/12C');
  t.equal(proven.headers.get('x-uis-position-committed-at'), '2023-11-14T22:13:20.000Z');

  const beyond = await read('minPosition=1/0&wait=50');
  t.equal(beyond.status, 503, 'a write past what the copy proves');
  t.match(await beyond.json(), { message: /proves position 0\/12C/ });

  t.equal((await read('')).status, 503, 'without freshness asked and no stale answers accepted: no standby answer');
  t.equal((await fetch(`${url(0)}/users/3`, { headers: { 'cache-control': 'max-stale=1' } })).status, 200);
});

t.test('a wait above the configured bound is capped to it', async (t) => {
  const { url } = await pair(t);
  const started = Date.now();
  const response = await fetch(`${url(0)}/users/8?minPosition=1/0&wait=600000`);
  t.equal(response.status, 503);
  t.ok(Date.now() - started < 5000, 'answered after --max-read-wait-ms (2 s here), not 10 minutes');
});

t.test('malformed asks get 400 with the reason; an instance without positions says 501', async (t) => {
  const { url } = await pair(t);
  for (const query of ['minPosition=yesterday', 'maxStalenessMs=-1', 'wait=soon']) {
    const response = await fetch(`${url(0)}/users/2?${query}`);
    t.equal(response.status, 400, query);
  }
  const header = await fetch(`${url(0)}/users/2`, { headers: { 'x-min-position': '12345' } });
  t.equal(header.status, 400);
  t.match(await header.json(), { message: /PostgreSQL LSN/ });

  const source = new HalfSource(0);
  const plain = await buildServer({ source, registry: new Registry(), corsOrigins: [] });
  t.teardown(() => plain.close());
  const response = await plain.inject({ method: 'GET', url: '/users/2?minPosition=0/1' });
  t.equal(response.statusCode, 501);
  t.equal((await plain.inject({ method: 'GET', url: '/users/2' })).headers['x-uis-position'], undefined);
});
