// Avro in the Confluent wire format: magic byte 0, the 4-byte big-endian schema id, then Avro binary.
// Encoding and decoding are synchronous with avsc; the schema registry is only asked in init()
// (register our schema) and resolve() (fetch a writer schema we have not seen yet).
import avro from 'avsc';
import { SchemaType, type SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { DeserializationError, type Serde } from './serde.js';

const MAGIC_BYTE = 0;
const HEADER_LENGTH = 5;

type AvroType = avro.Type;
type AvroResolver = ReturnType<AvroType['createResolver']>;
type AvroSchemaDefinition = Parameters<typeof avro.Type.forSchema>[0];

export interface AvroSerdeOptions {
  /** Only register() and getSchema() are used, so tests may pass a stand-in. */
  registry: Pick<SchemaRegistry, 'register' | 'getSchema'>;
  /** The subject our schema is registered under, e.g. "user-information-value". */
  subject: string;
  /** The Avro schema (.avsc JSON) values are written with and read into. */
  schema: object;
}

/**
 * Raised by deserialize() for a schema id this serde has not resolved yet. The bytes may be fine:
 * call `resolve(bytes)` and deserialize again. Deliberately not a DeserializationError, so that a
 * record is not dead-lettered just because its writer schema has not been fetched.
 */
export class UnknownSchemaIdError extends Error {
  constructor(
    readonly serde: string,
    readonly schemaId: number,
  ) {
    super(`${serde}: schema id ${schemaId} is not resolved yet; call resolve() first`);
    this.name = 'UnknownSchemaIdError';
  }
}

/** The schema id of Confluent-framed bytes; a DeserializationError for anything else. */
export function readSchemaId(serde: string, bytes: Buffer): number {
  if (bytes.length < HEADER_LENGTH) {
    throw new DeserializationError(serde, `${bytes.length} bytes is too short for the Confluent wire format`);
  }
  if (bytes[0] !== MAGIC_BYTE) throw new DeserializationError(serde, `unknown magic byte ${bytes[0]}`);
  return bytes.readInt32BE(1);
}

const REGISTER_ATTEMPTS = 4;

export class AvroSerde<T> implements Serde<T> {
  readonly name: string;
  private readonly registry: AvroSerdeOptions['registry'];
  private readonly subject: string;
  private readonly schema: object;
  private readonly readerType: AvroType;
  private registeredId: number | undefined;
  /** How to read each writer schema id seen so far: null reads with the reader type as is. */
  private readonly readers = new Map<number, AvroResolver | null>();

  constructor(options: AvroSerdeOptions) {
    this.registry = options.registry;
    this.subject = options.subject;
    this.schema = options.schema;
    this.readerType = avro.Type.forSchema(options.schema as AvroSchemaDefinition);
    const recordName = this.readerType.name?.split('.').pop();
    this.name = `avro(${recordName ?? options.subject})`;
  }

  /** The id our schema got from the registry, once init() has run. */
  get schemaId(): number | undefined {
    return this.registeredId;
  }

  /**
   * Registers our schema under the subject (the registry returns the existing id if it is already there).
   * Instances starting together race to register a new subject and set its compatibility; the loser's
   * request can fail (Apicurio: "A rule named 'COMPATIBILITY' already exists"), and registering again
   * then finds the subject in place, so a failure is retried a few times before it counts.
   */
  async init(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { id } = await this.registry.register(
          { type: SchemaType.AVRO, schema: JSON.stringify(this.schema) },
          { subject: this.subject },
        );
        this.registeredId = id;
        this.readers.set(id, null);
        return;
      } catch (error) {
        // Refused credentials do not get better by asking again.
        const status = (error as { status?: unknown }).status;
        if (status === 401 || status === 403) {
          throw new Error(
            `${this.name}: the schema registry refused to register ${this.subject} (HTTP ${status}): ` +
              'check the credentials given for it',
            { cause: error },
          );
        }
        if (attempt >= REGISTER_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  serialize(value: T): Buffer {
    if (this.registeredId === undefined) throw new Error(`${this.name}: init() must complete before serialize()`);
    const body = this.encode(value);
    const bytes = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
    bytes[0] = MAGIC_BYTE;
    bytes.writeInt32BE(this.registeredId, 1);
    body.copy(bytes, HEADER_LENGTH);
    return bytes;
  }

  deserialize(bytes: Buffer): T {
    const schemaId = readSchemaId(this.name, bytes);
    const resolver = this.readers.get(schemaId);
    if (resolver === undefined) throw new UnknownSchemaIdError(this.name, schemaId);
    try {
      return this.readerType.fromBuffer(bytes.subarray(HEADER_LENGTH), resolver ?? undefined) as T;
    } catch (error) {
      throw new DeserializationError(this.name, `bad Avro data for schema id ${schemaId}: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  /**
   * Fetches the writer schema named by these bytes so that deserialize() can read them. Rejects with a
   * DeserializationError when the registry does not know the id or the schema cannot be read as ours;
   * other rejections (network, registry down) are worth retrying.
   */
  async resolve(bytes: Buffer): Promise<void> {
    const schemaId = readSchemaId(this.name, bytes);
    if (this.readers.has(schemaId)) return;
    const writerType = await this.fetchWriterType(schemaId);
    let resolver: AvroResolver | null;
    try {
      resolver = writerType.equals(this.readerType) ? null : this.readerType.createResolver(writerType);
    } catch (error) {
      throw new DeserializationError(this.name, `schema id ${schemaId} cannot be read as ${this.readerType.name}`, {
        cause: error,
      });
    }
    this.readers.set(schemaId, resolver);
  }

  private async fetchWriterType(schemaId: number): Promise<AvroType> {
    let schema: unknown;
    try {
      schema = await this.registry.getSchema(schemaId);
    } catch (error) {
      if (statusOf(error) === 404) {
        throw new DeserializationError(this.name, `the registry has no schema id ${schemaId}`, { cause: error });
      }
      throw error;
    }
    // The registry client builds Avro schemas with the same avsc package; other kinds are not for us.
    if (!(schema instanceof avro.Type)) {
      throw new DeserializationError(this.name, `schema id ${schemaId} is not an Avro schema`);
    }
    return schema;
  }

  private encode(value: T): Buffer {
    try {
      return this.readerType.toBuffer(value);
    } catch (error) {
      const invalidPaths: string[] = [];
      this.readerType.isValid(value, { errorHook: (path) => invalidPaths.push(path.join('.') || '(root)') });
      const where = invalidPaths.length > 0 ? ` at ${invalidPaths.join(', ')}` : '';
      throw new TypeError(`${this.name}: value does not match the schema${where}`, { cause: error });
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function statusOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'status' in error ? error.status : undefined;
}
