/**
 * Reads of many keys of a store (Kafka Streams' range, prefixScan, reverseRange, all): bounds on the
 * store's serialized keys, in byte order, at most `limit` entries, resumable after a key. Byte order is
 * the keys' order for strings (UTF-8) but not for numbers written as decimal strings.
 */
import type { BackendRange } from './backend.js';

export interface RangeQuery {
  /** Keys from this one on (inclusive). */
  from?: Buffer;
  /** Keys up to this one (inclusive, as Kafka Streams' range). */
  to?: Buffer;
  /** Only keys that start with these bytes. */
  prefix?: Buffer;
  /** Largest key first. */
  reverse?: boolean;
  /** At most this many entries. */
  limit: number;
  /** Continue after this key (the last one of the previous page), in the query's direction. */
  after?: Buffer;
}

interface Bound {
  key: Buffer;
  inclusive: boolean;
}

/** The backend range of a query on the store whose keys all start with `storePrefix`. */
export function backendRange(storePrefix: Buffer, query: RangeQuery): BackendRange {
  const within = (key: Buffer) => Buffer.concat([storePrefix, key]);
  let lower: Bound = { key: storePrefix, inclusive: true };
  let upper: Bound | undefined = bytesAfterPrefix(storePrefix);
  const raise = (bound: Bound) => {
    const c = Buffer.compare(bound.key, lower.key);
    if (c > 0 || (c === 0 && !bound.inclusive)) lower = bound;
  };
  const cap = (bound: Bound | undefined) => {
    if (!bound) return;
    if (!upper) {
      upper = bound;
      return;
    }
    const c = Buffer.compare(bound.key, upper.key);
    if (c < 0 || (c === 0 && !bound.inclusive)) upper = bound;
  };
  if (query.prefix) {
    raise({ key: within(query.prefix), inclusive: true });
    cap(bytesAfterPrefix(within(query.prefix)));
  }
  if (query.from) raise({ key: within(query.from), inclusive: true });
  if (query.to) cap({ key: within(query.to), inclusive: true });
  if (query.after) {
    if (query.reverse) cap({ key: within(query.after), inclusive: false });
    else raise({ key: within(query.after), inclusive: false });
  }
  const finalUpper = upper as Bound | undefined;
  return {
    ...(lower.inclusive ? { gte: lower.key } : { gt: lower.key }),
    ...(finalUpper ? (finalUpper.inclusive ? { lte: finalUpper.key } : { lt: finalUpper.key }) : {}),
    reverse: query.reverse ?? false,
    limit: query.limit,
  };
}

/** The smallest key after every key that starts with `prefix` (none when the prefix is all 0xff). */
function bytesAfterPrefix(prefix: Buffer): Bound | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const key = Buffer.from(prefix.subarray(0, end));
  key[end - 1]! += 1;
  return { key, inclusive: false };
}
