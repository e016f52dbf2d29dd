/**
 * The consumer group protocol's member data (Kafka's ConsumerProtocolSubscription
 * and ConsumerProtocolAssignment, in the layout every client shares): what a
 * member sends when it joins (its topics and user data) and what the leader's
 * assignor hands each member (its partitions and user data). Ours, so the
 * assignor and the group plan read the same bytes whichever client joined.
 */
import { Reader, Writer } from './wire.js';

export interface Subscription {
  version: number;
  topics: string[];
  userData: Buffer | null;
}

export interface Assignment {
  version: number;
  /** Partitions per topic. */
  partitions: Record<string, number[]>;
  userData: Buffer | null;
}

export function encodeSubscription(subscription: Subscription): Buffer {
  const w = new Writer().int16(subscription.version).int32(subscription.topics.length);
  for (const topic of subscription.topics) w.string(topic);
  return w.nullableBytes(subscription.userData).buffer;
}

export function decodeSubscription(bytes: Buffer | null | undefined): Subscription | undefined {
  if (!bytes?.length) return undefined;
  const r = new Reader(bytes);
  const version = r.int16();
  const topics = r.array(() => r.nullableString() ?? '');
  // Later versions append owned partitions and more: the fields above are all we read.
  const userData = r.at < bytes.length ? r.nullableBytes() : null;
  return { version, topics, userData };
}

export function encodeAssignment(assignment: Assignment): Buffer {
  const topics = Object.entries(assignment.partitions);
  const w = new Writer().int16(assignment.version).int32(topics.length);
  for (const [topic, partitions] of topics) {
    w.string(topic).int32(partitions.length);
    for (const partition of partitions) w.int32(partition);
  }
  return w.nullableBytes(assignment.userData).buffer;
}

export function decodeAssignment(bytes: Buffer | null | undefined): Assignment | undefined {
  if (!bytes?.length) return undefined;
  const r = new Reader(bytes);
  const version = r.int16();
  const partitions: Record<string, number[]> = {};
  for (const { topic, ids } of r.array(() => ({ topic: r.nullableString() ?? '', ids: r.array(() => r.int32()) })))
    partitions[topic] = ids;
  const userData = r.at < bytes.length ? r.nullableBytes() : null;
  return { version, partitions, userData };
}
