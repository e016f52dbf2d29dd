/**
 * Debezium change events as written by Kafka Connect's JsonConverter (with or
 * without schemas): `{before, after, source: {ts_ms, ...}, op, ts_ms}`. The
 * serde decodes an event into the row it leaves behind (null after a delete)
 * and the source database's commit time. Ids keep their exact 64-bit value
 * (bigint-safe JSON).
 */
import { InvalidRecordError } from '../processor/errors.js';
import { parseJson, type JsonValue } from './json.js';
import { DeserializationError, type Serde } from './serde.js';

export type JsonObject = { [key: string]: JsonValue };

export interface CdcChange<R> {
  /** c: create, u: update, d: delete, r: snapshot read. */
  readonly op: 'c' | 'u' | 'd' | 'r';
  /** The row after the change; null after a delete. */
  readonly row: R | null;
  /** Commit time of the change in the source database (ms since the epoch). */
  readonly committedAt: number;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof value !== 'bigint';
}

/** Decodes change events of one table, mapping each `after` row with `mapRow` (which throws InvalidRecordError on a bad row). */
export function debeziumSerde<R>(table: string, mapRow: (after: JsonObject) => R): Serde<CdcChange<R>> {
  const name = `debezium(${table})`;
  return {
    name,
    serialize(): Buffer {
      throw new Error(`${name} only reads change events`);
    },
    deserialize(bytes: Buffer): CdcChange<R> {
      let parsed: JsonValue;
      try {
        parsed = parseJson(bytes.toString('utf8'));
      } catch (error) {
        throw new DeserializationError(name, (error as Error).message, { cause: error });
      }
      const envelope = isObject(parsed) && isObject(parsed.payload) && 'schema' in parsed ? parsed.payload : parsed;
      if (!isObject(envelope)) throw new InvalidRecordError(`${name}: the event is not a JSON object`);
      const op = envelope.op;
      if (op !== 'c' && op !== 'u' && op !== 'd' && op !== 'r')
        throw new InvalidRecordError(`${name}: unknown op ${JSON.stringify(op)}`);
      const source = isObject(envelope.source) ? envelope.source : {};
      const committedAt = Number(source.ts_ms ?? envelope.ts_ms);
      if (!Number.isFinite(committedAt)) throw new InvalidRecordError(`${name}: no source.ts_ms`);
      if (op === 'd') return { op, row: null, committedAt };
      if (!isObject(envelope.after)) throw new InvalidRecordError(`${name}: op ${op} without an "after" row`);
      return { op, row: mapRow(envelope.after), committedAt };
    },
  };
}
