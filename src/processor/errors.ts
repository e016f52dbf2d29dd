import { DeserializationError } from '../serdes/serde.js';

/**
 * Thrown by topology code for a record it cannot accept (e.g. a CDC envelope
 * without the fields it needs). Like a DeserializationError, the runtime sends
 * the record to the dead-letter topic and goes on with the next one.
 */
export class InvalidRecordError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidRecordError';
  }
}

/**
 * A record a sink could not serialize for its topic (Kafka Streams counts this as a production
 * error: its ProductionExceptionHandler decides).
 */
export class SerializationError extends Error {
  constructor(topic: string, cause: unknown) {
    super(`serializing a record for ${topic} failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'SerializationError';
  }
}

/**
 * A record larger than a topic accepts (Kafka's RecordTooLargeException, found before it is sent): a
 * production error, so the record's policy decides, instead of the broker refusing the whole commit.
 */
export class RecordTooLargeError extends SerializationError {
  constructor(topic: string, bytes: number, maxBytes: number) {
    super(topic, undefined);
    this.message = `a record for ${topic} is ${bytes} bytes, more than the ${maxBytes} a record may have (maxRecordBytes)`;
    this.name = 'RecordTooLargeError';
  }
}

/** The largest record (key, value and headers) sent by default: under the broker's default message.max.bytes. */
export const DEFAULT_MAX_RECORD_BYTES = 1_000_000;

/**
 * What went wrong with a record, as Kafka Streams' three exception handlers divide it: its bytes
 * could not be read (deserialization), topology code threw on it (processing), or what it produced
 * could not be written (production).
 */
export type RecordErrorKind = 'deserialization' | 'processing' | 'production';

/** What to do with such a record: stop the application, skip it (logged and counted), or dead-letter it. */
export type RecordErrorPolicy = 'fail' | 'skip' | 'dead-letter';

export const RECORD_ERROR_POLICIES: readonly RecordErrorPolicy[] = ['fail', 'skip', 'dead-letter'];

export function recordErrorKind(error: Error): RecordErrorKind {
  if (error instanceof DeserializationError) return 'deserialization';
  if (error instanceof SerializationError) return 'production';
  return 'processing';
}
