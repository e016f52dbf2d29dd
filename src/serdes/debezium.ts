/**
 * Debezium change events as written by Kafka Connect's JsonConverter (with or
 * without schemas), in either of two shapes:
 * - the envelope: `{before, after, source: {ts_ms, ...}, op, ts_ms}`;
 * - flattened by Debezium's ExtractNewRecordState with `add.fields=op,source.ts_ms,source.lsn`:
 *   the row's columns plus `__op`, `__source_ts_ms` and `__source_lsn` (and `__deleted: "true"`
 *   on a delete rewritten with its before image). The stack's connector writes
 *   this shape: 2-3x smaller, and parsed several times faster.
 * The serde decodes an event into the row it leaves behind (null after a
 * delete) and the source database's commit time. Ids keep their exact 64-bit
 * value (bigint-safe JSON).
 */
import { InvalidRecordError } from '../processor/errors.js';
import type { LineageFacts } from '../processor/lineage.js';
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
  /**
   * The change's position in the source's log (PostgreSQL: its LSN, as a decimal string), when the
   * event carries it (`source.lsn`; flattened: `__source_lsn`, with add.fields=...,source.lsn).
   */
  readonly lsn?: string;
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
  const lsn = logPosition(source.lsn);
  if (op === 'd') return { op, row: null, committedAt, lsn };
  if (!isObject(envelope.after)) throw new InvalidRecordError(`${name}: op ${op} without an "after" row`);
  return { op, row: mapRow(envelope.after), committedAt, lsn };
}

function fromFlattened<R>(name: string, row: JsonObject, mapRow: (after: JsonObject) => R): CdcChange<R> {
  const op = changeOp(name, row.__op);
  const committedAt = commitTime(name, row.__source_ts_ms);
  const lsn = logPosition(row.__source_lsn);
  if (op === 'd' || row.__deleted === 'true' || row.__deleted === true) return { op: 'd', row: null, committedAt, lsn };
  return { op, row: mapRow(row), committedAt, lsn };
}

function logPosition(value: JsonValue | undefined): string | undefined {
  return typeof value === 'number' || typeof value === 'bigint' ? String(value) : undefined;
}

/**
 * The lineage facts of a change event (see src/processor/lineage.ts), as `op|lsn|table`, ordered by
 * the LSN: the lineage itself carries the event's key (the row's primary key) and its timestamp (the
 * commit time).
 */
export function debeziumLineage<R>(table: string): (change: CdcChange<R> | null) => LineageFacts {
  return (change) => {
    const lsn = change?.lsn;
    const order = lsn === undefined ? undefined : Number(lsn);
    return {
      facts: `${change?.op ?? 'd'}|${lsn ?? ''}|${table}`,
      ...(order !== undefined && Number.isSafeInteger(order) ? { order } : {}),
    };
  };
}

/** What debeziumLineage wrote, read back; undefined for facts of another form. */
export function readDebeziumLineage(
  facts: string,
): { op: CdcChange<unknown>['op']; lsn: string | undefined; table: string } | undefined {
  const match = /^([cudr])\|(\d*)\|(.+)$/s.exec(facts);
  if (!match) return undefined;
  return { op: match[1] as CdcChange<unknown>['op'], lsn: match[2] || undefined, table: match[3]! };
}

/** A change event's key: the row's primary key columns (a key written with its schema gives its payload). */
export function debeziumKeyColumns(key: Buffer): JsonObject | undefined {
  try {
    const parsed = parseJson(key.toString('utf8'));
    if (!isObject(parsed)) return undefined;
    return 'schema' in parsed && isObject(parsed.payload) ? parsed.payload : parsed;
  } catch {
    return undefined;
  }
}
