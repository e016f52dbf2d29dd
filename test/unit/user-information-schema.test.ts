// The nullable profile fields (decision 0014) in the contracts others read: the output topic's Avro schema
// (version 2, which reads version 1's records: test/fixtures/avro/user-information.v1.avsc is version 1 as
// committed before the change) and the HTTP document with its schema. Against the real registry:
// test/integration/user-information-schema-registry.test.ts.
import t from 'tap';
import avro from 'avsc';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { AvroSerde } from '../../src/serdes/avro.js';
import { buildServer } from '../../src/serving/server.js';
import { userSchema } from '../../src/serving/schemas.js';
import { stubViewSource } from '../support/view-source.js';
import { v1, v2 } from '../support/avro-schemas.js';
import { viewSerde, type UserInformation } from '../../topology/user-information.js';

type AvroSchema = Parameters<typeof avro.Type.forSchema>[0];
const NULLABLE = ['description', 'location', 'webPageUrl', 'profileImageUrl', 'backgroundImageUrl'];

const base: UserInformation = {
  userId: '9223372036854775807',
  username: 'nobody',
  name: '',
  description: null,
  location: '',
  webPageUrl: null,
  joinedDate: '2020-01-02T03:04:05.000006Z',
  profileImageUrl: null,
  backgroundImageUrl: 'https://example.com/b.png',
  tweetCount: 1,
  followingCount: 2,
  followerCount: 3,
  likeCount: 4,
  updatedAt: Date.UTC(2026, 11, 3),
};

/** The output serde with a stand-in registry holding `schemas` by id (ours is registered as id 2). */
function outputSerde(schemas: Map<number, avro.Type>): AvroSerde<UserInformation> {
  return new AvroSerde<UserInformation>({
    registry: {
      register: async () => ({ id: 2 }),
      getSchema: async (id: number) => schemas.get(id)!,
    },
    subject: 'user-information-value',
    schema: v2,
  });
}

t.test('version 2: the HTTP fields in their order, the nullable ones a union with null and default null', async (t) => {
  t.same(
    v2.fields.map((f) => f.name),
    [...Object.keys(userSchema.properties), 'updatedAt'],
  );
  t.same(
    v1.fields.map((f) => f.name),
    v2.fields.map((f) => f.name),
    'the same fields as version 1, in the same order',
  );
  for (const field of v2.fields) {
    const nullable = NULLABLE.includes(field.name);
    const type = nullable ? ['null', 'string'] : v1.fields.find((f) => f.name === field.name)?.type;
    t.strictSame(field.type, type, `${field.name}: ${JSON.stringify(type)}`);
    t.equal('default' in field, nullable, `${field.name}: ${nullable ? 'default null' : 'no default'}`);
    if (nullable) t.equal(field.default, null);
    const http = userSchema.properties[field.name as keyof typeof userSchema.properties]?.type;
    if (http) t.equal(Array.isArray(http) && http.includes('null'), nullable, `${field.name}: the same over HTTP`);
  }
});

t.test('null, empty and set values are written and read back as they are', async (t) => {
  const serde = outputSerde(new Map());
  await serde.init();
  // avsc decodes into instances of a record class: spread into plain objects to compare them strictly.
  for (const value of [base, { ...base, description: '', location: null, webPageUrl: 'https://example.com' }]) {
    t.strictSame({ ...serde.deserialize(serde.serialize(value)) }, value);
  }
});

t.test('a record written with version 1 is read with version 2, its values unchanged', async (t) => {
  const writer = avro.Type.forSchema(v1 as AvroSchema);
  const old = { ...base, description: 'set', location: '', webPageUrl: '', profileImageUrl: 'p.png' };
  const bytes = Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), writer.toBuffer(old)]);
  const serde = outputSerde(new Map([[1, writer]]));
  await serde.init();
  await serde.resolve(bytes);
  t.strictSame({ ...serde.deserialize(bytes) }, old);
  t.throws(() => writer.toBuffer(base), 'version 1 cannot hold a null: the change needed a new version');
});

t.test('the response schema writes null as null, not ""; the answers and the OpenAPI document say so', async (t) => {
  const { updatedAt: _updatedAt, ...document } = base;
  // The baselines serialize documents with this schema (fast-json-stringify writes null as "" for a string).
  const plain = Fastify();
  t.teardown(() => plain.close());
  plain.get('/', { schema: { response: { 200: userSchema } } }, async () => document);
  t.strictSame((await plain.inject({ method: 'GET', url: '/' })).json(), document);

  const source = stubViewSource({
    lookup: (key) => ({
      kind: 'local',
      partition: 0,
      value: key.toString() === base.userId ? viewSerde.serialize(base) : undefined,
    }),
  });
  const app = await buildServer({ source, registry: new Registry(), corsOrigins: [] });
  t.teardown(() => app.close());
  const one = await app.inject({ method: 'GET', url: `/users/${base.userId}` });
  t.strictSame(one.json(), document, 'GET /users/:userId');
  const batch = await app.inject({ method: 'POST', url: '/users:batchGet', payload: { ids: [base.userId] } });
  t.strictSame(batch.json().results[0].user, document, 'POST /users:batchGet');
  const openapi = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  const properties =
    openapi.paths['/users/{userId}'].get.responses['200'].content['application/json'].schema.properties;
  for (const field of NULLABLE) t.strictSame(properties[field].type, ['string', 'null'], `${field} in /openapi.json`);
  t.strictSame(properties.username.type, 'string');
});
