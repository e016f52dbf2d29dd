// murmur2 and partitionForKey must agree with the Java client byte for byte.
import t from 'tap';
import { createRequire } from 'node:module';
import { murmur2, partitionForKey, toPositive } from '../../src/kafka/partitioner.js';

// Printed by a throwaway Java program calling org.apache.kafka.common.utils.Utils.murmur2 and
// Utils.toPositive from kafka-clients-4.3.1.jar on the UTF-8 bytes of each key (or the raw bytes of `hex`).
const javaVectors: { key?: string; hex?: string; murmur2: number; p4: number; p12: number }[] = [
  { key: '', murmur2: 275646681, p4: 1, p12: 9 },
  { key: 'a', murmur2: -1563381124, p4: 0, p12: 4 },
  { key: 'ab', murmur2: 316155434, p4: 2, p12: 2 },
  { key: 'abc', murmur2: 479470107, p4: 3, p12: 3 },
  { key: 'abcd', murmur2: -1323649548, p4: 0, p12: 8 },
  { key: 'abcde', murmur2: 461995741, p4: 1, p12: 1 },
  { key: 'abcdef', murmur2: 1870650108, p4: 0, p12: 0 },
  { key: 'abcdefg', murmur2: -346467175, p4: 1, p12: 1 },
  { key: '21', murmur2: -973932308, p4: 0, p12: 0 },
  { key: 'foobar', murmur2: -790332482, p4: 2, p12: 6 },
  { key: 'héllo wörld', murmur2: 439213890, p4: 2, p12: 6 },
  { key: '日本語', murmur2: 1431860170, p4: 2, p12: 10 },
  { key: '🙂emoji🙂', murmur2: 1036015314, p4: 2, p12: 6 },
  {
    key: 'the quick brown fox jumps over the lazy dog, again and again and again',
    murmur2: -2084722789,
    p4: 3,
    p12: 7,
  },
  { key: '9223372036854775807', murmur2: -1221667907, p4: 1, p12: 9 },
  { key: '-9223372036854775808', murmur2: 1493327462, p4: 2, p12: 2 },
  { key: '1', murmur2: -1993445489, p4: 3, p12: 3 },
  { key: '42', murmur2: 417700972, p4: 0, p12: 4 },
  { key: '1795770043789', murmur2: -2021489368, p4: 0, p12: 4 },
  { hex: 'ff', murmur2: -311467685, p4: 3, p12: 3 },
  { hex: '80000000', murmur2: -65415266, p4: 2, p12: 6 },
  { hex: 'ffffffffffffff', murmur2: -71293549, p4: 3, p12: 7 },
];

const bytesOf = (v: { key?: string; hex?: string }) =>
  v.hex !== undefined ? Buffer.from(v.hex, 'hex') : Buffer.from(v.key ?? '', 'utf8');
const label = (v: { key?: string; hex?: string }) => (v.hex !== undefined ? `0x${v.hex}` : JSON.stringify(v.key));

t.test('murmur2 matches Java Utils.murmur2', async (t) => {
  for (const v of javaVectors) t.equal(murmur2(bytesOf(v)), v.murmur2, label(v));
});

t.test('murmur2 returns signed 32-bit ints like Java', async (t) => {
  for (const v of javaVectors) {
    const h = murmur2(bytesOf(v));
    t.equal(h, h | 0, `${label(v)} is an int32`);
  }
});

t.test('partitionForKey matches the Java default partitioner for 4 and 12 partitions', async (t) => {
  for (const v of javaVectors) {
    t.equal(partitionForKey(bytesOf(v), 4), v.p4, `${label(v)} of 4`);
    t.equal(partitionForKey(bytesOf(v), 12), v.p12, `${label(v)} of 12`);
  }
});

t.test('toPositive clears the sign bit rather than negating', async (t) => {
  t.equal(toPositive(-1), 0x7fffffff);
  t.equal(toPositive(-2147483648), 0);
  t.equal(toPositive(5), 5);
});

t.test('partitionForKey rejects a partition count that is not a positive integer', async (t) => {
  t.throws(() => partitionForKey(Buffer.from('a'), 0), RangeError);
  t.throws(() => partitionForKey(Buffer.from('a'), 1.5), RangeError);
});

t.test("agrees with kafkajs's own murmur2 (what its default partitioner uses)", async (t) => {
  const require = createRequire(import.meta.url);
  // kafkajs ships this file as untyped CommonJS, so the require result is given its known shape.
  const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number;
  for (const v of javaVectors) t.equal(kafkajsMurmur2(bytesOf(v)), murmur2(bytesOf(v)), label(v));
  const random = Buffer.alloc(257);
  for (let length = 0; length <= random.length; length++) {
    for (let i = 0; i < length; i++) random[i] = (i * 131 + length * 7) & 0xff;
    const key = random.subarray(0, length);
    if (kafkajsMurmur2(key) !== murmur2(key)) t.fail(`length ${length} differs`);
  }
  t.pass('pseudo-random keys of length 0..257 agree');
});
