/** Kafka's wire encoding: request writers, response readers, broker addresses. */
import type { KafkaSecurity } from './security.js';

export interface BrokerAddress {
  host: string;
  port: number;
  /** How to connect to it (absent: PLAINTEXT); carried along wherever an address is derived from another. */
  security?: KafkaSecurity;
}

/** Builds a request body: fixed-width integers, and both the classic and the compact (flexible) encodings. */
export class Writer {
  private readonly parts: Buffer[] = [];
  int8(v: number) {
    const b = Buffer.alloc(1);
    b.writeInt8(v);
    return this.push(b);
  }
  int16(v: number) {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    return this.push(b);
  }
  int32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    return this.push(b);
  }
  int64(v: bigint) {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    return this.push(b);
  }
  uvarint(v: number) {
    const bytes: number[] = [];
    while (v > 0x7f) {
      bytes.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    bytes.push(v);
    return this.push(Buffer.from(bytes));
  }
  /** A string with an int16 length (request header client id). */
  string(s: string) {
    const b = Buffer.from(s);
    return this.int16(b.length).push(b);
  }
  /** Bytes with an int32 length (-1: null). */
  nullableBytes(b: Buffer | null) {
    if (b === null) return this.int32(-1);
    return this.int32(b.length).push(b);
  }
  compactString(s: string) {
    const b = Buffer.from(s);
    return this.uvarint(b.length + 1).push(b);
  }
  compactArray<T>(items: readonly T[], each: (item: T) => void) {
    this.uvarint(items.length + 1);
    for (const item of items) each(item);
    return this;
  }
  noTags() {
    return this.uvarint(0);
  }
  /** Topics with their partition ids (compact arrays), the list many requests carry. */
  compactTopicPartitions(partitions: ReadonlyMap<string, readonly number[]>) {
    return this.compactArray([...partitions], ([topic, ids]) => {
      this.compactString(topic);
      this.compactArray(ids, (id) => this.int32(id));
      this.noTags();
    });
  }
  push(b: Buffer) {
    this.parts.push(b);
    return this;
  }
  get buffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads a response: fixed-width integers, and both the classic and the compact (flexible) encodings. */
export class Reader {
  at = 0;
  constructor(readonly b: Buffer) {}
  int8() {
    return this.b.readInt8((this.at += 1) - 1);
  }
  int16() {
    return this.b.readInt16BE((this.at += 2) - 2);
  }
  int32() {
    return this.b.readInt32BE((this.at += 4) - 4);
  }
  int64() {
    return this.b.readBigInt64BE((this.at += 8) - 8);
  }
  /** A string with an int16 length (-1: null). */
  nullableString(): string | null {
    const n = this.int16();
    if (n < 0) return null;
    return this.b.toString('utf8', this.at, (this.at += n));
  }
  /** An array with an int32 count (-1: null, read as empty). */
  array<T>(each: () => T): T[] {
    const n = this.int32();
    const items: T[] = [];
    for (let i = 0; i < n; i++) items.push(each());
    return items;
  }
  /** Bytes with an int32 length (-1: null), without copying. */
  nullableBytes(): Buffer | null {
    const n = this.int32();
    if (n < 0) return null;
    return this.b.subarray(this.at, (this.at += n));
  }
  uvarint() {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = this.b[this.at++]!;
      value |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value >>> 0;
      shift += 7;
    }
  }
  compactNullableString(): string | null {
    const n = this.uvarint();
    if (n === 0) return null;
    const s = this.b.toString('utf8', this.at, this.at + n - 1);
    this.at += n - 1;
    return s;
  }
  compactString(): string {
    return this.compactNullableString() ?? '';
  }
  compactArray<T>(each: () => T): T[] {
    const n = this.uvarint();
    const items: T[] = [];
    for (let i = 0; i < n - 1; i++) items.push(each());
    return items;
  }
  /** The per-partition results many responses carry: topics, then partition id and error code each. */
  compactPartitionErrors(): Array<{ topic: string; partition: number; errorCode: number }> {
    const results: Array<{ topic: string; partition: number; errorCode: number }> = [];
    this.compactArray(() => {
      const topic = this.compactString();
      this.compactArray(() => {
        const partition = this.int32();
        const errorCode = this.int16();
        this.skipTags();
        results.push({ topic, partition, errorCode });
      });
      this.skipTags();
    });
    return results;
  }
  skipTags() {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint(); // tag
      this.at += this.uvarint(); // size, then skip the data
    }
  }
}

/** The broker could not be reached or did not answer in time (worth retrying, unlike an error it answered). */
export class BrokerUnreachableError extends Error {
  override name = 'BrokerUnreachableError';
}
