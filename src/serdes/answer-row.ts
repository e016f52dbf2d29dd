/**
 * A view row stored as the HTTP answer it gives: the response body (JSON),
 * its ETag and its Last-Modified, worked out once when the row is written
 * (on the engine's thread) instead of on every GET. Serving a row is then one
 * store read and one write of stored bytes: no parse, no serialization, no
 * hash.
 *
 * Layout (after a format byte, 0x01; a row written as plain JSON before this
 * format existed starts with '{' and is still read):
 *
 *   [0x01][last change, ms: float64 BE][u8 n][Last-Modified: n ASCII bytes][u8 m][ETag: m ASCII bytes][body]
 */
import { jsonSerde, stringifyJson } from './json.js';
import { DeserializationError, type Serde } from './serde.js';

const FORMAT = 0x01;
const LEGACY_JSON = 0x7b; // '{'

/** What a GET answers for a stored row. */
export interface AnswerRow {
  /** The response body: a JSON document. */
  readonly body: Buffer;
  /** A strong validator of the body. */
  readonly etag: string;
  /** The HTTP date of the row's last change. */
  readonly lastModified: string;
}

export interface AnswerRowSerde<T> extends Serde<T> {
  /** The answer a stored row gives. */
  answer(bytes: Buffer): AnswerRow;
}

export interface AnswerRowOptions<T, D extends object> {
  name: string;
  /** The document the answer carries, with its properties in the order they are written. */
  document(value: T): D;
  /** When the value last changed (ms since the epoch). */
  changedAt(value: T): number;
  /** The value back from its document and the time it changed. */
  value(document: D, changedAt: number): T;
}

/**
 * A strong validator of a body: its length and a 32-bit FNV-1a hash, quoted. (A crypto hash cost
 * ~15 µs per call when it was computed on every GET; this costs well under 1 µs.)
 */
export function entityTag(bytes: Buffer): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return `"${bytes.length.toString(36)}-${(hash >>> 0).toString(36)}"`;
}

export function answerRowSerde<T, D extends object>(options: AnswerRowOptions<T, D>): AnswerRowSerde<T> {
  const { name } = options;
  const fail = (message: string): never => {
    throw new DeserializationError(name, message);
  };
  const legacyRows = jsonSerde<T>(name);
  const documents = jsonSerde<D>(name);

  /** Offsets of a stored row's parts; throws on bytes that are not a row of this format. */
  function layout(bytes: Buffer): { changedAt: number; lastModified: string; etag: string; bodyAt: number } {
    if (bytes.length < 10 || bytes[0] !== FORMAT) fail('not an answer row');
    const changedAt = bytes.readDoubleBE(1);
    const lastModifiedEnd = 10 + bytes[9]!;
    const etagEnd = lastModifiedEnd + 1 + (bytes[lastModifiedEnd] ?? fail('truncated answer row'));
    if (etagEnd > bytes.length) fail('truncated answer row');
    return {
      changedAt,
      lastModified: bytes.toString('latin1', 10, lastModifiedEnd),
      etag: bytes.toString('latin1', lastModifiedEnd + 1, etagEnd),
      bodyAt: etagEnd,
    };
  }

  function encode(document: D, changedAt: number): Buffer {
    const body = Buffer.from(stringifyJson(document), 'utf8');
    const lastModified = Buffer.from(new Date(changedAt).toUTCString(), 'latin1');
    const etag = Buffer.from(entityTag(body), 'latin1');
    const header = Buffer.allocUnsafe(11 + lastModified.length + etag.length);
    header[0] = FORMAT;
    header.writeDoubleBE(changedAt, 1);
    header[9] = lastModified.length;
    lastModified.copy(header, 10);
    header[10 + lastModified.length] = etag.length;
    etag.copy(header, 11 + lastModified.length);
    return Buffer.concat([header, body]);
  }

  const serialize = (value: T) => encode(options.document(value), options.changedAt(value));
  const deserialize = (bytes: Buffer): T => {
    if (bytes[0] === LEGACY_JSON) return legacyRows.deserialize(bytes);
    const { changedAt, bodyAt } = layout(bytes);
    return options.value(documents.deserialize(bytes.subarray(bodyAt)), changedAt);
  };
  const answer = (bytes: Buffer): AnswerRow => {
    const row = bytes[0] === LEGACY_JSON ? serialize(deserialize(bytes)) : bytes;
    const { lastModified, etag, bodyAt } = layout(row);
    return { body: row.subarray(bodyAt), etag, lastModified };
  };
  return { name, serialize, deserialize, answer };
}
