// The OpenAPI document: generated from the route schemas, valid OpenAPI 3.1 (checked by a validator),
// describing every public route with its answers; and the routes still answer as before with the
// documentation schemas on them. The view source here is a stand-in for the engine (our own interface).
import t from 'tap';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Registry } from 'prom-client';
import { buildServer } from '../../src/serving/server.js';
import { noStandby } from '../../src/serving/view-source.js';
import { stubViewSource } from '../support/view-source.js';
import { userSchema } from '../../src/serving/schemas.js';
import type { QueryableStores, StorePartition } from '../../src/query/queryable-stores.js';
import { userIdSerde, VIEW_STORE, viewSerde, type UserInformation } from '../../topology/user-information.js';

const alice: UserInformation = {
  userId: '42',
  username: 'alice',
  name: 'Alice',
  description: 'likes streams',
  location: 'Lisbon',
  webPageUrl: 'https://example.com',
  joinedDate: '2020-01-02',
  profileImageUrl: 'https://example.com/a.png',
  backgroundImageUrl: 'https://example.com/b.png',
  tweetCount: 3,
  followingCount: 1,
  followerCount: 2,
  likeCount: 5,
  updatedAt: Date.UTC(2026, 0, 2),
};

const source = stubViewSource({
  lookup: (key) =>
    key.toString() === '42'
      ? { kind: 'local', partition: 0, value: viewSerde.serialize(alice) }
      : key.toString() === '7'
        ? { kind: 'unavailable', partition: 1, reason: 'restoring', standby: noStandby }
        : { kind: 'local', partition: 0, value: undefined },
});

t.test('GET /openapi.json is a valid OpenAPI 3.1 document of every public route', async (t) => {
  const app = await buildServer({ source, registry: new Registry(), corsOrigins: [] });
  t.teardown(() => app.close());
  const response = await app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(response.statusCode, 200);
  const document = response.json();
  t.equal(document.openapi, '3.1.0');
  await t.resolves(SwaggerParser.validate(structuredClone(document)), 'the validator accepts it');

  t.same(
    Object.keys(document.paths).sort(),
    [
      '/health/live',
      '/health/ready',
      '/metrics',
      '/users/{userId}',
      '/users/{userId}/activity',
      '/users/{userId}/lineage',
      '/users:batchGet',
    ],
    'every public route, and no other (not the document itself)',
  );
  const getUser = document.paths['/users/{userId}'].get;
  t.same(Object.keys(getUser.responses).sort(), ['200', '304', '400', '404', '501', '503']);
  const ok = getUser.responses['200'];
  t.same(
    Object.keys(ok.content['application/json'].schema.properties),
    Object.keys(userSchema.properties),
    "the 200 answer's fields are the route's response schema",
  );
  t.ok(ok.headers.etag && ok.headers['last-modified'] && ok.headers['x-uis-served-by'], 'its headers are described');
  t.ok(getUser.responses['503'].headers['retry-after'], '503 says when to retry');
  const parameters = getUser.parameters.map((p: { in: string; name: string }) => `${p.in}:${p.name}`).sort();
  t.same(parameters, [
    'header:cache-control',
    'header:if-none-match',
    'header:x-min-position',
    'path:userId',
    'query:maxStalenessMs',
    'query:minPosition',
    'query:wait',
  ]);
  t.ok(ok.headers['x-uis-position'] && ok.headers['x-uis-staleness-ms'], 'the freshness headers are described');
  t.ok(document.paths['/metrics'].get.responses['200'].content['text/plain'], 'metrics are plain text');
});

t.test('with the documentation schemas on them, the routes answer as before', async (t) => {
  const app = await buildServer({ source, registry: new Registry(), corsOrigins: [] });
  t.teardown(() => app.close());
  const found = await app.inject({ method: 'GET', url: '/users/42' });
  t.equal(found.statusCode, 200);
  const { updatedAt, ...document } = alice;
  t.strictSame(found.json(), document, `the stored document, without the internal updatedAt (${updatedAt})`);
  t.equal(found.headers['x-uis-partition'], '0');
  const etag = String(found.headers.etag);
  const again = await app.inject({ method: 'GET', url: '/users/42', headers: { 'if-none-match': etag } });
  t.equal(again.statusCode, 304, 'If-None-Match with the current ETag');
  t.equal((await app.inject({ method: 'GET', url: '/users/43' })).statusCode, 404);
  const bad = await app.inject({ method: 'GET', url: '/users/abc' });
  t.equal(bad.statusCode, 400);
  t.match(bad.json().message, /64-bit integer/);
  const restoring = await app.inject({ method: 'GET', url: '/users/7' });
  t.equal(restoring.statusCode, 503);
  t.equal(restoring.headers['retry-after'], '1');
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
  t.same((await app.inject({ method: 'GET', url: '/health/ready' })).json(), { status: 'ready' });
});

t.test('with stores to serve, the document describes the store routes, which answer', async (t) => {
  // One partition, kept here: the view's row of user 42.
  const here: StorePartition = {
    partition: 0,
    taskId: '1_0',
    owner: '127.0.0.1:1',
    local: true,
    status: 'running',
    caughtUp: true,
    standbyHosts: [],
  };
  const stores: QueryableStores = {
    endpoint: '127.0.0.1:1',
    stores: new Map([[VIEW_STORE, { keySerde: userIdSerde, valueSerde: viewSerde, global: false }]]),
    keyMetadata: () => here,
    storePartitions: () => [here],
    getLocal: (_store, _partition, key) =>
      key.equals(userIdSerde.serialize('42')) ? viewSerde.serialize(alice) : undefined,
    rangeLocal: async () => [[userIdSerde.serialize('42'), viewSerde.serialize(alice)]],
    getGlobal: () => undefined,
    rangeGlobal: async () => [],
  };
  const app = await buildServer({ source, registry: new Registry(), corsOrigins: [], stores });
  t.teardown(() => app.close());
  const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  await t.resolves(SwaggerParser.validate(structuredClone(document)), 'the validator accepts it');
  t.same(
    Object.keys(document.paths)
      .filter((path) => path.startsWith('/stores/'))
      .sort(),
    [
      '/stores/{store}/keys/{key}',
      '/stores/{store}/keys/{key}/windows',
      '/stores/{store}/metadata/{key}',
      '/stores/{store}/partitions/{partition}/range',
      '/stores/{store}/range',
    ],
  );
  t.same(document.paths['/stores/{store}/range'].get.tags, ['stores']);
  const row = await app.inject({ method: 'GET', url: `/stores/${VIEW_STORE}/keys/42` });
  t.equal(row.statusCode, 200);
  t.same(row.json(), { key: '42', value: alice });
  const range = await app.inject({ method: 'GET', url: `/stores/${VIEW_STORE}/range?limit=5` });
  t.same(range.json(), { rows: [{ key: '42', value: alice }], next: null, partial: false, missingPartitions: [] });
  const bad = await app.inject({ method: 'GET', url: `/stores/${VIEW_STORE}/range?limit=0` });
  t.equal(bad.statusCode, 400);
  t.match(bad.json().error, /limit/);
});
