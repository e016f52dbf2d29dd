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
