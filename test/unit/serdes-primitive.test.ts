// The primitive serdes must write what Kafka's Java Serdes write and reject what they cannot read.
import t from 'tap';
import { DeserializationError } from '../../src/serdes/serde.js';
import {
  bytesSerde,
  int64Serde,
  int64StringSerde,
  isInt64String,
  stringSerde,
  toInt64String,
} from '../../src/serdes/primitive.js';

const canonical = ['0', '1', '-1', '-12', '42', '9007199254740993', '9223372036854775807', '-9223372036854775808'];
const notCanonical = [
  '',
  '-',
  '+1',
  '-0',
  '00',
  '01',
  '-01',
  ' 1',
  '1 ',
  '1.0',
  '1e3',
  '0x10',
  '١٢', // Arabic-Indic digits
  '9223372036854775808',
  '-9223372036854775809',
  '10000000000000000000',
  '99999999999999999999',
];

t.test('stringSerde is UTF-8 and strict about it', async (t) => {
  const text = 'héllo 日本 😀';
  const bytes = stringSerde.serialize(text);
  t.same([...bytes], [...Buffer.from(text, 'utf8')]);
  t.equal(stringSerde.deserialize(bytes), text);
  t.equal(stringSerde.deserialize(Buffer.alloc(0)), '');
  t.equal(
    stringSerde.deserialize(Buffer.from([0xef, 0xbb, 0xbf, 0x41])),
    '\ufeffA',
    'a leading BOM is kept, as Java StringDeserializer keeps it',
  );
  const invalid = [
    [0xc3, 0x28], // bad continuation byte
    [0xff],
    [0xe2, 0x82], // truncated sequence
    [0xed, 0xa0, 0x80], // an encoded surrogate
    [0xc0, 0xaf], // overlong
  ];
  for (const bytes of invalid) {
    t.throws(
      () => stringSerde.deserialize(Buffer.from(bytes)),
      DeserializationError,
      Buffer.from(bytes).toString('hex'),
    );
  }
});

t.test('isInt64String accepts exactly the canonical 64-bit decimals', async (t) => {
  for (const text of canonical) t.ok(isInt64String(text), JSON.stringify(text));
  for (const text of notCanonical) t.notOk(isInt64String(text), JSON.stringify(text));
});

t.test('int64StringSerde writes the decimal text', async (t) => {
  for (const text of canonical) {
    const bytes = int64StringSerde.serialize(text);
    t.equal(bytes.toString('utf8'), text, 'the bytes are the UTF-8 digits');
    t.equal(stringSerde.serialize(text).compare(bytes), 0, 'the same bytes Serdes.String() writes');
    t.equal(int64StringSerde.deserialize(bytes), text);
  }
  for (const text of notCanonical) {
    t.throws(() => int64StringSerde.serialize(text), RangeError, `serialize ${JSON.stringify(text)}`);
    t.throws(
      () => int64StringSerde.deserialize(Buffer.from(text, 'utf8')),
      DeserializationError,
      `deserialize ${JSON.stringify(text)}`,
    );
  }
  t.throws(() => int64StringSerde.deserialize(Buffer.from([0x31, 0xff])), DeserializationError, 'invalid UTF-8');
});

t.test('int64Serde is 8-byte big-endian two’s complement like Java’s LongSerializer', async (t) => {
  // Printed by Java's LongSerializer (kafka-clients 4.3.1) for each value.
  const vectors: [bigint, string][] = [
    [0n, '0000000000000000'],
    [1n, '0000000000000001'],
    [-1n, 'ffffffffffffffff'],
    [256n, '0000000000000100'],
    [9223372036854775807n, '7fffffffffffffff'],
    [-9223372036854775808n, '8000000000000000'],
    [1795770043789n, '000001a21c3c4d8d'],
  ];
  for (const [value, hex] of vectors) {
    t.equal(int64Serde.serialize(value).toString('hex'), hex, `${value}`);
    t.equal(int64Serde.deserialize(Buffer.from(hex, 'hex')), value, `${hex}`);
  }
  t.throws(() => int64Serde.serialize(2n ** 63n), RangeError);
  t.throws(() => int64Serde.serialize(-(2n ** 63n) - 1n), RangeError);
  for (const length of [0, 4, 7, 9]) {
    t.throws(() => int64Serde.deserialize(Buffer.alloc(length)), DeserializationError, `${length} bytes`);
  }
});

t.test('bytesSerde passes bytes through', async (t) => {
  const bytes = Buffer.from([0, 1, 255]);
  t.equal(bytesSerde.serialize(bytes), bytes);
  t.equal(bytesSerde.deserialize(bytes), bytes);
});

t.test('toInt64String', async (t) => {
  t.equal(toInt64String(9223372036854775807n), '9223372036854775807');
  t.equal(toInt64String(-9223372036854775808n), '-9223372036854775808');
  t.equal(toInt64String(0n), '0');
  t.equal(toInt64String(42), '42');
  t.equal(toInt64String(-0), '0', 'negative zero is zero');
  t.equal(toInt64String(Number.MAX_SAFE_INTEGER), '9007199254740991');
  t.equal(toInt64String(Number.MIN_SAFE_INTEGER), '-9007199254740991');
  for (const text of canonical) t.equal(toInt64String(text), text);

  const rejected: unknown[] = [
    2n ** 63n,
    -(2n ** 63n) - 1n,
    2 ** 53, // may already be a rounded 2^53 + 1
    Number('9223372036854775807'), // is really 9223372036854775808
    1.5,
    NaN,
    Infinity,
    ...notCanonical,
    null,
    undefined,
    true,
    {},
    [1],
  ];
  for (const value of rejected) {
    t.throws(() => toInt64String(value), RangeError, `${typeof value} ${String(value)}`);
  }
});
