/**
 * Debezium change events as written by Kafka Connect's JsonConverter (with or
 * without schemas), in either of two shapes:
 * - the envelope: `{before, after, source: {ts_ms, ...}, op, ts_ms}`;
 * - flattened by Debezium's ExtractNewRecordState with `add.fields=op,source.ts_ms`:
 *   the row's columns plus `__op` and `__source_ts_ms` (and `__deleted: "true"`
 *   on a delete rewritten with its before image). The stack's connector writes
 *   this shape: 2-3x smaller, and parsed several times faster.
 * The serde decodes an event into the row it leaves behind (null after a
 * delete) and the source database's commit time. Ids keep their exact 64-bit
 * value (bigint-safe JSON).
 */
import { InvalidRecordError } from '../processor/errors.js';
import { parseJson, stringifyJson, type JsonValue } from './json.js';
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
      const event = isObject(parsed) && isObject(parsed.payload) && 'schema' in parsed ? parsed.payload : parsed;
      if (!isObject(event)) throw new InvalidRecordError(`${name}: the event is not a JSON object`);
      return '__op' in event ? fromFlattened(name, event, mapRow) : fromEnvelope(name, event, mapRow);
    },
  };
}

function changeOp(name: string, op: JsonValue | undefined): CdcChange<unknown>['op'] {
  if (op !== 'c' && op !== 'u' && op !== 'd' && op !== 'r')
    throw new InvalidRecordError(`${name}: unknown op ${op === undefined ? 'none' : stringifyJson(op)}`);
  return op;
}

function commitTime(name: string, value: JsonValue | undefined): number {
  const committedAt = Number(value);
  if (value === undefined || value === null || !Number.isFinite(committedAt))
    throw new InvalidRecordError(`${name}: no source.ts_ms`);
  return committedAt;
}

function fromEnvelope<R>(name: string, envelope: JsonObject, mapRow: (after: JsonObject) => R): CdcChange<R> {
  const op = changeOp(name, envelope.op);
  const source = isObject(envelope.source) ? envelope.source : {};
  const committedAt = commitTime(name, source.ts_ms ?? envelope.ts_ms);
  if (op === 'd') return { op, row: null, committedAt };
  if (!isObject(envelope.after)) throw new InvalidRecordError(`${name}: op ${op} without an "after" row`);
  return { op, row: mapRow(envelope.after), committedAt };
}

function fromFlattened<R>(name: string, row: JsonObject, mapRow: (after: JsonObject) => R): CdcChange<R> {
  const op = changeOp(name, row.__op);
  const committedAt = commitTime(name, row.__source_ts_ms);
  if (op === 'd' || row.__deleted === 'true' || row.__deleted === true) return { op: 'd', row: null, committedAt };
  return { op, row: mapRow(row), committedAt };
}
