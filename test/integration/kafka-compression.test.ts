// Compressed record batches on the real broker, read by our own batch walker (the platformatic
// client's fetch loop and every restore use it): a topic whose compression.type names a codec has
// the broker recompress what producers send, with Kafka's own (Java) codecs. Each codec's records
// come back exactly; zstd where this Node has it, else a clear error naming the codec.
import t from 'tap';
import zlib from 'node:zlib';
import { readRangesBulk } from '../../src/kafka/bulk-reader.js';
import { KafkajsAdmin } from '../../src/kafka/kafkajs/admin.js';
import { kafka } from '../support/kafka.js';
import { uniqueName } from '../support/stack.js';

const RECORDS = 2000;
const hasZstd = typeof (zlib as { zstdDecompressSync?: unknown }).zstdDecompressSync === 'function';

for (const codec of ['gzip', 'snappy', 'lz4', 'zstd']) {
  t.test(`a topic compressed with ${codec} by the broker reads back exactly`, async (t) => {
    const topic = uniqueName(`compressed-${codec}`);
    const admin = kafka.admin();
    await admin.connect();
    t.teardown(() => admin.disconnect());
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'compression.type', value: codec }] }],
    });
    const producer = kafka.producer();
    await producer.connect();
    t.teardown(() => producer.disconnect());
    // Values that compress, and a tombstone every 97th record.
    const value = (i: number) => (i % 97 === 0 ? null : `value ${i} `.repeat(1 + (i % 7)));
    for (let from = 0; from < RECORDS; from += 250)
      await producer.send({
        topic,
        messages: Array.from({ length: 250 }, (_, i) => ({ key: `k${from + i}`, value: value(from + i) })),
      });

    const keys: string[] = [];
    const mismatches: string[] = [];
    const read = readRangesBulk(
      new KafkajsAdmin(admin),
      [{ topic, partition: 0, from: 0n, to: BigInt(RECORDS) }],
      async (_range, records) => {
        for (const [i, key] of records.keys.entries()) {
          const k = key.toString();
          keys.push(k);
          if ((records.values[i]?.toString() ?? null) !== value(Number(k.slice(1)))) mismatches.push(k);
        }
      },
      () => false,
      { clientId: 'uis-test', stallTimeoutMs: 10_000 },
    );
    if (codec === 'zstd' && !hasZstd) {
      await t.rejects(read, /codec 4: zstd needs Node 22\.15/, 'zstd on this Node: an error that names the codec');
      return;
    }
    await read;
    t.equal(keys.length, RECORDS, 'every record once');
    t.same(keys.slice(0, 3), ['k0', 'k1', 'k2'], 'in offset order');
    t.same(mismatches, [], 'every value (and tombstone) as produced');
  });
}
