/**
 * Lineage: which source record a record derives from, carried through the
 * topology so a store can say, per key, which source change last moved it.
 *
 * A source node describes each record it reads: the topic, partition and
 * offset, plus the facts its `lineage` option adds (for a CDC event: table,
 * primary key, LSN, commit time). Records sent to repartition and sink topics
 * carry the description in the `uis-lineage` header, so the tasks downstream
 * see the original source record, not the repartition record. A store
 * materialized with `lineage: true` keeps the description per key and per
 * input topic of its task in a companion store (`<store>-lineage`, with its
 * own changelog, so it is restored, replicated and transactional like the
 * store itself).
 */
import type { Header, RecordOrigin } from './types.js';

export const LINEAGE_HEADER = 'uis-lineage';

/** What a source adds about a record: JSON values (ids as strings, so they stay exact). */
export type LineageFacts = Readonly<Record<string, string | number | boolean | null>>;

/** A description of a source record, as stored and served. */
export interface Lineage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** The record's timestamp in the topology (ms), e.g. the source database's commit time. */
  readonly timestamp: number;
  readonly [fact: string]: string | number | boolean | null;
}

/** Encodes the lineage of `origin`: its coordinates and the source's facts about it. */
export function describeRecord(origin: RecordOrigin, timestamp: number, facts?: LineageFacts): Buffer {
  const lineage: Lineage = {
    ...facts,
    topic: origin.topic,
    partition: origin.partition,
    offset: origin.offset,
    timestamp,
  };
  return Buffer.from(JSON.stringify(lineage));
}

export function decodeLineage(bytes: Buffer): Lineage {
  return JSON.parse(bytes.toString('utf8')) as Lineage;
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

/** The companion store's key: the row's key bytes, a zero byte, the input topic (topic names have no zero byte). */
export function lineageKey(key: Buffer, inputTopic: string): Buffer {
  return Buffer.concat([key, Buffer.from([0]), Buffer.from(inputTopic)]);
}
