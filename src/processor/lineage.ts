/**
 * Lineage: which source record a record derives from, carried through the
 * topology so a store can say, per key, which source change last moved it.
 *
 * A source node describes each record it reads: the topic, partition,
 * offset, key and timestamp, plus the facts its `lineage` option adds in a
 * short form of its own (for a CDC event: table, operation, LSN). Records sent to repartition and sink topics
 * carry the description in the `uis-lineage` header, so the tasks downstream
 * see the original source record, not the repartition record. A store
 * materialized with `lineage: true` keeps, per key and per input topic of
 * its task, the description of the latest source record (by timestamp, then
 * order) that changed the row, in a companion store (`<store>-lineage`, with its
 * own changelog, so it is restored, replicated and transactional like the
 * store itself).
 */
import type { Header, RecordOrigin } from './types.js';

export const LINEAGE_HEADER = 'uis-lineage';

/** A description of a source record, as stored and carried. */
export interface Lineage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** The record's timestamp in the topology (ms), e.g. the source database's commit time. */
  readonly timestamp: number;
  /** Orders records of the same timestamp (e.g. a CDC event's LSN); 0 when the source gives none. */
  readonly order: number;
  /** The source record's key (for a CDC event: the row's primary key). */
  readonly key: Buffer | null;
  /** What the source's `lineage` option said about the record, in its own short form (see debeziumLineage). */
  readonly facts: string;
}

/** What a source says about a record: facts in its own short form, and an order within a timestamp. */
export interface LineageFacts {
  readonly facts: string;
  /** A whole number up to 2^53, e.g. the LSN of a CDC event. */
  readonly order?: number;
}

// The encoding: a version byte (1), then the topic (length-prefixed UTF-8), partition, offset,
// timestamp and order (unsigned varints), the key (length + 1, 0 for none, then its bytes), and the
// facts (the rest, UTF-8). About 65 bytes for a CDC event: it rides on every repartition record.
const VERSION = 1;
const topicBytes = new Map<string, Buffer>();

/** Encodes the lineage of `origin`: its coordinates, key and timestamp, and the source's facts about it. */
export function describeRecord(origin: RecordOrigin, timestamp: number, source?: LineageFacts): Buffer {
  const facts = source?.facts ?? '';
  const order = source?.order ?? 0;
  let topic = topicBytes.get(origin.topic);
  if (!topic) topicBytes.set(origin.topic, (topic = Buffer.from(origin.topic)));
  const offset = Number(origin.offset);
  const keyLength = origin.key ? origin.key.length : -1;
  const factsLength = Buffer.byteLength(facts);
  const size =
    1 +
    varintSize(topic.length) +
    topic.length +
    varintSize(origin.partition) +
    varintSize(offset) +
    varintSize(timestamp) +
    varintSize(order) +
    varintSize(keyLength + 1) +
    Math.max(0, keyLength) +
    factsLength;
  const b = Buffer.allocUnsafe(size);
  b[0] = VERSION;
  let at = writeVarint(b, 1, topic.length);
  at += topic.copy(b, at);
  at = writeVarint(b, at, origin.partition);
  at = writeVarint(b, at, offset);
  at = writeVarint(b, at, timestamp);
  at = writeVarint(b, at, order);
  at = writeVarint(b, at, keyLength + 1);
  if (origin.key) at += origin.key.copy(b, at);
  b.write(facts, at, 'utf8');
  return b;
}

export function decodeLineage(b: Buffer): Lineage {
  if (b[0] !== VERSION) throw new Error(`lineage: unknown encoding version ${b[0]}`);
  const cursor = { at: 1 };
  const topicLength = readVarint(b, cursor);
  const topic = b.toString('utf8', cursor.at, (cursor.at += topicLength));
  const partition = readVarint(b, cursor);
  const offset = String(readVarint(b, cursor));
  const timestamp = readVarint(b, cursor);
  const order = readVarint(b, cursor);
  const keyLength = readVarint(b, cursor) - 1;
  const key = keyLength < 0 ? null : Buffer.from(b.subarray(cursor.at, (cursor.at += keyLength)));
  return { topic, partition, offset, timestamp, order, key, facts: b.toString('utf8', cursor.at) };
}

/**
 * Is the record `a` describes later in its source than the one `b` describes: by timestamp, then by
 * order. (Records of different source partitions are processed in no particular order between them.)
 */
export function isLater(a: Buffer, b: Buffer): boolean {
  const x = timeOf(a);
  const y = timeOf(b);
  return x.timestamp > y.timestamp || (x.timestamp === y.timestamp && x.order > y.order);
}

/** The later in its source of two descriptions, either of which may be missing. */
export function laterOf(a: Buffer | undefined, b: Buffer | undefined): Buffer | undefined {
  if (!a || !b) return a ?? b;
  return isLater(b, a) ? b : a;
}

/**
 * The origin a held change keeps when `next` changes it again: `next`, but with the lineage the change
 * already had where that one is later in the source (changes of different source partitions arrive in
 * no set order, and a held change is forwarded once, with one origin).
 */
export function laterInSource(next: RecordOrigin, held: RecordOrigin | undefined): RecordOrigin {
  if (!held?.lineage || !next.lineage || !isLater(held.lineage, next.lineage)) return next;
  return { ...next, lineage: held.lineage };
}

function timeOf(b: Buffer): { timestamp: number; order: number } {
  if (b[0] !== VERSION) throw new Error(`lineage: unknown encoding version ${b[0]}`);
  const cursor = { at: 1 };
  const topicLength = readVarint(b, cursor);
  cursor.at += topicLength; // past the topic
  readVarint(b, cursor); // partition
  readVarint(b, cursor); // offset
  return { timestamp: readVarint(b, cursor), order: readVarint(b, cursor) };
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** An unsigned varint of a whole number up to 2^53; returns the position after it. */
function writeVarint(b: Buffer, at: number, n: number): number {
  while (n >= 128) {
    b[at++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  b[at++] = n;
  return at;
}

function readVarint(b: Buffer, cursor: { at: number }): number {
  let n = 0;
  let scale = 1;
  for (;;) {
    if (cursor.at >= b.length) throw new Error('lineage: truncated');
    const byte = b[cursor.at++]!;
    n += (byte & 127) * scale;
    if (byte < 128) return n;
    scale *= 128;
  }
}

/** The lineage a record carries in its headers, if any. */
export function lineageHeader(headers: readonly Header[] | undefined): Buffer | undefined {
  if (!headers) return undefined;
  for (const header of headers) if (header.key === LINEAGE_HEADER) return header.value;
  return undefined;
}

/** Headers that pass the current record's lineage on, or undefined when it has none. */
export function lineageHeaders(origin: RecordOrigin): Header[] | undefined {
  return origin.lineage ? [{ key: LINEAGE_HEADER, value: origin.lineage }] : undefined;
}

export function lineageStoreName(storeName: string): string {
  return `${storeName}-lineage`;
}

/**
 * The companion store's key: the row's key bytes, then one byte: the index of the input topic among
 * its task's source topics (SubTopology.sources, in the topology's order).
 */
export function lineageKey(key: Buffer, inputIndex: number): Buffer {
  if (!Number.isInteger(inputIndex) || inputIndex < 0 || inputIndex > 255)
    throw new RangeError(`lineage: input topic index ${inputIndex} out of 0-255`);
  const b = Buffer.allocUnsafe(key.length + 1);
  key.copy(b);
  b[key.length] = inputIndex;
  return b;
}
