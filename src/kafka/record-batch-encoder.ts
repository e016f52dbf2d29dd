import { createRequire } from 'node:module';

/**
 * Encodes a record batch (message format v2, uncompressed), as a producer
 * sends it in a Produce request: the counterpart of `record-batches.ts`.
 * Sizes are computed first, then everything is written straight into one
 * buffer (no per-record buffers: this runs for every output record), and
 * the CRC-32C is taken over it at the end.
 */

export interface BatchRecord {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: number;
  headers?: ReadonlyArray<{ key: string; value: Buffer | null }>;
}

export interface BatchProducer {
  producerId: bigint;
  producerEpoch: number;
  /** Sequence number of the batch's first record (per partition, counting records). */
  baseSequence: number;
  transactional: boolean;
}

const HEADER = 61;

export function encodeRecordBatch(records: readonly BatchRecord[], producer: BatchProducer): Buffer {
  if (records.length === 0) throw new Error('a record batch needs at least one record');
  const baseTimestamp = records[0]!.timestamp;
  let maxTimestamp = baseTimestamp;
  // Each record's body length (everything after its own length varint), kept for the writing pass.
  const bodyLengths = new Array<number>(records.length);
  let size = HEADER;
  // Records in a row often share one headers array (read from the same input, see record-batches.ts):
  // its encoded size is computed once, and its bytes are copied from the record before.
  let sizedHeaders: BatchRecord['headers'];
  let sizedHeadersLength = headersLength(undefined);
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    if (record.timestamp > maxTimestamp) maxTimestamp = record.timestamp;
    const headers = record.headers;
    if (headers !== sizedHeaders) {
      sizedHeaders = headers;
      sizedHeadersLength = headersLength(headers);
    }
    const body = recordBodyLength(record, record.timestamp - baseTimestamp, i) + sizedHeadersLength;
    bodyLengths[i] = body;
    size += varintSize(body) + body;
  }
  const batch = Buffer.allocUnsafe(size);
  batch.writeBigInt64BE(0n, 0); // base offset: the broker assigns offsets
  batch.writeInt32BE(size - 12, 8);
  batch.writeInt32BE(-1, 12); // partition leader epoch
  batch.writeInt8(2, 16);
  batch.writeInt16BE(producer.transactional ? 0x10 : 0, 21);
  batch.writeInt32BE(records.length - 1, 23);
  batch.writeBigInt64BE(BigInt(baseTimestamp), 27);
  batch.writeBigInt64BE(BigInt(maxTimestamp), 35);
  batch.writeBigInt64BE(producer.producerId, 43);
  batch.writeInt16BE(producer.producerEpoch, 51);
  batch.writeInt32BE(producer.baseSequence, 53);
  batch.writeInt32BE(records.length, 57);
  let at = HEADER;
  let writtenHeaders: BatchRecord['headers'];
  let writtenHeadersStart = 0;
  let writtenHeadersEnd = 0;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    at = writeVarint(batch, at, bodyLengths[i]!);
    batch[at++] = 0; // attributes
    at = writeVarlong(batch, at, record.timestamp - baseTimestamp);
    at = writeVarint(batch, at, i);
    at = writeBytes(batch, at, record.key);
    at = writeBytes(batch, at, record.value);
    const headers = record.headers;
    if (headers !== undefined && headers === writtenHeaders) {
      at += batch.copy(batch, at, writtenHeadersStart, writtenHeadersEnd);
      continue;
    }
    const start = at;
    at = writeVarint(batch, at, headers ? headers.length : 0);
    if (headers) {
      for (const header of headers) {
        const keyLength = Buffer.byteLength(header.key);
        at = writeVarint(batch, at, keyLength);
        at += batch.write(header.key, at, keyLength);
        at = writeBytes(batch, at, header.value);
      }
      writtenHeaders = headers;
      writtenHeadersStart = start;
      writtenHeadersEnd = at;
    }
  }
  if (at !== size) throw new Error(`record batch encoding wrote ${at} of ${size} bytes`);
  batch.writeUInt32BE(crc32c(batch, 21, size), 17);
  return batch;
}

/** A record's body length but for its headers (see headersLength). */
function recordBodyLength(record: BatchRecord, timestampDelta: number, offsetDelta: number): number {
  return 1 + varlongSize(timestampDelta) + varintSize(offsetDelta) + bytesSize(record.key) + bytesSize(record.value);
}

/** The encoded length of a record's headers, their count included. */
function headersLength(headers: BatchRecord['headers']): number {
  let n = varintSize(headers ? headers.length : 0);
  if (headers) {
    for (const header of headers) {
      const keyLength = Buffer.byteLength(header.key);
      n += varintSize(keyLength) + keyLength + bytesSize(header.value);
    }
  }
  return n;
}

function bytesSize(bytes: Buffer | null): number {
  return bytes === null ? 1 : varintSize(bytes.length) + bytes.length;
}

function writeBytes(out: Buffer, at: number, bytes: Buffer | null): number {
  if (bytes === null) return writeVarint(out, at, -1);
  at = writeVarint(out, at, bytes.length);
  return at + bytes.copy(out, at);
}

/** The size of the zigzag varint of a 32-bit integer. */
function varintSize(n: number): number {
  let zigzag = ((n << 1) ^ (n >> 31)) >>> 0;
  let size = 1;
  while (zigzag > 0x7f) {
    zigzag >>>= 7;
    size++;
  }
  return size;
}

function writeVarint(out: Buffer, at: number, n: number): number {
  let zigzag = ((n << 1) ^ (n >> 31)) >>> 0;
  while (zigzag > 0x7f) {
    out[at++] = (zigzag & 0x7f) | 0x80;
    zigzag >>>= 7;
  }
  out[at++] = zigzag;
  return at;
}

/**
 * Zigzag of a timestamp delta, in plain numbers: exact while |n| < 2^52,
 * far beyond any two timestamps of one batch.
 */
function zigzagLong(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function varlongSize(n: number): number {
  let zigzag = zigzagLong(n);
  let size = 1;
  while (zigzag > 0x7f) {
    zigzag = Math.floor(zigzag / 128);
    size++;
  }
  return size;
}

function writeVarlong(out: Buffer, at: number, n: number): number {
  let zigzag = zigzagLong(n);
  while (zigzag > 0x7f) {
    out[at++] = (zigzag % 128) | 0x80;
    zigzag = Math.floor(zigzag / 128);
  }
  out[at++] = zigzag;
  return at;
}

/** CRC-32C lookup tables for slicing by 8: table k maps a byte k positions before the end. */
const CRC32C_TABLES = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) t[k * 256 + n] = (t[(k - 1) * 256 + n]! >>> 8) ^ t[t[(k - 1) * 256 + n]! & 0xff]!;
  }
  return t;
})();

/**
 * CRC-32C (Castagnoli) of b[start, end): the checksum of record batches.
 * SSE4.2/ARM CRC instructions through @node-rs/crc32 where its prebuilt binary
 * loads (14x the JavaScript below on a 170 kB batch); slicing by 8 otherwise.
 */
export const crc32c: (b: Uint8Array, start?: number, end?: number) => number = loadNativeCrc32c() ?? crc32cInJs;

function loadNativeCrc32c(): ((b: Uint8Array, start?: number, end?: number) => number) | undefined {
  try {
    const native = createRequire(import.meta.url)('@node-rs/crc32') as {
      crc32c(input: Uint8Array, initial?: number): number;
    };
    if (native.crc32c(Buffer.from('123456789')) !== 0xe3069283) return undefined;
    return (b, start = 0, end = b.length) =>
      native.crc32c(start === 0 && end === b.length ? b : b.subarray(start, end));
  } catch {
    return undefined;
  }
}

/** CRC-32C in JavaScript, slicing by 8. */
export function crc32cInJs(b: Uint8Array, start = 0, end = b.length): number {
  const t = CRC32C_TABLES;
  let crc = 0xffffffff;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    crc ^= b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    crc =
      t[7 * 256 + (crc & 0xff)]! ^
      t[6 * 256 + ((crc >>> 8) & 0xff)]! ^
      t[5 * 256 + ((crc >>> 16) & 0xff)]! ^
      t[4 * 256 + (crc >>> 24)]! ^
      t[3 * 256 + b[i + 4]!]! ^
      t[2 * 256 + b[i + 5]!]! ^
      t[256 + b[i + 6]!]! ^
      t[b[i + 7]!]!;
  }
  for (; i < end; i++) crc = t[(crc ^ b[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
