/**
 * Reads ranges of partitions (changelogs, during a restore) at bulk speed:
 * Fetch requests straight to each partition's leader, sized for bulk, the
 * records walked in place (no decoding into objects, keys and values are
 * views into the fetched bytes). No consumer group is joined. Each fetched
 * partition's records go to `onRecords` in order, one write at a time per
 * partition, all partitions in parallel; a partition's next records are
 * fetched while its previous ones are written (at most WRITES_PER_PARTITION
 * writes of a partition held, running or waiting), so fetching and writing
 * overlap even when one partition is read.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { ClusterAdmin } from './client.js';
import { partitionLeaders } from './admin.js';
import { walkRecordBatches, type RecordHeader } from './record-batches.js';
import { FETCH, fetchRequest, LEADER_MOVED, parseFetchResponse } from './fetch-request.js';
import { BrokerConnection, type BrokerAddress } from './wire.js';

export interface PartitionRange {
  topic: string;
  partition: number;
  /** First offset to read. */
  from: bigint;
  /** Read until the position reaches this offset (the end offset when the read started). */
  to: bigint;
}

/** Thrown when a read is given up because `abandoned()` turned true. */
export class ReadAbandonedError extends Error {
  override name = 'ReadAbandonedError';
}

export interface RestoredRecords {
  /** Keys and values of the records, in offset order (tombstones have a null value). */
  keys: Buffer[];
  values: Array<Buffer | null>;
  /** The offset to continue from: everything before it in the range is in these or earlier records. */
  nextOffset: bigint;
  /** With BulkReadOptions.wholeRecords: every record in full, those with null keys too (keys/values stay empty). */
  whole?: WholeRecord[];
}

export interface WholeRecord {
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: number;
  headers: readonly RecordHeader[] | undefined;
}

export interface BulkReadOptions<P = undefined> {
  clientId: string;
  /** Give up when no partition moved for this long. */
  stallTimeoutMs?: number;
  /** Per Fetch request; default: half of maxBytesInFlight, at most 8 MiB. */
  maxBytes?: number;
  /** Per partition in a Fetch; default: an eighth of maxBytesInFlight, at most 4 MiB. */
  partitionMaxBytes?: number;
  /**
   * Fetched bytes whose records are not written yet, at most (per broker): the next fetch waits
   * while more are. Records are views into their response, so a response stays in memory until
   * every partition in it is written; without a bound, a restore of many partitions held a
   * response per partition (1M users: about 1 GiB of anonymous memory at peak).
   */
  maxBytesInFlight?: number;
  /** Hand over whole records (offset, timestamp, headers, null keys too) in RestoredRecords.whole. */
  wholeRecords?: boolean;
  /**
   * Called with a partition's records as soon as they are fetched, before the partition's earlier
   * records are written. Work that need not wait for those writes (building a write batch) so
   * overlaps them. onRecords then gets what it returned and the records' nextOffset, but not the
   * records: they are let go once prepared, since their views keep the whole response in memory
   * and the garbage collector copies every view it finds alive.
   */
  prepare?: (range: PartitionRange, records: RestoredRecords) => P;
}

const MAX_REQUEST_BYTES = 8 * 1024 * 1024;
const MAX_PARTITION_BYTES = 4 * 1024 * 1024;
const DEFAULT_BYTES_IN_FLIGHT = 32 * 1024 * 1024;
/** A partition's writes held at once: the one running and the one fetched while it runs. */
const WRITES_PER_PARTITION = 2;

export class LeaderMovedError extends Error {
  override name = 'LeaderMovedError';
}

export async function readRangesBulk<P = undefined>(
  admin: ClusterAdmin,
  ranges: readonly PartitionRange[],
  onRecords: (range: PartitionRange, records: RestoredRecords, prepared: P | undefined) => Promise<void>,
  abandoned: () => boolean,
  options: BulkReadOptions<P>,
): Promise<void> {
  const pending = ranges.filter((r) => r.from < r.to);
  const positions = new Map(pending.map((r) => [`${r.topic}:${r.partition}`, r.from]));
  for (let attempt = 1; ; attempt++) {
    const left = pending.filter((r) => positions.get(`${r.topic}:${r.partition}`)! < r.to);
    if (left.length === 0) return;
    const byLeader = await leadersOf(admin, left);
    try {
      await Promise.all(
        [...byLeader.values()].map(({ broker, ranges: led }) =>
          fetchLoop(broker, led, positions, onRecords, abandoned, options),
        ),
      );
    } catch (error) {
      if (!(error instanceof LeaderMovedError) || attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

async function leadersOf(
  admin: ClusterAdmin,
  ranges: readonly PartitionRange[],
): Promise<Map<number, { broker: BrokerAddress; ranges: PartitionRange[] }>> {
  const leaders = await partitionLeaders(admin, [...new Set(ranges.map((r) => r.topic))]);
  const byLeader = new Map<number, { broker: BrokerAddress; ranges: PartitionRange[] }>();
  for (const range of ranges) {
    const leader = leaders.get(`${range.topic}:${range.partition}`);
    if (!leader) throw new LeaderMovedError(`no live leader for ${range.topic}-${range.partition}`);
    const entry = byLeader.get(leader.nodeId) ?? { broker: leader, ranges: [] };
    entry.ranges.push(range);
    byLeader.set(leader.nodeId, entry);
  }
  return byLeader;
}

async function fetchLoop<P>(
  broker: BrokerAddress,
  ranges: readonly PartitionRange[],
  positions: Map<string, bigint>,
  onRecords: (range: PartitionRange, records: RestoredRecords, prepared: P | undefined) => Promise<void>,
  abandoned: () => boolean,
  options: BulkReadOptions<P>,
): Promise<void> {
  const stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
  const maxBytesInFlight = options.maxBytesInFlight ?? DEFAULT_BYTES_IN_FLIGHT;
  const connection = new BrokerConnection(broker, options.clientId);
  const keyOf = (r: PartitionRange) => `${r.topic}:${r.partition}`;
  /**
   * Writes held, per partition: how many, and the last one (each starts once the one before it is done).
   * A partition is fetched again while it holds fewer than WRITES_PER_PARTITION.
   */
  const writing = new Map<string, { count: number; last: Promise<void> }>();
  /** Every write held, to wait for the next one to end. */
  const held = new Set<Promise<void>>();
  /** Sizes of the responses some of whose records are still being written. */
  let bytesInFlight = 0;
  let failure: unknown;
  let lastProgress = Date.now();
  try {
    for (;;) {
      if (failure) throw failure;
      if (abandoned()) throw new ReadAbandonedError('the read was given up');
      const open = ranges.filter((r) => positions.get(keyOf(r))! < r.to);
      if (open.length === 0) break;
      const ready = open.filter((r) => (writing.get(keyOf(r))?.count ?? 0) < WRITES_PER_PARTITION);
      if (ready.length === 0 || (bytesInFlight >= maxBytesInFlight && held.size > 0)) {
        await Promise.race(held);
        continue;
      }
      if (Date.now() - lastProgress > stallTimeoutMs)
        throw new Error(`restoring from ${broker.host}:${broker.port} made no progress for ${stallTimeoutMs} ms`);
      const response = await connection.request(
        FETCH.key,
        FETCH.version,
        fetchRequest(
          ready.map((r) => ({ topic: r.topic, partition: r.partition, offset: positions.get(keyOf(r))! })),
          {
            maxWaitMs: 100,
            maxBytes: options.maxBytes ?? Math.min(MAX_REQUEST_BYTES, Math.floor(maxBytesInFlight / 2)),
            partitionMaxBytes:
              options.partitionMaxBytes ?? Math.min(MAX_PARTITION_BYTES, Math.floor(maxBytesInFlight / 8)),
          },
        ),
        30_000,
      );
      // The response stays in memory while any of its records waits to be written: it counts
      // until its parsing (one hold) and each of its writes (one hold each) are done.
      const responseBytes = response.b.length;
      bytesInFlight += responseBytes;
      let holds = 1;
      const letGo = () => {
        if (--holds === 0) bytesInFlight -= responseBytes;
      };
      try {
        for (const fetched of parseFetchResponse(response.b, response.at)) {
          const range = ready.find((r) => r.topic === fetched.topic && r.partition === fetched.partition);
          if (!range) continue;
          if (fetched.errorCode !== 0) {
            if (LEADER_MOVED.has(fetched.errorCode))
              throw new LeaderMovedError(`${range.topic}-${range.partition}: leader moved (${fetched.errorCode})`);
            throw new Error(`fetching ${range.topic}-${range.partition} failed with error ${fetched.errorCode}`);
          }
          const key = keyOf(range);
          const from = positions.get(key)!;
          const records: RestoredRecords = { keys: [], values: [], nextOffset: from };
          const first = Number(from);
          const end = Number(range.to);
          const whole: WholeRecord[] | undefined = options.wholeRecords ? (records.whole = []) : undefined;
          const next = fetched.records
            ? walkRecordBatches(fetched.records, fetched.aborted, (offset, recordKey, value, timestamp, headers) => {
                if (offset < first || offset >= end) return;
                if (whole) whole.push({ offset: BigInt(offset), key: recordKey, value, timestamp, headers });
                else if (recordKey) {
                  records.keys.push(recordKey);
                  records.values.push(value);
                }
              })
            : undefined;
          if (next === undefined || next <= from) continue;
          records.nextOffset = next < range.to ? next : range.to;
          positions.set(key, records.nextOffset);
          lastProgress = Date.now();
          holds++;
          const queue = writing.get(key) ?? { count: 0, last: Promise.resolve() };
          const prepared = options.prepare?.(range, records);
          const handed = options.prepare ? { keys: [], values: [], nextOffset: records.nextOffset } : records;
          // After a failed write no later records of any partition are written: a retry starts from them.
          const write = queue.last
            .then(() => (failure ? undefined : onRecords(range, handed, prepared)))
            .then(
              () => undefined,
              (error: unknown) => {
                failure ??= error;
              },
            )
            .finally(() => {
              held.delete(write);
              if (--queue.count === 0) writing.delete(key); // a held queue stays the partition's
              letGo();
            });
          queue.count++;
          queue.last = write;
          writing.set(key, queue);
          held.add(write);
          await yieldToEventLoop(); // serving goes on between partitions of a large response
        }
      } finally {
        letGo();
      }
    }
    await Promise.all(held);
    if (failure) throw failure;
  } catch (error) {
    // A failed write wins over the error that stopped the loop: a retry must not move past its records.
    await Promise.all(held);
    throw failure ?? error;
  } finally {
    connection.close();
  }
}
