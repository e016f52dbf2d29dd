// Serdes for plain values, byte-compatible with Kafka's Java Serdes.String(), Serdes.Long() and Serdes.Bytes().
import { DeserializationError, type Serde } from './serde.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MAX_DIGITS = '9223372036854775807';
const INT64_MIN_DIGITS = '9223372036854775808';
const CANONICAL_INTEGER = /^(?:0|-?[1-9][0-9]*)$/;

// ignoreBOM keeps a leading U+FEFF in the string, as Java's StringDeserializer does; the default would drop it.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(serde: string, bytes: Buffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (error) {
    throw new DeserializationError(serde, 'invalid UTF-8', { cause: error });
  }
}

/** Whether `text` is how Java's Long.toString would write some 64-bit signed integer. */
export function isInt64String(text: string): boolean {
  if (!CANONICAL_INTEGER.test(text)) return false;
  const negative = text.charCodeAt(0) === 0x2d;
  const digits = negative ? text.slice(1) : text;
  if (digits.length !== INT64_MAX_DIGITS.length) return digits.length < INT64_MAX_DIGITS.length;
  // Equal-length digit strings compare numerically as strings.
  return digits <= (negative ? INT64_MIN_DIGITS : INT64_MAX_DIGITS);
}

/**
 * The canonical decimal string of a 64-bit signed integer given as a bigint, a safe-integer number or a
 * canonical decimal string. Numbers beyond 2^53 are rejected because they may already have lost digits.
 */
export function toInt64String(value: unknown): string {
  switch (typeof value) {
    case 'bigint':
      if (value < INT64_MIN || value > INT64_MAX) throw new RangeError(`${value} is outside the 64-bit range`);
      return value.toString();
    case 'number':
      if (!Number.isSafeInteger(value)) throw new RangeError(`${value} is not a safe integer`);
      return String(value);
    case 'string':
      if (!isInt64String(value)) throw new RangeError(`${JSON.stringify(value)} is not a canonical 64-bit integer`);
      return value;
    default:
      throw new RangeError(`a ${typeof value} is not a 64-bit integer`);
  }
}

/** UTF-8 text; invalid UTF-8 is a DeserializationError rather than silently replaced characters. */
export const stringSerde: Serde<string> = {
  name: 'string',
  serialize: (value) => Buffer.from(value, 'utf8'),
  deserialize: (bytes) => decodeUtf8('string', bytes),
};

/**
 * A 64-bit signed integer kept as its canonical decimal string and written as that UTF-8 text,
 * so a Java Serdes.String() consumer reads the same digits.
 */
export const int64StringSerde: Serde<string> = {
  name: 'int64-string',
  serialize: (value) => {
    if (!isInt64String(value)) throw new RangeError(`${JSON.stringify(value)} is not a canonical 64-bit integer`);
    return Buffer.from(value, 'utf8');
  },
  deserialize: (bytes) => {
    const text = decodeUtf8('int64-string', bytes);
    if (!isInt64String(text)) {
      throw new DeserializationError('int64-string', `${JSON.stringify(text)} is not a canonical 64-bit integer`);
    }
    return text;
  },
};

/** 8-byte big-endian two's complement, as Java's LongSerializer writes. */
export const int64Serde: Serde<bigint> = {
  name: 'int64',
  serialize: (value) => {
    const bytes = Buffer.allocUnsafe(8);
    bytes.writeBigInt64BE(value);
    return bytes;
  },
  deserialize: (bytes) => {
    if (bytes.length !== 8) throw new DeserializationError('int64', `expected 8 bytes, got ${bytes.length}`);
    return bytes.readBigInt64BE(0);
  },
};

/** The bytes as they are (no copy), like Java's Serdes.ByteArray(). */
export const bytesSerde: Serde<Buffer> = {
  name: 'bytes',
  serialize: (value) => value,
  deserialize: (bytes) => bytes,
};
