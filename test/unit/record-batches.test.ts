// The restore path reads fetched record batches in place. Batches built here byte by byte, as the
// broker stores them (message format v2): plain and transactional batches, transaction markers,
// aborted transactions, a batch cut off at the end of a fetch, and what the walker must refuse.
import t from 'tap';
import { crc32c, crc32cInJs, encodeRecordBatch } from '../../src/kafka/record-batch-encoder.js';
import { UnsupportedBatchError, walkRecordBatches } from '../../src/kafka/record-batches.js';

function varint(n: number): Buffer {
  let zigzag = (n << 1) ^ (n >> 31);
  const bytes: number[] = [];
  zigzag >>>= 0;
  while (zigzag > 0x7f) {
    bytes.push((zigzag & 0x7f) | 0x80);
    zigzag >>>= 7;
  }
  bytes.push(zigzag);
  return Buffer.from(bytes);
}

function bytesField(b: Buffer | null): Buffer {
  return b === null ? varint(-1) : Buffer.concat([varint(b.length), b]);
}

function record(offsetDelta: number, key: Buffer | null, value: Buffer | null, headers = 0): Buffer {
  const headerBytes = Array.from({ length: headers }, (_, i) =>
    Buffer.concat([bytesField(Buffer.from(`h${i}`)), bytesField(Buffer.from('x'))]),
  );
  const body = Buffer.concat([
    Buffer.from([0]), // attributes
    varint(3), // timestamp delta
    varint(offsetDelta),
    bytesField(key),
    bytesField(value),
    varint(headers),
    ...headerBytes,
  ]);
  return Buffer.concat([varint(body.length), body]);
}

interface BatchSpec {
  baseOffset: number;
  records: Array<[string | null, string | null]>;
  producerId?: number;
  transactional?: boolean;
  control?: 'commit' | 'abort';
  compression?: number;
  magic?: number;
  /** Offsets between records (compaction leaves gaps). */
  gap?: number;
}

function batch(spec: BatchSpec): Buffer {
  const gap = spec.gap ?? 1;
  const records = spec.control
    ? [record(0, Buffer.from([0, 0, 0, spec.control === 'commit' ? 1 : 0]), Buffer.from([0, 0, 0, 0, 0, 0]))]
    : spec.records.map(([k, v], i) =>
        record(i * gap, k === null ? null : Buffer.from(k), v === null ? null : Buffer.from(v), i % 2),
      );
  const count = records.length;
  const attributes =
    (spec.compression ?? 0) | (spec.transactional || spec.control ? 0x10 : 0) | (spec.control ? 0x20 : 0);
  const header = Buffer.alloc(61);
  header.writeBigInt64BE(BigInt(spec.baseOffset), 0);
  header.writeInt32BE(0, 12); // leader epoch
  header.writeInt8(spec.magic ?? 2, 16);
  header.writeUInt32BE(0, 17); // crc: not checked by the walker
  header.writeInt16BE(attributes, 21);
  header.writeInt32BE((count - 1) * gap, 23); // last offset delta
  header.writeBigInt64BE(1000n, 27);
  header.writeBigInt64BE(1000n, 35);
  header.writeBigInt64BE(BigInt(spec.producerId ?? -1), 43);
  header.writeInt16BE(0, 51);
  header.writeInt32BE(0, 53);
  header.writeInt32BE(count, 57);
  const all = Buffer.concat([header, ...records]);
  all.writeInt32BE(all.length - 12, 8);
  return all;
}

function walk(records: Buffer, aborted: Array<{ producerId: number; firstOffset: number }> = []) {
  const seen: Array<[number, string | null, string | null]> = [];
  const next = walkRecordBatches(
    records,
    aborted.map((a) => ({ producerId: BigInt(a.producerId), firstOffset: BigInt(a.firstOffset) })),
    (offset, key, value) => seen.push([offset, key?.toString() ?? null, value?.toString() ?? null]),
  );
  return { seen, next };
}

t.test('plain batches: every record with its offset, key and value; tombstones as null', async (t) => {
  const { seen, next } = walk(
    Buffer.concat([
      batch({
        baseOffset: 0,
        records: [
          ['a', '1'],
          ['b', '2'],
        ],
      }),
      batch({
        baseOffset: 2,
        records: [
          ['a', null],
          ['c', '3'],
        ],
        gap: 5,
      }),
    ]),
  );
  t.same(seen, [
    [0, 'a', '1'],
    [1, 'b', '2'],
    [2, 'a', null],
    [7, 'c', '3'],
  ]);
  t.equal(next, 8n, 'the next offset is after the last batch');
});

t.test('a batch cut off at the end of the fetch is left for the next fetch', async (t) => {
  const whole = batch({ baseOffset: 10, records: [['a', '1']] });
  const cut = batch({
    baseOffset: 11,
    records: [
      ['b', '2'],
      ['c', '3'],
    ],
  });
  for (const length of [5, 30, cut.length - 1]) {
    const { seen, next } = walk(Buffer.concat([whole, cut.subarray(0, length)]));
    t.same(seen, [[10, 'a', '1']], `cut after ${length} bytes`);
    t.equal(next, 11n);
  }
  t.equal(walk(cut.subarray(0, 20)).next, undefined, 'no complete batch: nothing to move past');
});

/** Two producers' transactions, one of producer 7 aborted (the fetch response lists it), and a plain batch. */
const transactions = Buffer.concat([
  batch({ baseOffset: 0, records: [['k1', 'committed']], producerId: 7, transactional: true }),
  batch({ baseOffset: 1, records: [], producerId: 7, control: 'commit' }),
  batch({
    baseOffset: 2,
    records: [
      ['k2', 'aborted'],
      ['k3', 'aborted'],
    ],
    producerId: 7,
    transactional: true,
  }),
  batch({ baseOffset: 4, records: [['k4', 'other producer']], producerId: 8, transactional: true }),
  batch({ baseOffset: 5, records: [], producerId: 7, control: 'abort' }),
  batch({ baseOffset: 6, records: [], producerId: 8, control: 'commit' }),
  batch({ baseOffset: 7, records: [['k5', 'after the abort']], producerId: 7, transactional: true }),
  batch({ baseOffset: 8, records: [], producerId: 7, control: 'commit' }),
  batch({ baseOffset: 9, records: [['k6', 'not transactional']] }),
]);
const abortedAt2 = [{ producerId: 7, firstOffset: 2 }];

t.test('read_committed: aborted transactions and markers are skipped, committed ones kept', async (t) => {
  const { seen, next } = walk(transactions, abortedAt2);
  t.same(seen, [
    [0, 'k1', 'committed'],
    [4, 'k4', 'other producer'],
    [7, 'k5', 'after the abort'],
    [9, 'k6', 'not transactional'],
  ]);
  t.equal(next, 10n, 'markers and aborted batches are moved past too');

  const withoutList = walk(transactions).seen.map(([offset]) => offset);
  t.same(withoutList, [0, 2, 3, 4, 7, 9], 'an abort is known only from the fetch response (the control check)');
});

t.test('each batch is reported with its offsets and whether it holds committed records', async (t) => {
  const batches: string[] = [];
  walkRecordBatches(
    transactions,
    abortedAt2.map((a) => ({ producerId: BigInt(a.producerId), firstOffset: BigInt(a.firstOffset) })),
    () => undefined,
    (base, last, committedRecords) => batches.push(`${base}-${last} ${committedRecords ? 'records' : 'none'}`),
  );
  t.same(
    batches,
    [
      '0-0 records',
      '1-1 none',
      '2-3 none',
      '4-4 records',
      '5-5 none',
      '6-6 none',
      '7-7 records',
      '8-8 none',
      '9-9 records',
    ],
    'markers and aborted records are not committed records',
  );
});

t.test('batches it cannot read are refused, not misread', async (t) => {
  t.throws(() => walk(batch({ baseOffset: 0, records: [['a', '1']], compression: 1 })), UnsupportedBatchError);
  t.throws(() => walk(batch({ baseOffset: 0, records: [['a', '1']], magic: 1 })), UnsupportedBatchError);
  const abortedCompressed = batch({
    baseOffset: 0,
    records: [['a', '1']],
    compression: 1,
    producerId: 3,
    transactional: true,
  });
  t.same(walk(abortedCompressed, [{ producerId: 3, firstOffset: 0 }]).seen, [], 'skipped batches need no reading');
});

t.test('the encoder writes what the walker reads, with the CRC-32C the broker checks', async (t) => {
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283, 'the CRC-32C check value');
  const random = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff));
  for (const [start, end] of [
    [0, 1000],
    [21, 1000],
    [3, 10],
    [5, 5],
    [0, 8],
    [1, 999],
  ] as const)
    t.equal(
      crc32cInJs(random, start, end),
      crc32c(random, start, end),
      `the JavaScript CRC agrees on [${start}, ${end})`,
    );
  const records = [
    { key: Buffer.from('a'), value: Buffer.from('1'), timestamp: 1_700_000_000_000 },
    { key: null, value: Buffer.from('no key'), timestamp: 1_699_999_999_000 },
    {
      key: Buffer.from('t'),
      value: null,
      timestamp: 1_700_000_005_000,
      headers: [{ key: 'h', value: Buffer.from('x') }],
    },
    {
      key: Buffer.from('u'),
      value: Buffer.alloc(200, 1),
      timestamp: 1_600_000_000_000,
      headers: [
        { key: 'clé', value: null },
        { key: 'h'.repeat(70), value: Buffer.alloc(130) },
      ],
    },
  ];
  const batch = encodeRecordBatch(records, { producerId: 42n, producerEpoch: 3, baseSequence: 7, transactional: true });
  t.equal(batch.readUInt32BE(17), crc32c(batch, 21), 'the CRC covers attributes to the end');
  t.equal(batch.readInt16BE(21) & 0x10, 0x10, 'transactional');
  t.equal(batch.readBigInt64BE(43), 42n);
  t.equal(batch.readInt32BE(53), 7, 'base sequence');
  const { seen, next } = walk(batch);
  t.same(seen, [
    [0, 'a', '1'],
    [1, null, 'no key'],
    [2, 't', null],
    [3, 'u', '\x01'.repeat(200)],
  ]);
  t.equal(next, 4n);
  const timestamps: number[] = [];
  walkRecordBatches(batch, [], (_offset, _key, _value, timestamp) => void timestamps.push(timestamp));
  t.same(
    timestamps,
    records.map((r) => r.timestamp),
    'timestamps, an earlier one (a negative delta) too',
  );
});

t.test('records in a row with the same headers share one array, and encode to the same bytes', async (t) => {
  const context = [
    { key: '__debezium.context.connectorName', value: Buffer.from('postgresql') },
    { key: '__debezium.context.taskId', value: Buffer.from('0') },
  ];
  const other = [{ key: '__debezium.context.connectorName', value: Buffer.from('postgresqm') }];
  const copy = () => context.map((h) => ({ key: h.key, value: Buffer.from(h.value) }));
  const at = (i: number, headers?: typeof context) => ({
    key: Buffer.from(`k${i}`),
    value: Buffer.from(`v${i}`),
    timestamp: 1_700_000_000_000 + i,
    ...(headers ? { headers } : {}),
  });
  const producer = { producerId: 1n, producerEpoch: 0, baseSequence: 0, transactional: false };
  // The same headers as one array (as the walker hands them on) and as equal arrays of their own.
  const shared = [at(0, context), at(1, context), at(2), at(3, context), at(4, other), at(5, context)];
  const distinct = [at(0, copy()), at(1, copy()), at(2), at(3, copy()), at(4, other), at(5, copy())];
  const batch = encodeRecordBatch(shared, producer);
  t.same(batch, encodeRecordBatch(distinct, producer), 'the same bytes either way');
  const read: Array<readonly { key: string; value: Buffer }[] | undefined> = [];
  walkRecordBatches(batch, [], (_offset, _key, _value, _timestamp, headers) => void read.push(headers));
  t.same(
    read.map((headers) => headers?.map((h) => `${h.key}=${h.value.toString()}`)),
    [...shared.map((r) => r.headers?.map((h) => `${h.key}=${h.value.toString()}`))],
    'every record reads back its own headers',
  );
  t.equal(read[1], read[0], 'the next record with the same header bytes gets the same array');
  t.equal(read[2], undefined, 'a record without headers has none');
  t.equal(read[3], read[0], 'nor does one without headers in between end the sharing');
  t.not(read[4], read[3], 'different header bytes (one byte apart) get their own');
  t.not(read[5], read[4]);
  t.same(read[5], read[0]);
});
