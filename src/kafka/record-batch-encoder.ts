/**
 * Encodes a record batch (message format v2, uncompressed), as a producer
 * sends it in a Produce request: the counterpart of `record-batches.ts`.
 * Written straight into one buffer, with its CRC-32C.
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
  const bodies: Buffer[] = [];
  let size = HEADER;
  for (const [i, record] of records.entries()) {
    if (record.timestamp > maxTimestamp) maxTimestamp = record.timestamp;
    const body = encodeRecord(record, record.timestamp - baseTimestamp, i);
    bodies.push(body);
    size += body.length;
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
  for (const body of bodies) at += body.copy(batch, at);
  batch.writeUInt32BE(crc32c(batch, 21, size), 17);
  return batch;
}

function encodeRecord(record: BatchRecord, timestampDelta: number, offsetDelta: number): Buffer {
  const headers = record.headers ?? [];
  const parts: number[] = [];
  const chunks: Buffer[] = [];
  // Attributes, timestamp delta, offset delta, then key, value and headers.
  const head: number[] = [0];
  pushVarlong(head, timestampDelta);
  pushVarint(head, offsetDelta);
  chunks.push(Buffer.from(head));
  pushBytes(chunks, record.key);
  pushBytes(chunks, record.value);
  const count: number[] = [];
  pushVarint(count, headers.length);
  chunks.push(Buffer.from(count));
  for (const header of headers) {
    pushBytes(chunks, Buffer.from(header.key));
    pushBytes(chunks, header.value);
  }
  const body = Buffer.concat(chunks);
  pushVarint(parts, body.length);
  return Buffer.concat([Buffer.from(parts), body]);
}

function pushBytes(chunks: Buffer[], bytes: Buffer | null): void {
  const length: number[] = [];
  pushVarint(length, bytes === null ? -1 : bytes.length);
  chunks.push(Buffer.from(length));
  if (bytes) chunks.push(bytes);
}

/** A zigzag varint of a 32-bit integer. */
function pushVarint(out: number[], n: number): void {
  let zigzag = ((n << 1) ^ (n >> 31)) >>> 0;
  while (zigzag > 0x7f) {
    out.push((zigzag & 0x7f) | 0x80);
    zigzag >>>= 7;
  }
  out.push(zigzag);
}

/** A zigzag varint of a 64-bit integer (timestamp deltas). */
function pushVarlong(out: number[], n: number): void {
  let zigzag = (BigInt(n) << 1n) ^ (BigInt(n) >> 63n);
  if (zigzag < 0n) zigzag += 1n << 64n;
  while (zigzag > 0x7fn) {
    out.push(Number(zigzag & 0x7fn) | 0x80);
    zigzag >>= 7n;
  }
  out.push(Number(zigzag));
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli) of b[start, end): the checksum of record batches. */
export function crc32c(b: Buffer, start = 0, end = b.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = CRC32C_TABLE[(crc ^ b[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
