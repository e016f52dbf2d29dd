/**
 * Lookups in one partition now and then, not bulk reads: which record holds
 * a key and value (a row's changelog record, for its lineage), and where a
 * partition's committed records end before its trailing transaction markers.
 * Fetch requests straight to the leader, read committed, no group.
 */
import type { ClusterAdmin } from './client.js';
import { partitionLeaders } from './admin.js';
import { walkRecordBatches } from './record-batches.js';
import { FETCH, fetchRequest, parseFetchResponse, type FetchedPartition } from './fetch-request.js';
import { BrokerConnection } from './wire.js';

export interface RecordSought {
  topic: string;
  partition: number;
  /** The first offset to look at. */
  from: bigint;
  key: Buffer;
  /** The value the record has; a tombstone is sought with null. */
  value: Buffer | null;
}

/** Reads at most this many bytes of records before giving up (the record is then reported as not found). */
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
const FETCH_BYTES = 1024 * 1024;

export async function findRecordOffset(
  admin: ClusterAdmin,
  clientId: string,
  sought: RecordSought,
  maxBytes = DEFAULT_MAX_BYTES,
): Promise<bigint | undefined> {
  return withLeader(admin, clientId, sought.topic, sought.partition, async (fetchAt) => {
    let position = sought.from;
    for (let read = 0; read < maxBytes;) {
      const fetched = await fetchAt(position);
      read += fetched.records?.length ?? 0;
      let found: number | undefined;
      const first = Number(position);
      const next = fetched.records
        ? walkRecordBatches(fetched.records, fetched.aborted, (offset, key, value) => {
            if (found !== undefined || offset < first || !key?.equals(sought.key)) return;
            if (value === null ? sought.value === null : sought.value !== null && value.equals(sought.value))
              found = offset;
          })
        : undefined;
      if (found !== undefined) return BigInt(found);
      if (next === undefined || next <= position || next >= fetched.highWatermark) return undefined;
      position = next;
    }
    return undefined;
  });
}

/**
 * How far back from a partition's end a copy may be for its tail to be looked at (committedRecordsEnd):
 * the markers after a topic's last record are at most one per producer writing to it (one per task
 * with kafkajs).
 */
export const MARKER_LOOKBACK = 64;

/**
 * The offset after the last committed record of the partition before `end`: `end` less the
 * transaction markers (and records of aborted transactions) that close the partition there. Looks at
 * most `lookback` offsets back; when those hold no committed record, the first offset looked at (every
 * offset from there to `end` holds none). `end` itself when the partition's tail cannot be read.
 */
export async function committedRecordsEnd(
  admin: ClusterAdmin,
  clientId: string,
  { topic, partition, end, lookback }: { topic: string; partition: number; end: bigint; lookback: number },
): Promise<bigint> {
  if (end <= 0n) return end;
  const from = end > BigInt(lookback) ? end - BigInt(lookback) : 0n;
  return withLeader(admin, clientId, topic, partition, async (fetchAt) => {
    const fetched = await fetchAt(from);
    if (!fetched.records) return end;
    let quietFrom: bigint | undefined;
    let walked = 0n;
    walkRecordBatches(
      fetched.records,
      fetched.aborted,
      () => undefined,
      (baseOffset, lastOffset, committedRecords) => {
        if (baseOffset >= end) return;
        quietFrom ??= baseOffset < from ? from : baseOffset;
        if (committedRecords) quietFrom = lastOffset + 1n;
        walked = lastOffset + 1n;
      },
    );
    // The fetch may have stopped short of `end` (its size limit): then what lies after is unknown.
    if (quietFrom === undefined || walked < end) return end;
    return quietFrom < end ? quietFrom : end;
  });
}

/** Runs `use` with fetches of the partition from its leader, on a connection of its own. */
async function withLeader<T>(
  admin: ClusterAdmin,
  clientId: string,
  topic: string,
  partition: number,
  use: (fetchAt: (offset: bigint) => Promise<FetchedPartition>) => Promise<T>,
): Promise<T> {
  const leader = (await partitionLeaders(admin, [topic])).get(`${topic}:${partition}`);
  if (!leader) throw new Error(`no live leader for ${topic}-${partition}`);
  const connection = new BrokerConnection(leader, clientId);
  try {
    return await use(async (offset) => {
      const response = await connection.request(
        FETCH.key,
        FETCH.version,
        fetchRequest([{ topic, partition, offset }], {
          maxWaitMs: 0,
          maxBytes: FETCH_BYTES,
          partitionMaxBytes: FETCH_BYTES,
        }),
        30_000,
      );
      for (const fetched of parseFetchResponse(response.b, response.at)) {
        if (fetched.topic !== topic || fetched.partition !== partition) continue;
        if (fetched.errorCode !== 0)
          throw new Error(`fetching ${topic}-${partition} failed with error ${fetched.errorCode}`);
        return fetched;
      }
      throw new Error(`the fetch of ${topic}-${partition} answered for other partitions`);
    });
  } finally {
    connection.close();
  }
}
