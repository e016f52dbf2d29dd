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
