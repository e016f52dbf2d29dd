/**
 * What both commit paths share (a task's own kafkajs producer, and the
 * instance's exactly-once v2 producer): requests sized under the broker's
 * limit, and telling a fenced producer from other failures.
 */
import type { OutgoingRecord } from '../processor/types.js';
import { KafkaErrors, KafkaProtocolError } from './group-transactions.js';

/** Requests stay well under the broker's message.max.bytes (1 MB by default). */
export const MAX_REQUEST_BYTES = 512 * 1024;

/** About how many bytes a record takes in a request: key, value, headers and overhead. */
export function recordSize(record: OutgoingRecord): number {
  let bytes = 64 + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  const headers = record.headers;
  if (headers) for (let i = 0; i < headers.length; i++) bytes += headers[i]!.key.length + headers[i]!.value.length;
  return bytes;
}

/** A run of records and about how many bytes it takes (recordSize). */
export interface RecordChunk<R extends OutgoingRecord> {
  records: readonly R[];
  bytes: number;
}

/**
 * Splits records into runs of at most about `maxBytes` of keys, values and headers, each with its
 * size (one pass; records that fit in one run are that run, not a copy).
 */
export function chunksOf<R extends OutgoingRecord>(records: readonly R[], maxBytes: number): RecordChunk<R>[] {
  const chunks: RecordChunk<R>[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    const size = recordSize(records[i]!);
    if (i > start && bytes + size > maxBytes) {
      chunks.push({ records: records.slice(start, i), bytes });
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (records.length > start) chunks.push({ records: start === 0 ? records : records.slice(start), bytes });
  return chunks;
}

/** The Kafka error types in an error and the errors it wraps (kafkajs nests them in `cause` or `originalError`). */
export function errorTypes(error: unknown): string[] {
  const types: string[] = [];
  for (
    let e: unknown = error;
    e instanceof Error && types.length < 10;
    e = (e as Error & { cause?: unknown }).cause ?? (e as { originalError?: unknown }).originalError
  ) {
    const type = (e as { type?: string }).type;
    if (type) types.push(type);
  }
  return types;
}

/** Errors that mean another producer with the same transactional id has taken over (or the broker dropped ours). */
const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING']);

/**
 * True when a commit failed because the task's producer was fenced: another instance opened the
 * task (Kafka Streams' TaskMigratedException). The task must not be reopened here until a new
 * assignment says it is ours; reopening would fence the rightful owner in turn.
 */
export function isFencedError(error: unknown): boolean {
  if (error instanceof KafkaProtocolError) return FENCED_CODES.has(error.code);
  return errorTypes(error).some((type) => FENCED.has(type)) || /fenced/i.test(String((error as Error)?.message));
}

/** The same for exactly-once v2: this member's generation was replaced, or the instance's producer fenced. */
const FENCED_CODES = new Set<number>([
  KafkaErrors.ILLEGAL_GENERATION,
  KafkaErrors.UNKNOWN_MEMBER_ID,
  KafkaErrors.FENCED_INSTANCE_ID,
  KafkaErrors.PRODUCER_FENCED,
  47, // INVALID_PRODUCER_EPOCH
]);
