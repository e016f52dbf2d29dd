// The schema registry of the local stack speaks the Confluent REST API:
// @kafkajs/confluent-schema-registry registers, encodes and decodes against it,
// and it enforces BACKWARD compatibility.
import t from 'tap';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { stack, uniqueName } from '../support/stack.js';

const registry = new SchemaRegistry({ host: stack.registryUrl });

const v1 = {
  type: 'record',
  name: 'Probe',
  namespace: 'uis.test',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'count', type: 'long' },
  ],
};

async function setCompatibility(subject: string, level: string): Promise<void> {
  const response = await fetch(`${stack.registryUrl}/config/${encodeURIComponent(subject)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: level }),
  });
  if (!response.ok) throw new Error(`setting compatibility failed: ${response.status} ${await response.text()}`);
}

t.test('an Avro record round-trips in Confluent wire format', async (t) => {
  const subject = uniqueName('probe-value');
  const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
  t.ok(Number.isInteger(id) && id > 0, 'the registry gives a schema id');
  const encoded = await registry.encode(id, { id: '9007199254740993', count: 42 });
  t.equal(encoded[0], 0, 'magic byte');
  t.equal(encoded.readInt32BE(1), id, 'schema id after the magic byte');
  t.same(await registry.decode(encoded), { id: '9007199254740993', count: 42 });
  t.equal(await registry.getLatestSchemaId(subject), id);
});

t.test('BACKWARD compatibility rejects a new required field and accepts a defaulted one', async (t) => {
  const subject = uniqueName('probe-compat-value');
  await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
  await setCompatibility(subject, 'BACKWARD');

  const incompatible = { ...v1, fields: [...v1.fields, { name: 'required', type: 'string' }] };
  await t.rejects(
    registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(incompatible) }, { subject }),
    /incompatible|409/i,
    'a field without a default cannot be read from old records',
  );

  const compatible = { ...v1, fields: [...v1.fields, { name: 'optional', type: ['null', 'string'], default: null }] };
  const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(compatible) }, { subject });
  t.equal(await registry.getLatestSchemaId(subject), id, 'the compatible change is the latest version');
});
