import type { Windowed } from '../dsl/windows.js';
import { DeserializationError, type Serde } from './serde.js';

const START_BYTES = 8;

/**
 * A time-windowed key as Kafka Streams' TimeWindowedSerializer writes it: the key's bytes, then the
 * window's start as 8 big-endian bytes. The end is not written: reading it back takes the windows'
 * size, as Kafka Streams' TimeWindowedDeserializer does.
 */
export function timeWindowedSerde<K>(inner: Serde<K>, windowSizeMs: number): Serde<Windowed<K>> {
  if (!Number.isSafeInteger(windowSizeMs) || windowSizeMs < 1) {
    throw new RangeError(
      `timeWindowedSerde: the window size must be a positive whole number of ms, got ${windowSizeMs}`,
    );
  }
  const name = `time-windowed(${inner.name})`;
  return {
    name,
    serialize({ key, window }) {
      const keyBytes = inner.serialize(key);
      const bytes = Buffer.allocUnsafe(keyBytes.length + START_BYTES);
      keyBytes.copy(bytes, 0);
      bytes.writeBigInt64BE(BigInt(window.start), keyBytes.length);
      return bytes;
    },
    deserialize(bytes) {
      if (bytes.length < START_BYTES) {
        throw new DeserializationError(name, `expected at least ${START_BYTES} bytes, got ${bytes.length}`);
      }
      const at = bytes.length - START_BYTES;
      const start = Number(bytes.readBigInt64BE(at));
      return { key: inner.deserialize(bytes.subarray(0, at)), window: { start, end: start + windowSizeMs } };
    },
  };
}

/** A value and the timestamp of the record that last changed it. */
export interface ValueAndTimestamp<V> {
  readonly value: V;
  readonly timestamp: number;
}

/**
 * A value with its timestamp, as Kafka Streams' timestamped stores keep them: the timestamp as 8
 * big-endian bytes, then the value's bytes.
 */
export function valueAndTimestampSerde<V>(inner: Serde<V>): Serde<ValueAndTimestamp<V>> {
  const name = `timestamped(${inner.name})`;
  return {
    name,
    serialize({ value, timestamp }) {
      const valueBytes = inner.serialize(value);
      const bytes = Buffer.allocUnsafe(START_BYTES + valueBytes.length);
      bytes.writeBigInt64BE(BigInt(timestamp), 0);
      valueBytes.copy(bytes, START_BYTES);
      return bytes;
    },
    deserialize(bytes) {
      if (bytes.length < START_BYTES) {
        throw new DeserializationError(name, `expected at least ${START_BYTES} bytes, got ${bytes.length}`);
      }
      return { timestamp: Number(bytes.readBigInt64BE(0)), value: inner.deserialize(bytes.subarray(START_BYTES)) };
    },
  };
}

/**
 * A session-windowed key as Kafka Streams' SessionWindowedSerializer writes it: the key's bytes, then
 * the session's end and start, each as 8 big-endian bytes (both ends inclusive).
 */
export function sessionWindowedSerde<K>(inner: Serde<K>): Serde<Windowed<K>> {
  const name = `session-windowed(${inner.name})`;
  return {
    name,
    serialize({ key, window }) {
      const keyBytes = inner.serialize(key);
      const bytes = Buffer.allocUnsafe(keyBytes.length + 2 * START_BYTES);
      keyBytes.copy(bytes, 0);
      bytes.writeBigInt64BE(BigInt(window.end), keyBytes.length);
      bytes.writeBigInt64BE(BigInt(window.start), keyBytes.length + START_BYTES);
      return bytes;
    },
    deserialize(bytes) {
      if (bytes.length < 2 * START_BYTES) {
        throw new DeserializationError(name, `expected at least ${2 * START_BYTES} bytes, got ${bytes.length}`);
      }
      const at = bytes.length - 2 * START_BYTES;
      const end = Number(bytes.readBigInt64BE(at));
      const start = Number(bytes.readBigInt64BE(at + START_BYTES));
      return { key: inner.deserialize(bytes.subarray(0, at)), window: { start, end } };
    },
  };
}

/**
 * A window kept in its key's row (session and sliding-window stores keep all of a key's windows in
 * one row): its bounds, its aggregate, and its timestamp (the largest of its records'; a session's end).
 */
export interface WindowRow<A> {
  readonly start: number;
  readonly end: number;
  readonly timestamp: number;
  readonly aggregate: A;
}

const ROW_HEAD = 3 * START_BYTES + 4;

/** A key's windows in one row: their count, then for each its start, end, timestamp and aggregate's bytes. */
export function windowRowsSerde<A>(aggregate: Serde<A>): Serde<WindowRow<A>[]> {
  const name = `window-rows(${aggregate.name})`;
  return {
    name,
    serialize(rows) {
      const parts: Buffer[] = [];
      const count = Buffer.allocUnsafe(4);
      count.writeUInt32BE(rows.length);
      parts.push(count);
      for (const row of rows) {
        const bytes = aggregate.serialize(row.aggregate);
        const head = Buffer.allocUnsafe(ROW_HEAD);
        head.writeBigInt64BE(BigInt(row.start), 0);
        head.writeBigInt64BE(BigInt(row.end), START_BYTES);
        head.writeBigInt64BE(BigInt(row.timestamp), 2 * START_BYTES);
        head.writeUInt32BE(bytes.length, 3 * START_BYTES);
        parts.push(head, bytes);
      }
      return Buffer.concat(parts);
    },
    deserialize(bytes) {
      if (bytes.length < 4) throw new DeserializationError(name, `expected at least 4 bytes, got ${bytes.length}`);
      const rows: WindowRow<A>[] = [];
      let at = 4;
      for (let i = bytes.readUInt32BE(0); i > 0; i--) {
        if (at + ROW_HEAD > bytes.length) throw new DeserializationError(name, 'a window is cut short');
        const start = Number(bytes.readBigInt64BE(at));
        const end = Number(bytes.readBigInt64BE(at + START_BYTES));
        const timestamp = Number(bytes.readBigInt64BE(at + 2 * START_BYTES));
        const length = bytes.readUInt32BE(at + 3 * START_BYTES);
        at += ROW_HEAD;
        if (at + length > bytes.length) throw new DeserializationError(name, 'an aggregate is cut short');
        rows.push({ start, end, timestamp, aggregate: aggregate.deserialize(bytes.subarray(at, at + length)) });
        at += length;
      }
      return rows;
    },
  };
}
