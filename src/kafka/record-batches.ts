/**
 * Walks fetched record batches (message format v2) without decoding them
 * into objects: keys and values are views into the fetched bytes (or, for a
 * compressed batch, into its decompressed records). With
 * read_committed semantics: records of aborted transactions (the fetch
 * response lists them) and control records (transaction markers) are
 * skipped, as Kafka's own consumer does.
 */

import { decompressRecords } from './compression.js';

export interface AbortedTransaction {
  producerId: bigint;
  firstOffset: bigint;
}

/**
 * Receives each committed record: its offset, key and value (views into the fetched bytes), timestamp
 * (ms), and its headers (undefined when it has none, which costs nothing to read). Records in a row
 * with the same header bytes (a CDC connector's context headers) share one headers array.
 */
export type RecordVisitor = (
  offset: number,
  key: Buffer | null,
  value: Buffer | null,
  timestamp: number,
  headers: readonly RecordHeader[] | undefined,
) => void;

export interface RecordHeader {
  readonly key: string;
  readonly value: Buffer;
}

/** Thrown for batches this walker cannot read (an old message format, or a codec this process lacks). */
export class UnsupportedBatchError extends Error {
  override name = 'UnsupportedBatchError';
}

/**
 * Receives each complete batch before its records: its first and last offset, and whether it holds
 * committed records (false for transaction markers and batches of aborted transactions).
 */
export type BatchVisitor = (baseOffset: bigint, lastOffset: bigint, committedRecords: boolean) => void;

const BATCH_HEADER = 61;
const ABORT_MARKER = 0;

/**
 * Calls `each(offset, key, value, timestamp)` for every committed record in `records` (the bytes of one
 * partition in a fetch response), in offset order, and `eachBatch` for every complete batch. Returns
 * the offset after the last complete batch (the next offset to fetch), or undefined when there was
 * none: a fetch may end with part of a batch, which the next fetch brings whole.
 */
export function walkRecordBatches(
  records: Buffer,
  aborted: readonly AbortedTransaction[],
  each: RecordVisitor,
  eachBatch?: BatchVisitor,
): bigint | undefined {
  const pendingAborts = [...aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : 1));
  const abortedProducers = new Set<bigint>();
  let nextOffset: bigint | undefined;
  let at = 0;
  while (at + 12 <= records.length) {
    const baseOffset = records.readBigInt64BE(at);
    const batchEnd = at + 12 + records.readInt32BE(at + 8);
    if (batchEnd > records.length || at + BATCH_HEADER > records.length) break;
    const magic = records.readInt8(at + 16);
    if (magic !== 2) throw new UnsupportedBatchError(`record batch with message format ${magic} (only 2 is read)`);
    const attributes = records.readInt16BE(at + 21);
    const lastOffset = baseOffset + BigInt(records.readInt32BE(at + 23));
    const producerId = records.readBigInt64BE(at + 43);
    const transactional = (attributes & 0x10) !== 0;
    const control = (attributes & 0x20) !== 0;
    while (pendingAborts.length > 0 && pendingAborts[0]!.firstOffset <= lastOffset)
      abortedProducers.add(pendingAborts.shift()!.producerId);

    const committedRecords = !control && !(transactional && abortedProducers.has(producerId));
    eachBatch?.(baseOffset, lastOffset, committedRecords);
    if (control) {
      if (transactional && controlType(records, at + BATCH_HEADER, batchEnd) === ABORT_MARKER)
        abortedProducers.delete(producerId);
    } else if (committedRecords) {
      const firstTimestamp = Number(records.readBigInt64BE(at + 27));
      const count = records.readInt32BE(at + 57);
      const codec = attributes & 0x07;
      if (codec === 0)
        walkRecords(records, at + BATCH_HEADER, batchEnd, Number(baseOffset), firstTimestamp, count, each);
      else {
        const inflated = inflate(codec, records.subarray(at + BATCH_HEADER, batchEnd), baseOffset);
        walkRecords(inflated, 0, inflated.length, Number(baseOffset), firstTimestamp, count, each);
      }
    }
    nextOffset = lastOffset + 1n;
    at = batchEnd;
  }
  return nextOffset;
}

function inflate(codec: number, data: Buffer, baseOffset: bigint): Buffer {
  try {
    return decompressRecords(codec, data);
  } catch (error) {
    throw new UnsupportedBatchError(
      `record batch at offset ${baseOffset} compressed with codec ${codec}: ${(error as Error).message}`,
    );
  }
}

function walkRecords(
  b: Buffer,
  start: number,
  end: number,
  baseOffset: number,
  firstTimestamp: number,
  count: number,
  each: RecordVisitor,
): void {
  const cursor = { at: start };
  // The header section (count and headers) of the last record that had headers, and those headers.
  let lastSectionStart = 0;
  let lastSectionEnd = 0;
  let lastHeaders: readonly RecordHeader[] | undefined;
  for (let i = 0; i < count && cursor.at < end; i++) {
    const length = varint(b, cursor);
    const recordEnd = cursor.at + length;
    cursor.at += 1; // attributes
    const timestampDelta = varlong(b, cursor);
    const offsetDelta = varint(b, cursor);
    const key = bytes(b, cursor);
    const value = bytes(b, cursor);
    const sectionStart = cursor.at;
    const headerCount = varint(b, cursor);
    let headers: readonly RecordHeader[] | undefined;
    if (headerCount > 0) {
      const sectionEnd = headerSectionEnd(b, cursor.at, headerCount);
      if (
        lastHeaders !== undefined &&
        sectionEnd - sectionStart === lastSectionEnd - lastSectionStart &&
        b.compare(b, lastSectionStart, lastSectionEnd, sectionStart, sectionEnd) === 0
      ) {
        headers = lastHeaders;
      } else {
        headers = lastHeaders = readHeaders(b, cursor, headerCount);
        lastSectionStart = sectionStart;
        lastSectionEnd = sectionEnd;
      }
    }
    each(baseOffset + offsetDelta, key, value, firstTimestamp + timestampDelta, headers);
    cursor.at = recordEnd;
  }
}

/** Where the headers starting at `at` end, without reading them. */
function headerSectionEnd(b: Buffer, at: number, count: number): number {
  const cursor = { at };
  for (let i = 0; i < count * 2; i++) {
    const length = varint(b, cursor);
    if (length > 0) cursor.at += length;
  }
  return cursor.at;
}

function readHeaders(b: Buffer, cursor: { at: number }, count: number): RecordHeader[] {
  const headers: RecordHeader[] = [];
  for (let i = 0; i < count; i++) {
    const key = bytes(b, cursor);
    const value = bytes(b, cursor);
    headers.push({ key: key ? key.toString('utf8') : '', value: value ?? Buffer.alloc(0) });
  }
  return headers;
}

/** The type of a control batch's record (its key: version int16, type int16). */
function controlType(b: Buffer, start: number, end: number): number {
  const cursor = { at: start };
  if (start >= end) return -1;
  varint(b, cursor); // length
  cursor.at += 1;
  varlong(b, cursor); // timestamp delta
  varint(b, cursor);
  const key = bytes(b, cursor);
  return key && key.length >= 4 ? key.readInt16BE(2) : -1;
}

function bytes(b: Buffer, cursor: { at: number }): Buffer | null {
  const length = varint(b, cursor);
  if (length < 0) return null;
  const slice = b.subarray(cursor.at, cursor.at + length);
  cursor.at += length;
  return slice;
}

/** A zigzag-encoded 32-bit varint. */
function varint(b: Buffer, cursor: { at: number }): number {
  let raw = 0;
  let shift = 0;
  for (;;) {
    const byte = b[cursor.at++]!;
    raw |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) break;
    shift += 7;
  }
  return (raw >>> 1) ^ -(raw & 1);
}

/** A zigzag-encoded 64-bit varint, as a number (exact up to 2^53, far beyond any timestamp delta). */
function varlong(b: Buffer, cursor: { at: number }): number {
  let raw = 0;
  let scale = 1;
  for (;;) {
    const byte = b[cursor.at++]!;
    raw += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) break;
    scale *= 128;
  }
  return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
}
