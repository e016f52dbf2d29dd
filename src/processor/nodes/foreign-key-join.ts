/**
 * Foreign-key table-table joins, after Kafka Streams' KIP-213: a left row joins the right row whose
 * key it names (its foreign key), though the two tables are partitioned differently.
 *
 * 1. `ForeignKeySubscribe` (left's task): each left change subscribes its primary key to the new
 *    foreign key, with a hash of the left row, and unsubscribes it from the old one; the messages go
 *    through the subscription topic, partitioned by foreign key as the right table is.
 * 2. `ForeignKeySubscriptions` (right's task): keeps, per foreign key, the subscribed primary keys and
 *    their hashes; answers a subscription with the right row, and a right change with a response to
 *    each subscriber, through the response topic, partitioned by primary key as the left table is.
 * 3. `ForeignKeyResolve` (left's task): a response whose hash is that of the current left row gives
 *    the joined row; others are stale (the left row changed since) and are dropped.
 */
import { createHash } from 'node:crypto';
import type { AnyFn } from '../../dsl/graph.js';
import type { Serde } from '../../serdes/serde.js';
import type { Change, KeyValueStore, Processor, ValueGetter } from '../types.js';
import { ForwardingProcessor } from './node.js';

export type SubscriptionInstruction = 'subscribe' | 'unsubscribe' | 'unsubscribe-and-propagate';
const INSTRUCTIONS: readonly SubscriptionInstruction[] = ['subscribe', 'unsubscribe', 'unsubscribe-and-propagate'];

/** A subscription message: the primary key (serialized), what to do, and the left row's hash. */
export interface Subscription {
  instruction: SubscriptionInstruction;
  primaryKey: Buffer;
  hash: Buffer | null;
}

/** A response: the hash the subscription carried (null: propagate a delete) and the right row. */
export interface SubscriptionResponse {
  hash: Buffer | null;
  row: unknown;
}

const HASH_BYTES = 16;

/** The hash a subscription carries: of the left row's serialized bytes. */
export function rowHash(bytes: Buffer): Buffer {
  return createHash('md5').update(bytes).digest();
}

/** [instruction][has hash][hash?][primary key...] */
export const subscriptionSerde: Serde<Subscription> = {
  name: 'fk-subscription',
  serialize(s) {
    const head = Buffer.from([INSTRUCTIONS.indexOf(s.instruction), s.hash ? 1 : 0]);
    return Buffer.concat(s.hash ? [head, s.hash, s.primaryKey] : [head, s.primaryKey]);
  },
  deserialize(bytes) {
    const instruction = INSTRUCTIONS[bytes[0]!];
    if (!instruction) throw new Error(`fk-subscription: unknown instruction ${bytes[0]}`);
    const hashed = bytes[1] === 1;
    return {
      instruction,
      hash: hashed ? Buffer.from(bytes.subarray(2, 2 + HASH_BYTES)) : null,
      primaryKey: Buffer.from(bytes.subarray(hashed ? 2 + HASH_BYTES : 2)),
    };
  },
};

/** [flags: 1 hash, 2 row][hash?][row...] */
export function responseSerde(rowSerde: Serde<unknown>): Serde<SubscriptionResponse> {
  return {
    name: `fk-response(${rowSerde.name})`,
    serialize(r) {
      const row = r.row === null || r.row === undefined ? null : rowSerde.serialize(r.row);
      const head = Buffer.from([(r.hash ? 1 : 0) | (row ? 2 : 0)]);
      return Buffer.concat([head, ...(r.hash ? [r.hash] : []), ...(row ? [row] : [])]);
    },
    deserialize(bytes) {
      const flags = bytes[0]!;
      const at = flags & 1 ? 1 + HASH_BYTES : 1;
      return {
        hash: flags & 1 ? Buffer.from(bytes.subarray(1, at)) : null,
        row: flags & 2 ? rowSerde.deserialize(bytes.subarray(at)) : null,
      };
    },
  };
}

/** A foreign key's subscribers: (primary key, hash) pairs. [count]{[length][primary key][hash]} */
export type Subscribers = Array<[primaryKey: Buffer, hash: Buffer]>;
export const subscribersSerde: Serde<Subscribers> = {
  name: 'fk-subscribers',
  serialize(list) {
    const size = 4 + list.reduce((n, [pk]) => n + 4 + pk.length + HASH_BYTES, 0);
    const out = Buffer.allocUnsafe(size);
    out.writeUInt32BE(list.length, 0);
    let at = 4;
    for (const [pk, hash] of list) {
      out.writeUInt32BE(pk.length, at);
      at += 4;
      at += pk.copy(out, at);
      at += hash.copy(out, at);
    }
    return out;
  },
  deserialize(bytes) {
    const list: Subscribers = [];
    let at = 4;
    for (let i = bytes.readUInt32BE(0); i > 0; i--) {
      const length = bytes.readUInt32BE(at);
      at += 4;
      const pk = Buffer.from(bytes.subarray(at, at + length));
      at += length;
      list.push([pk, Buffer.from(bytes.subarray(at, at + HASH_BYTES))]);
      at += HASH_BYTES;
    }
    return list;
  },
};

/** Left changes in, subscription messages out (keyed by foreign key). */
export class ForeignKeySubscribe extends ForwardingProcessor {
  constructor(
    private readonly extractor: AnyFn,
    private readonly keySerde: Serde<unknown>,
    private readonly valueSerde: Serde<unknown>,
    private readonly foreignKeySerde: Serde<unknown>,
  ) {
    super();
  }

  process(key: unknown, change: unknown, timestamp: number): void {
    const { newValue, oldValue } = change as Change<unknown>;
    if (key === null || key === undefined) return;
    const newKey = foreignKeyOf(this.extractor, newValue, key);
    const oldKey = foreignKeyOf(this.extractor, oldValue, key);
    const primaryKey = this.keySerde.serialize(key);
    const moved =
      oldKey !== null &&
      (newKey === null || !this.foreignKeySerde.serialize(oldKey).equals(this.foreignKeySerde.serialize(newKey)));
    if (moved) {
      const instruction = newValue === null || newValue === undefined ? 'unsubscribe-and-propagate' : 'unsubscribe';
      this.forward(oldKey, { instruction, primaryKey, hash: null } satisfies Subscription, timestamp);
    }
    if (newKey !== null) {
      const hash = rowHash(this.valueSerde.serialize(newValue));
      this.forward(newKey, { instruction: 'subscribe', primaryKey, hash } satisfies Subscription, timestamp);
    }
  }
}

/** The foreign key of a row, given its own key too (Kafka Streams' KIP-1104); null for none. */
function foreignKeyOf(extractor: AnyFn, row: unknown, key: unknown): unknown {
  if (row === null || row === undefined) return null;
  const foreignKey: unknown = extractor(row, key);
  return foreignKey === undefined ? null : foreignKey;
}

/**
 * The right side's subscriptions (side 0: messages from the subscription topic) and the right
 * table's changes (side 1); both answer with responses keyed by primary key.
 */
export class ForeignKeySubscriptions extends ForwardingProcessor {
  constructor(
    private readonly store: KeyValueStore<unknown, Subscribers>,
    private readonly rightGetter: ValueGetter,
    private readonly keySerde: Serde<unknown>,
  ) {
    super();
  }

  side(index: number): Processor {
    return index === 0
      ? { process: (fk, message, timestamp) => this.subscription(fk, message as Subscription, timestamp) }
      : { process: (fk, change, timestamp) => this.rightChanged(fk, change as Change<unknown>, timestamp) };
  }

  process(): void {
    throw new Error('unreachable: the subscriptions receive through their sides');
  }

  private subscription(fk: unknown, message: Subscription, timestamp: number): void {
    if (fk === null || fk === undefined) return;
    const subscribers = (this.store.get(fk) ?? []).filter(([pk]) => !pk.equals(message.primaryKey));
    if (message.instruction === 'subscribe') subscribers.push([message.primaryKey, message.hash!]);
    this.store.put(fk, subscribers.length > 0 ? subscribers : null);
    const primaryKey = this.keySerde.deserialize(message.primaryKey);
    if (message.instruction === 'subscribe') {
      this.forward(primaryKey, { hash: message.hash, row: this.rightGetter(fk) ?? null }, timestamp);
    } else if (message.instruction === 'unsubscribe-and-propagate') {
      this.forward(primaryKey, { hash: null, row: null } satisfies SubscriptionResponse, timestamp);
    }
  }

  private rightChanged(fk: unknown, change: Change<unknown>, timestamp: number): void {
    if (fk === null || fk === undefined) return;
    for (const [pk, hash] of this.store.get(fk) ?? []) {
      this.forward(
        this.keySerde.deserialize(pk),
        { hash, row: change.newValue ?? null } satisfies SubscriptionResponse,
        timestamp,
      );
    }
  }
}

/**
 * Responses (side 0) and left changes (side 1) in, the joined table's changes out. A left change
 * gives a row at once only where no response will come: a left row without a foreign key (joined
 * with null by a left join, none for an inner one) or a deleted row that had none.
 */
export class ForeignKeyResolve extends ForwardingProcessor {
  constructor(
    private readonly extractor: AnyFn,
    private readonly joiner: AnyFn,
    private readonly leftJoin: boolean,
    private readonly leftGetter: ValueGetter,
    private readonly valueSerde: Serde<unknown>,
    private readonly store: KeyValueStore<unknown, unknown>,
  ) {
    super();
  }

  side(index: number): Processor {
    return index === 0
      ? { process: (pk, response, timestamp) => this.response(pk, response as SubscriptionResponse, timestamp) }
      : { process: (pk, change, timestamp) => this.leftChanged(pk, change as Change<unknown>, timestamp) };
  }

  process(): void {
    throw new Error('unreachable: the join receives through its sides');
  }

  private response(pk: unknown, response: SubscriptionResponse, timestamp: number): void {
    const left = this.leftGetter(pk) ?? null;
    if (response.hash === null) {
      if (left === null) this.emit(pk, null, timestamp);
      return;
    }
    if (left === null || !rowHash(this.valueSerde.serialize(left)).equals(response.hash)) return; // stale
    const row = response.row ?? null;
    this.emit(pk, row === null ? (this.leftJoin ? this.joiner(left, null) : null) : this.joiner(left, row), timestamp);
  }

  private leftChanged(pk: unknown, change: Change<unknown>, timestamp: number): void {
    if (pk === null || pk === undefined) return;
    const newValue = change.newValue ?? null;
    if (newValue === null) {
      if (foreignKeyOf(this.extractor, change.oldValue, pk) === null) this.emit(pk, null, timestamp);
      return;
    }
    if (foreignKeyOf(this.extractor, newValue, pk) === null) {
      this.emit(pk, this.leftJoin ? this.joiner(newValue, null) : null, timestamp);
    }
  }

  private emit(pk: unknown, newValue: unknown, timestamp: number): void {
    const oldValue = this.store.get(pk);
    if (newValue === null && oldValue === null) return;
    this.store.put(pk, newValue);
    this.forward(pk, { newValue, oldValue } satisfies Change<unknown>, timestamp);
  }
}
