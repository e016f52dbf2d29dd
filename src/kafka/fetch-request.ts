/**
 * Kafka's Fetch request (v11, read_committed), as the engine's own readers send
 * it: the restore's bulk reads and the group consumer on @platformatic/kafka.
 * The records stay undecoded bytes: `record-batches.ts` walks them in place.
 */
import type { AbortedTransaction } from './record-batches.js';
import { Reader, Writer } from './wire.js';

export const FETCH = { key: 1, version: 11 } as const;
const READ_COMMITTED = 1;
/** Partition errors after which the partition's leader is looked up again. */
export const LEADER_MOVED = new Set([3, 5, 6, 74, 75]);

export interface FetchPosition {
  topic: string;
  partition: number;
  offset: bigint;
}

export interface FetchLimits {
  maxWaitMs: number;
  maxBytes: number;
  partitionMaxBytes: number;
}

export interface FetchedPartition {
  topic: string;
  partition: number;
  errorCode: number;
  highWatermark: bigint;
  aborted: AbortedTransaction[];
  records: Buffer | null;
}

export function fetchRequest(positions: readonly FetchPosition[], limits: FetchLimits): Buffer {
  const byTopic = new Map<string, FetchPosition[]>();
  for (const p of positions) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p]);
  const w = new Writer()
    .int32(-1) // replica id: a consumer
    .int32(limits.maxWaitMs)
    .int32(1) // min bytes
    .int32(limits.maxBytes)
    .int8(READ_COMMITTED)
    .int32(0) // no fetch session
    .int32(-1)
    .int32(byTopic.size);
  for (const [topic, partitions] of byTopic) {
    w.string(topic).int32(partitions.length);
    for (const p of partitions)
      w.int32(p.partition)
        .int32(-1) // current leader epoch: not checked
        .int64(p.offset)
        .int64(-1n) // log start offset: a consumer sends -1
        .int32(limits.partitionMaxBytes);
  }
  return w
    .int32(0) // forgotten topics
    .string(
      '',
    ) // rack id
  .buffer;
}

export function* parseFetchResponse(b: Buffer, start: number): Generator<FetchedPartition> {
  const r = new Reader(b);
  r.at = start;
  r.int32(); // throttle time
  const errorCode = r.int16();
  r.int32(); // session id
  if (errorCode !== 0) throw new Error(`fetch failed with error ${errorCode}`);
  const topics = r.int32();
  for (let t = 0; t < topics; t++) {
    const topic = r.nullableString() ?? '';
    const partitions = r.int32();
    for (let p = 0; p < partitions; p++) {
      const partition = r.int32();
      const partitionError = r.int16();
      const highWatermark = r.int64();
      r.int64(); // last stable offset
      r.int64(); // log start offset
      const aborted = r.array(() => ({ producerId: r.int64(), firstOffset: r.int64() }));
      r.int32(); // preferred read replica
      const records = r.nullableBytes();
      yield { topic, partition, errorCode: partitionError, highWatermark, aborted, records };
    }
  }
}
