/**
 * A serde turns values of one type into bytes and back. Serialization and
 * deserialization are synchronous so that processing never waits inside a
 * record; serdes that need a remote lookup (Avro with a schema registry)
 * prepare it ahead with `init()` or `resolve()`.
 */
export interface Serde<T> {
  /** A short name for errors and `describe()`, e.g. "string" or "avro(UserInformation)". */
  readonly name: string;
  serialize(value: T): Buffer;
  /** Throws a DeserializationError on malformed bytes. */
  deserialize(bytes: Buffer): T;
  /** Optional one-time asynchronous setup (e.g. register a schema). */
  init?(): Promise<void>;
}

/** Raised by a serde for bytes it cannot decode; the runtime sends the record to the dead-letter topic. */
export class DeserializationError extends Error {
  constructor(
    readonly serde: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${serde}: ${message}`, options);
    this.name = 'DeserializationError';
  }
}
