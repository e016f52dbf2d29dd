// Kafka's default partitioner for keyed records, byte-compatible with the Java client
// (org.apache.kafka.common.utils.Utils.murmur2 and toPositive), so that records we produce
// land in the same partition as records a Java producer writes with the same key.

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/** Kafka's murmur2 hash of the key, as the signed 32-bit int Java returns. */
export function murmur2(key: Buffer): number {
  const length = key.length;
  let h = (SEED ^ length) | 0;
  const blockEnd = length & ~3;

  for (let i = 0; i < blockEnd; i += 4) {
    let k = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }

  // The Java code handles the 1-3 trailing bytes with a fall-through switch; these ifs do the same.
  const tail = length & 3;
  if (tail === 3) h ^= key[blockEnd + 2]! << 16;
  if (tail >= 2) h ^= key[blockEnd + 1]! << 8;
  if (tail >= 1) {
    h ^= key[blockEnd]!;
    h = Math.imul(h, M);
  }

  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h;
}

/** Kafka's Utils.toPositive: clears the sign bit (not Math.abs, which overflows on MIN_VALUE). */
export function toPositive(value: number): number {
  return value & 0x7fffffff;
}

/** The partition the Java client's default partitioner picks for a non-null key. */
export function partitionForKey(key: Buffer, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions <= 0) {
    throw new RangeError(`numPartitions must be a positive integer, got ${numPartitions}`);
  }
  return toPositive(murmur2(key)) % numPartitions;
}
