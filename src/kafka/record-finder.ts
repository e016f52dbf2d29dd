/**
 * Finds one record in a partition by its key and value: the first at or after
 * an offset, reading forward a bounded number of bytes. For a lookup now and
 * then (which changelog record holds a row, for its lineage), not for bulk
 * reads: Fetch requests straight to the leader, read committed, no group.
 */
import type { ClusterAdmin } from './client.js';
import { partitionLeaders } from './admin.js';
import { walkRecordBatches } from './record-batches.js';
import { FETCH, fetchRequest, parseFetchResponse } from './fetch-request.js';
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
  const leader = (await partitionLeaders(admin, [sought.topic])).get(`${sought.topic}:${sought.partition}`);
  if (!leader) throw new Error(`no live leader for ${sought.topic}-${sought.partition}`);
  const connection = new BrokerConnection(leader, clientId);
  try {
    let position = sought.from;
    for (let read = 0; read < maxBytes;) {
      const response = await connection.request(
        FETCH.key,
        FETCH.version,
        fetchRequest([{ topic: sought.topic, partition: sought.partition, offset: position }], {
          maxWaitMs: 0,
          maxBytes: FETCH_BYTES,
          partitionMaxBytes: FETCH_BYTES,
        }),
        30_000,
      );
      read += response.b.length;
      for (const fetched of parseFetchResponse(response.b, response.at)) {
        if (fetched.topic !== sought.topic || fetched.partition !== sought.partition) continue;
        if (fetched.errorCode !== 0)
          throw new Error(`fetching ${sought.topic}-${sought.partition} failed with error ${fetched.errorCode}`);
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
    }
    return undefined;
  } finally {
    connection.close();
  }
}
