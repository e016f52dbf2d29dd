import { DeserializationError, type Serde } from './serde.js';

/**
 * A count or other safe integer as 8 big-endian bytes, the layout of Java's
 * LongSerializer, so a Java consumer reads the same value.
 */
export const longNumberSerde: Serde<number> = {
  name: 'long',
  serialize(value: number): Buffer {
    if (!Number.isSafeInteger(value)) throw new RangeError(`long: ${value} is not a safe integer`);
    const bytes = Buffer.allocUnsafe(8);
    bytes.writeBigInt64BE(BigInt(value));
    return bytes;
  },
  deserialize(bytes: Buffer): number {
    if (bytes.length !== 8) throw new DeserializationError('long', `expected 8 bytes, got ${bytes.length}`);
    const value = bytes.readBigInt64BE();
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new DeserializationError('long', `${value} is beyond the safe integer range`);
    }
    return Number(value);
  },
};
