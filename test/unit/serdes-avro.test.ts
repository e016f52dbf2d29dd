// AvroSerde against an in-memory stand-in for the schema registry: wire format, schema resolution,
// and the UnknownSchemaIdError -> resolve() -> deserialize flow.
import t from 'tap';
import avro from 'avsc';
import { DeserializationError } from '../../src/serdes/serde.js';
import { AvroSerde, UnknownSchemaIdError, readSchemaId, type AvroSerdeOptions } from '../../src/serdes/avro.js';

const probeV1 = {
  type: 'record',
  name: 'Probe',
  namespace: 'uis.test',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'count', type: 'long' },
  ],
};
// A BACKWARD-compatible successor: a new defaulted field, the old fields in another order.
const probeV2 = {
  ...probeV1,
  fields: [
    { name: 'count', type: 'long' },
    { name: 'label', type: ['null', 'string'], default: null },
    { name: 'id', type: 'string' },
  ],
};
const incompatible = { ...probeV1, fields: [{ name: 'id', type: 'int' }] };

interface Probe {
  id: string;
  count: number;
  label?: string | null;
}

/** Holds schemas by id like the registry does, and records what it was asked. */
class FakeRegistry {
  readonly schemas = new Map<number, unknown>();
  readonly registered: { subject: string | undefined; schema: unknown }[] = [];
  readonly fetched: number[] = [];
  failWith: unknown = undefined;
  private nextId = 100;

  async register(confluentSchema: unknown, options?: { subject?: string }): Promise<{ id: number }> {
    const schema = JSON.parse((confluentSchema as { schema: string }).schema);
    this.registered.push({ subject: options?.subject, schema });
    const id = this.nextId++;
    this.schemas.set(id, avro.Type.forSchema(schema));
    return { id };
  }

  async getSchema(id: number) {
    this.fetched.push(id);
    if (this.failWith !== undefined) throw this.failWith;
    const schema = this.schemas.get(id);
    if (schema === undefined) throw Object.assign(new Error(`Schema ${id} not found`), { status: 404 });
    return schema as avro.Type;
  }

  /** Stores a schema under an id of our choosing, as if another producer had registered it. */
  add(id: number, schema: object): void {
    this.schemas.set(id, avro.Type.forSchema(schema as Parameters<typeof avro.Type.forSchema>[0]));
  }
}

function serdeFor(registry: FakeRegistry, schema: object = probeV1): AvroSerde<Probe> {
  const options: AvroSerdeOptions = { registry, subject: 'probe-value', schema };
  return new AvroSerde<Probe>(options);
}

/** Confluent-framed bytes written by some other producer with `schema` under `id`. */
function framed(id: number, schema: object, value: unknown): Buffer {
  const header = Buffer.alloc(5);
  header.writeInt32BE(id, 1);
  const type = avro.Type.forSchema(schema as Parameters<typeof avro.Type.forSchema>[0]);
  return Buffer.concat([header, type.toBuffer(value)]);
}

t.test('init registers the schema under the subject', async (t) => {
  const registry = new FakeRegistry();
  const serde = serdeFor(registry);
  t.equal(serde.name, 'avro(Probe)');
  t.equal(serde.schemaId, undefined);
  t.throws(() => serde.serialize({ id: 'a', count: 1 }), /init\(\) must complete/, 'no serializing before init');
  await serde.init();
  t.equal(serde.schemaId, 100);
  t.same(registry.registered, [{ subject: 'probe-value', schema: probeV1 }]);
});

t.test('serialize writes the Confluent wire format', async (t) => {
  const registry = new FakeRegistry();
  const serde = serdeFor(registry);
  await serde.init();
  const value = { id: '9007199254740993', count: 42 };
  const bytes = serde.serialize(value);
  t.equal(bytes[0], 0, 'magic byte');
  t.equal(bytes.readInt32BE(1), 100, 'big-endian schema id');
  t.equal(readSchemaId('test', bytes), 100);
  const body = avro.Type.forSchema(probeV1 as Parameters<typeof avro.Type.forSchema>[0]).toBuffer(value);
  t.equal(bytes.subarray(5).toString('hex'), body.toString('hex'), 'then the plain Avro binary');
  t.equal(bytes.compare(framed(100, probeV1, value)), 0);

  const decoded = serde.deserialize(bytes);
  t.same(decoded, value);
  t.equal(decoded.id, '9007199254740993', 'a string id stays that exact string');
  t.equal(typeof decoded.count, 'number');
  t.same(registry.fetched, [], 'our own id needs no registry lookup');
});

t.test('serialize names the fields that do not match the schema', async (t) => {
  const serde = serdeFor(new FakeRegistry());
  await serde.init();
  const bad = { id: 9007199254740993n, count: 'many' } as unknown as Probe;
  t.throws(() => serde.serialize(bad), { name: 'TypeError', message: /avro\(Probe\).*at id, count/ });
  t.throws(() => serde.serialize({ id: 'x', count: 2 ** 53 }), TypeError, 'an unsafe long is refused');
});

t.test('an unknown schema id needs resolve() first', async (t) => {
  const registry = new FakeRegistry();
  registry.add(7, probeV1);
  const serde = serdeFor(registry);
  const bytes = framed(7, probeV1, { id: 'u1', count: 3 });

  t.throws(() => serde.deserialize(bytes), UnknownSchemaIdError);
  try {
    serde.deserialize(bytes);
  } catch (error) {
    t.equal((error as UnknownSchemaIdError).schemaId, 7, 'the error carries the id');
    t.notOk(error instanceof DeserializationError, 'it is not a dead-letter case');
  }
  await serde.resolve(bytes);
  t.same(serde.deserialize(bytes), { id: 'u1', count: 3 });
  await serde.resolve(bytes);
  t.same(registry.fetched, [7], 'each id is fetched once');
});

t.test('an older writer schema is resolved into the reader schema', async (t) => {
  const registry = new FakeRegistry();
  registry.add(1, probeV1);
  const serde = serdeFor(registry, probeV2);
  await serde.init();
  const own = serde.serialize({ id: 'new', count: 2, label: 'L' });
  t.same(serde.deserialize(own), { count: 2, label: 'L', id: 'new' });

  const old = framed(1, probeV1, { id: 'old', count: 1 });
  t.throws(() => serde.deserialize(old), UnknownSchemaIdError);
  await serde.resolve(old);
  t.same(serde.deserialize(old), { count: 1, label: null, id: 'old' }, 'the new field takes its default');
  t.throws(
    () => avro.Type.forSchema(probeV2 as Parameters<typeof avro.Type.forSchema>[0]).fromBuffer(old.subarray(5)),
    'reading without the resolver would fail, so the resolver is what made it work',
  );
});

t.test('resolve() rejects ids that can never be read', async (t) => {
  const registry = new FakeRegistry();
  registry.add(3, incompatible);
  registry.schemas.set(4, { toBuffer: () => Buffer.alloc(0) }); // e.g. a JSON Schema
  const serde = serdeFor(registry);

  await t.rejects(serde.resolve(framed(3, incompatible, { id: 1 })), DeserializationError, 'incompatible writer');
  await t.rejects(serde.resolve(Buffer.from([0, 0, 0, 0, 4])), DeserializationError, 'not an Avro schema');
  await t.rejects(serde.resolve(Buffer.from([0, 0, 0, 0, 5])), DeserializationError, 'unknown to the registry');
  t.throws(() => serde.deserialize(Buffer.from([0, 0, 0, 0, 3])), UnknownSchemaIdError, 'nothing was cached');

  registry.add(6, probeV1);
  const outage = new Error('connect ECONNREFUSED');
  registry.failWith = outage;
  await t.rejects(serde.resolve(framed(6, probeV1, { id: 'a', count: 1 })), outage, 'outages pass through');
});

t.test('malformed bytes are DeserializationErrors', async (t) => {
  const serde = serdeFor(new FakeRegistry());
  await serde.init();
  const good = serde.serialize({ id: 'abc', count: 5 });
  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['shorter than the header', Buffer.from([0, 0, 0])],
    ['wrong magic byte', Buffer.concat([Buffer.from([1]), good.subarray(1)])],
    ['truncated body', good.subarray(0, good.length - 1)],
    ['header only', good.subarray(0, 5)],
    ['trailing bytes', Buffer.concat([good, Buffer.from([0])])],
  ];
  for (const [what, bytes] of cases) t.throws(() => serde.deserialize(bytes), DeserializationError, what);
  await t.rejects(serde.resolve(Buffer.from([9, 0, 0, 0, 1])), DeserializationError, 'resolve checks the magic');

  const unsafeLong = Buffer.concat([good.subarray(0, 5), Buffer.from([2, 0x61]), Buffer.alloc(9, 0xff)]);
  unsafeLong[unsafeLong.length - 1] = 0x7f; // a zig-zag varint of about 2^62
  t.throws(() => serde.deserialize(unsafeLong), { name: 'DeserializationError', message: /precision/ });
});
