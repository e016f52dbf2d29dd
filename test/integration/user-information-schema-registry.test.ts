// The output topic's schema evolution against the stack's registry (decision 0014): version 1 of
// user-information.avsc (test/fixtures/avro/user-information.v1.avsc, as committed before the change), then
// version 2 (schemas/avro/user-information.avsc, the nullable profile fields), under BACKWARD compatibility.
// The registry accepts version 2, a record written with version 1 is read with version 2, and a change that
// version 2's records cannot be read with (the nulls taken back) is refused.
import t from 'tap';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { AvroSerde } from '../../src/serdes/avro.js';
import { v1, v2 } from '../support/avro-schemas.js';
import type { UserInformation } from '../../topology/user-information.js';
import { stack, uniqueName } from '../support/stack.js';

const CONTENT_TYPE = { 'content-type': 'application/vnd.schemaregistry.v1+json' };

/** The registry's answer to a Confluent REST call, failing the test on an error status. */
async function call(method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${stack.registryUrl}${path}`, {
    method,
    headers: CONTENT_TYPE,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

const serde = (subject: string, schema: object) =>
  new AvroSerde<UserInformation>({ registry: new SchemaRegistry({ host: stack.registryUrl }), subject, schema });

const old: UserInformation = {
  userId: '9223372036854775807',
  username: 'old',
  name: 'Old Record',
  description: 'written with version 1',
  location: '',
  webPageUrl: 'https://example.com',
  joinedDate: '2006-03-21T20:50:14.000000Z',
  profileImageUrl: '',
  backgroundImageUrl: '',
  tweetCount: 1,
  followingCount: 2,
  followerCount: 3,
  likeCount: 4,
  updatedAt: Date.UTC(2026, 10, 27),
};

t.test('version 1 then version 2 under BACKWARD: accepted, and old records are read with the new schema', async (t) => {
  const subject = uniqueName('user-information-evolution-value');
  const writerV1 = serde(subject, v1);
  await writerV1.init();
  await call('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: 'BACKWARD' });
  t.match(await call('GET', `/config/${encodeURIComponent(subject)}`), { compatibilityLevel: 'BACKWARD' });
  const oldBytes = writerV1.serialize(old);

  t.match(
    await call('POST', `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest`, {
      schema: JSON.stringify(v2),
    }),
    { is_compatible: true },
    'the registry finds version 2 compatible with version 1',
  );
  const readerV2 = serde(subject, v2);
  await readerV2.init();
  t.not(readerV2.schemaId, writerV1.schemaId, 'version 2 has a schema id of its own');
  t.same(await call('GET', `/subjects/${encodeURIComponent(subject)}/versions`), [1, 2], 'two versions');

  // avsc decodes into instances of a record class: spread into plain objects to compare them strictly.
  await readerV2.resolve(oldBytes);
  t.strictSame({ ...readerV2.deserialize(oldBytes) }, old, 'a version 1 record, read with version 2');
  const registry = new SchemaRegistry({ host: stack.registryUrl });
  t.strictSame(
    { ...(await registry.decode(oldBytes, { [SchemaType.AVRO]: { readerSchema: v2 } })) },
    old,
    'the registry client resolves it the same way',
  );

  const unset = { ...old, description: null, location: null, webPageUrl: null, profileImageUrl: null };
  const newBytes = readerV2.serialize(unset);
  t.strictSame({ ...readerV2.deserialize(newBytes) }, unset);
  t.strictSame(
    { ...(await registry.decode(newBytes)) },
    unset,
    'a consumer reading with the writer schema gets the nulls',
  );
});

t.test('taking the nulls back is not BACKWARD compatible: the registry refuses it', async (t) => {
  const subject = uniqueName('user-information-evolution-value');
  await serde(subject, v1).init();
  await serde(subject, v2).init();
  const narrowed = {
    ...v2,
    fields: v2.fields.map((field) => (field.name === 'description' ? { name: field.name, type: 'string' } : field)),
  };
  t.match(
    await call('POST', `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest`, {
      schema: JSON.stringify(narrowed),
    }),
    { is_compatible: false },
    'a reader with description a plain string cannot read version 2 records',
  );
  await t.rejects(serde(subject, narrowed).init(), /incompatible|409/i, 'registering it is refused');
  t.same(await call('GET', `/subjects/${encodeURIComponent(subject)}/versions`), [1, 2], 'still two versions');
});
