// AvroSerde against the stack's schema registry: registration, the resolve() path of a second
// instance, writer->reader resolution across versions, and byte-level interop with
// @kafkajs/confluent-schema-registry in both directions.
import t from 'tap';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { AvroSerde, UnknownSchemaIdError } from '../../src/serdes/avro.js';
import { DeserializationError } from '../../src/serdes/serde.js';
import { stack, uniqueName } from '../support/stack.js';

const userV1 = {
  type: 'record' as const,
  name: 'UserProbe',
  namespace: 'uis.test',
  fields: [
    { name: 'user_id', type: 'string' },
    { name: 'username', type: 'string' },
    { name: 'followers', type: 'long' },
    { name: 'verified', type: 'boolean' },
  ],
};
const userV2 = {
  ...userV1,
  fields: [...userV1.fields, { name: 'bio', type: ['null', 'string'], default: null }],
};

interface UserProbe {
  user_id: string;
  username: string;
  followers: number;
  verified: boolean;
  bio?: string | null;
}

const sample: UserProbe = { user_id: '9223372036854775807', username: 'zoë', followers: 1234, verified: true };

t.test('a second instance reads our bytes through resolve(), and the registry client agrees', async (t) => {
  const subject = uniqueName('serdes-avro-value');
  const writer = new AvroSerde<UserProbe>({
    registry: new SchemaRegistry({ host: stack.registryUrl }),
    subject,
    schema: userV1,
  });
  await writer.init();
  const bytes = writer.serialize(sample);
  t.equal(bytes[0], 0, 'magic byte');
  t.equal(bytes.readInt32BE(1), writer.schemaId, 'our registered id');

  // A fresh client, so nothing is shared through the registry client's cache.
  const reader = new AvroSerde<UserProbe>({
    registry: new SchemaRegistry({ host: stack.registryUrl }),
    subject,
    schema: userV1,
  });
  t.throws(() => reader.deserialize(bytes), UnknownSchemaIdError, 'unknown before resolve()');
  await reader.resolve(bytes);
  const decoded = reader.deserialize(bytes);
  t.same(decoded, sample);
  t.equal(decoded.user_id, '9223372036854775807', 'the 64-bit id is still the exact string');

  const client = new SchemaRegistry({ host: stack.registryUrl });
  t.same(await client.decode(bytes), sample, 'registry.decode() reads our bytes');
  const theirs = await client.encode(writer.schemaId ?? -1, sample);
  t.equal(theirs.toString('hex'), bytes.toString('hex'), 'registry.encode() writes the same bytes as we do');
  t.same(reader.deserialize(theirs), sample);
});

t.test('records written with v1 are read by a v2 serde of the same subject', async (t) => {
  const subject = uniqueName('serdes-avro-evolve-value');
  const v1 = new AvroSerde<UserProbe>({
    registry: new SchemaRegistry({ host: stack.registryUrl }),
    subject,
    schema: userV1,
  });
  await v1.init();
  const oldBytes = v1.serialize(sample);

  const v2 = new AvroSerde<UserProbe>({
    registry: new SchemaRegistry({ host: stack.registryUrl }),
    subject,
    schema: userV2,
  });
  await v2.init();
  t.not(v2.schemaId, v1.schemaId, 'v2 is a new schema id under the subject');
  t.throws(() => v2.deserialize(oldBytes), UnknownSchemaIdError);
  await v2.resolve(oldBytes);
  t.same(v2.deserialize(oldBytes), { ...sample, bio: null }, 'the v1 record gains the default');

  const newBytes = v2.serialize({ ...sample, bio: 'hello' });
  t.same(v2.deserialize(newBytes), { ...sample, bio: 'hello' });
  const client = new SchemaRegistry({ host: stack.registryUrl });
  t.same(
    await client.decode(oldBytes, { [SchemaType.AVRO]: { readerSchema: userV2 } }),
    v2.deserialize(oldBytes),
    'the registry client resolves v1 into v2 the same way',
  );
});

t.test('an id the registry does not have is a DeserializationError from resolve()', async (t) => {
  const serde = new AvroSerde<UserProbe>({
    registry: new SchemaRegistry({ host: stack.registryUrl }),
    subject: uniqueName('serdes-avro-missing-value'),
    schema: userV1,
  });
  const bytes = Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 0]);
  await t.rejects(serde.resolve(bytes), DeserializationError);
});

t.test('instances starting together all register a new subject, with the same id', async (t) => {
  // Each first registration also sets the subject's compatibility; at the same moment, all but one of
  // those requests can be refused by the registry.
  const subject = uniqueName('serdes-avro-race-value');
  const serdes = Array.from(
    { length: 4 },
    () =>
      new AvroSerde<UserProbe>({ registry: new SchemaRegistry({ host: stack.registryUrl }), subject, schema: userV1 }),
  );
  await Promise.all(serdes.map((s) => s.init()));
  const ids = new Set(serdes.map((s) => s.schemaId));
  t.equal(ids.size, 1, 'one schema id');
  t.type([...ids][0], 'number');
});
