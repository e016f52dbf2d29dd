/**
 * The input offsets a commit covers, carried in the task's changelogs, so that a copy of a store kept
 * from its changelog (a standby) knows what input its rows reflect (Kafka Streams' changelog position
 * headers, KIP-796, do the same for its query consistency vectors).
 *
 * The last changelog record of each store in a commit carries, in the `uis-inputs` header, the offset
 * before which every record of each input partition of the task is processed, in the order of the
 * sub-topology's sources, as decimal numbers separated by commas (e.g. `1042,0,77`). A copy that has
 * applied that record holds every change of that commit and of the commits before it. Records of the
 * task's output topics that land on the task's own partition carry it the same way, for read replicas.
 */
import type { Header, OutgoingRecord } from '../processor/types.js';

export const COMMITTED_INPUTS_HEADER = 'uis-inputs';

/** The header value for `offsets`, in the order of `sources` (a source not in `offsets` is written as 0). */
export function encodeCommittedInputs(sources: readonly string[], offsets: ReadonlyMap<string, bigint>): Buffer {
  return Buffer.from(sources.map((topic) => (offsets.get(topic) ?? 0n).toString()).join(','));
}

/** The offsets a header value names, by topic; undefined when it does not fit `sources`. */
export function decodeCommittedInputs(sources: readonly string[], value: Buffer): Map<string, bigint> | undefined {
  const parts = value.toString('latin1').split(',');
  if (parts.length !== sources.length || !parts.every((p) => /^\d{1,19}$/.test(p))) return undefined;
  return new Map(sources.map((topic, i) => [topic, BigInt(parts[i]!)]));
}

/** The committed inputs a record carries, if any. */
export function committedInputsHeader(headers: readonly Header[] | undefined): Buffer | undefined {
  return headers?.find((h) => h.key === COMMITTED_INPUTS_HEADER)?.value;
}

/**
 * `records` with the committed inputs on the last record of each topic partition that `carries`
 * (records of others pass unchanged): the task's changelogs, and the partition of its output topics
 * that the task's own keys go to, which a read replica of the output topic follows.
 */
export function withCommittedInputs<R extends OutgoingRecord & { partition: number }>(
  records: readonly R[],
  carries: (record: R) => boolean,
  inputs: Buffer,
): R[] {
  // From the end: the first record met of each carrying topic partition is its last.
  const marked = records.slice();
  const seen = new Map<string, Set<number>>();
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    let partitions = seen.get(r.topic);
    if (partitions?.has(r.partition) || !carries(r)) continue;
    if (!partitions) seen.set(r.topic, (partitions = new Set()));
    partitions.add(r.partition);
    marked[i] = { ...r, headers: [...(r.headers ?? []), { key: COMMITTED_INPUTS_HEADER, value: inputs }] };
  }
  return marked;
}

/**
 * Per input, the larger of two proven offsets: each is a bound below which every record is in the copy,
 * and a copy only moves forward, so both hold at once.
 */
/** Offsets per partition, by topic. */
export type TopicOffsets = Map<string, Map<number, bigint>>;

/**
 * The offsets a group has committed for `inputTopics`, then the high watermarks of `endTopics`: after,
 * not at once, since a copy proves the committed offsets only once it has read past watermarks read
 * after them (a commit's records are written before its offsets become visible). One request per topic.
 */
export async function committedThenEnds(
  inputTopics: Iterable<string>,
  endTopics: Iterable<string>,
  committedOf: (topic: string) => Promise<Map<number, bigint>>,
  endsOf: (topic: string) => Promise<Map<number, bigint>>,
): Promise<{ committed: TopicOffsets; ends: TopicOffsets }> {
  const read = async (topics: Iterable<string>, offsets: (topic: string) => Promise<Map<number, bigint>>) =>
    new Map(await Promise.all([...new Set(topics)].map(async (topic) => [topic, await offsets(topic)] as const)));
  const committed = await read(inputTopics, committedOf);
  return { committed, ends: await read(endTopics, endsOf) };
}

/** One partition's offsets of `topics`, by topic (a topic with none for it is left out). */
export function offsetsAt(offsets: TopicOffsets, topics: Iterable<string>, partition: number): Map<string, bigint> {
  const at = new Map<string, bigint>();
  for (const topic of topics) {
    const offset = offsets.get(topic)?.get(partition);
    if (offset !== undefined) at.set(topic, offset);
  }
  return at;
}

export function newerOf(
  proven: ReadonlyMap<string, bigint> | undefined,
  more: ReadonlyMap<string, bigint>,
): Map<string, bigint> {
  const newer = new Map(proven);
  for (const [topic, offset] of more) if (offset > (newer.get(topic) ?? -1n)) newer.set(topic, offset);
  return newer;
}
