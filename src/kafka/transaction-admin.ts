/**
 * The Kafka admin requests for transactions that kafkajs does not have
 * (Kafka's own `kafka-transactions.sh` uses the same ones): FindCoordinator
 * for a transactional id, DescribeTransactions, DescribeProducers and
 * WriteTxnMarkers. Each is one request on a short-lived connection to the
 * broker that serves it, in the flexible (compact) encoding.
 */
import { Socket } from 'node:net';

export interface BrokerAddress {
  host: string;
  port: number;
}

export interface TransactionState {
  errorCode: number;
  /** Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, Empty, Dead, PrepareEpochFence. */
  state: string;
  producerId: bigint;
  producerEpoch: number;
}

export interface ActiveProducer {
  producerId: bigint;
  producerEpoch: number;
  coordinatorEpoch: number;
  /** First offset of the producer's open transaction on the partition; -1 when none is open. */
  currentTxnStartOffset: bigint;
}

export interface PartitionRef {
  topic: string;
  partition: number;
}

const API = { findCoordinator: 10, writeTxnMarkers: 27, describeProducers: 61, describeTransactions: 65 } as const;

/** Builds a request body in Kafka's compact encoding. */
class Writer {
  private readonly parts: Buffer[] = [];
  int8(v: number) {
    const b = Buffer.alloc(1);
    b.writeInt8(v);
    return this.push(b);
  }
  int16(v: number) {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    return this.push(b);
  }
  int32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    return this.push(b);
  }
  int64(v: bigint) {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    return this.push(b);
  }
  uvarint(v: number) {
    const bytes: number[] = [];
    while (v > 0x7f) {
      bytes.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    bytes.push(v);
    return this.push(Buffer.from(bytes));
  }
  /** A string with an int16 length (request header client id). */
  string(s: string) {
    const b = Buffer.from(s);
    return this.int16(b.length).push(b);
  }
  compactString(s: string) {
    const b = Buffer.from(s);
    return this.uvarint(b.length + 1).push(b);
  }
  compactArray<T>(items: readonly T[], each: (item: T) => void) {
    this.uvarint(items.length + 1);
    for (const item of items) each(item);
    return this;
  }
  noTags() {
    return this.uvarint(0);
  }
  push(b: Buffer) {
    this.parts.push(b);
    return this;
  }
  get buffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads a response in Kafka's compact encoding. */
class Reader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  int8() {
    return this.b.readInt8((this.at += 1) - 1);
  }
  int16() {
    return this.b.readInt16BE((this.at += 2) - 2);
  }
  int32() {
    return this.b.readInt32BE((this.at += 4) - 4);
  }
  int64() {
    return this.b.readBigInt64BE((this.at += 8) - 8);
  }
  uvarint() {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = this.b[this.at++]!;
      value |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value >>> 0;
      shift += 7;
    }
  }
  compactNullableString(): string | null {
    const n = this.uvarint();
    if (n === 0) return null;
    const s = this.b.toString('utf8', this.at, this.at + n - 1);
    this.at += n - 1;
    return s;
  }
  compactString(): string {
    return this.compactNullableString() ?? '';
  }
  compactArray<T>(each: () => T): T[] {
    const n = this.uvarint();
    const items: T[] = [];
    for (let i = 0; i < n - 1; i++) items.push(each());
    return items;
  }
  skipTags() {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint(); // tag
      this.at += this.uvarint(); // size, then skip the data
    }
  }
}

let correlation = 0;

/** Sends one request (header v2) and returns the response body after its header (v1). */
/** The broker could not be reached or did not answer in time (worth retrying, unlike an error it answered). */
export class BrokerUnreachableError extends Error {
  override name = 'BrokerUnreachableError';
}

async function call(
  broker: BrokerAddress,
  apiKey: number,
  apiVersion: number,
  body: Buffer,
  timeoutMs = 10_000,
): Promise<Reader> {
  const id = ++correlation & 0x7fffffff;
  const header = new Writer().int16(apiKey).int16(apiVersion).int32(id).string('uis-transaction-admin').noTags().buffer;
  const payload = Buffer.concat([header, body]);
  const frame = Buffer.concat([Buffer.alloc(4), payload]);
  frame.writeInt32BE(payload.length, 0);
  const response = await new Promise<Buffer>((resolve, reject) => {
    const socket = new Socket();
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(
      () => socket.destroy(new BrokerUnreachableError(`no answer from ${broker.host}:${broker.port}`)),
      timeoutMs,
    );
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      const all = Buffer.concat(chunks);
      if (received >= 4 && received >= 4 + all.readInt32BE(0)) {
        clearTimeout(timer);
        socket.end();
        resolve(all.subarray(4, 4 + all.readInt32BE(0)));
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error instanceof BrokerUnreachableError ? error : new BrokerUnreachableError(error.message));
    });
    // A broker closes the connection on a request it does not know (DescribeTransactions is Kafka 3.0+).
    socket.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`${broker.host}:${broker.port} closed the connection without answering`));
    });
    socket.connect(broker.port, broker.host, () => socket.write(frame));
  });
  const reader = new Reader(response);
  if (reader.int32() !== id) throw new Error('Kafka answered another request');
  reader.skipTags();
  return reader;
}

/** The broker that coordinates a transactional id's transactions. */
export async function findTransactionCoordinator(
  broker: BrokerAddress,
  transactionalId: string,
): Promise<BrokerAddress> {
  const body = new Writer().compactString(transactionalId).int8(1).noTags().buffer;
  const r = await call(broker, API.findCoordinator, 3, body);
  r.int32(); // throttle
  const errorCode = r.int16();
  const message = r.compactNullableString();
  const nodeId = r.int32();
  const host = r.compactString();
  const port = r.int32();
  if (errorCode !== 0 || nodeId < 0)
    throw new Error(`FindCoordinator failed (${errorCode}${message ? `: ${message}` : ''})`);
  return { host, port };
}

export async function describeTransaction(
  coordinator: BrokerAddress,
  transactionalId: string,
): Promise<TransactionState> {
  const request = new Writer();
  request.compactArray([transactionalId], (id) => request.compactString(id)).noTags();
  const r = await call(coordinator, API.describeTransactions, 0, request.buffer);
  r.int32(); // throttle
  const [state] = r.compactArray(() => {
    const errorCode = r.int16();
    r.compactString(); // transactional id
    const txnState = r.compactString();
    r.int32(); // timeout
    r.int64(); // start time
    const producerId = r.int64();
    const producerEpoch = r.int16();
    r.compactArray(() => {
      r.compactString();
      r.compactArray(() => r.int32());
      r.skipTags();
    });
    r.skipTags();
    return { errorCode, state: txnState, producerId, producerEpoch };
  });
  if (!state) throw new Error('DescribeTransactions answered nothing');
  return state;
}

/** The producers the partition leader knows on each partition (all on `leader`). */
export async function describeProducers(
  leader: BrokerAddress,
  partitions: readonly PartitionRef[],
): Promise<Map<string, ActiveProducer[]>> {
  const byTopic = groupByTopic(partitions);
  const request = new Writer();
  request
    .compactArray([...byTopic], ([topic, ids]) => {
      request.compactString(topic);
      request.compactArray(ids, (id) => request.int32(id));
      request.noTags();
    })
    .noTags();
  const r = await call(leader, API.describeProducers, 0, request.buffer);
  r.int32(); // throttle
  const result = new Map<string, ActiveProducer[]>();
  r.compactArray(() => {
    const topic = r.compactString();
    r.compactArray(() => {
      const partition = r.int32();
      const errorCode = r.int16();
      const message = r.compactNullableString();
      const producers = r.compactArray(() => {
        const producer = {
          producerId: r.int64(),
          producerEpoch: r.int32(),
          lastSequence: r.int32(),
          lastTimestamp: r.int64(),
          coordinatorEpoch: r.int32(),
          currentTxnStartOffset: r.int64(),
        };
        r.skipTags();
        return producer;
      });
      r.skipTags();
      if (errorCode !== 0)
        throw new Error(
          `DescribeProducers ${topic}-${partition} failed (${errorCode}${message ? `: ${message}` : ''})`,
        );
      result.set(
        `${topic}:${partition}`,
        producers.map(({ producerId, producerEpoch, coordinatorEpoch, currentTxnStartOffset }) => ({
          producerId,
          producerEpoch,
          coordinatorEpoch,
          currentTxnStartOffset,
        })),
      );
    });
    r.skipTags();
  });
  return result;
}

/**
 * Writes a transaction marker (what the coordinator writes when a transaction ends) for one
 * producer on the given partitions, all led by `leader`.
 */
export async function writeTxnMarkers(
  leader: BrokerAddress,
  marker: { producerId: bigint; producerEpoch: number; commit: boolean; coordinatorEpoch: number },
  partitions: readonly PartitionRef[],
): Promise<void> {
  const request = new Writer();
  request
    .compactArray([marker], (m) => {
      request
        .int64(m.producerId)
        .int16(m.producerEpoch)
        .int8(m.commit ? 1 : 0);
      request.compactArray([...groupByTopic(partitions)], ([topic, ids]) => {
        request.compactString(topic);
        request.compactArray(ids, (id) => request.int32(id));
        request.noTags();
      });
      request.int32(m.coordinatorEpoch).noTags();
    })
    .noTags();
  const r = await call(leader, API.writeTxnMarkers, 1, request.buffer);
  const failures: string[] = [];
  r.compactArray(() => {
    r.int64();
    r.compactArray(() => {
      const topic = r.compactString();
      r.compactArray(() => {
        const partition = r.int32();
        const errorCode = r.int16();
        r.skipTags();
        if (errorCode !== 0) failures.push(`${topic}-${partition} (error ${errorCode})`);
      });
      r.skipTags();
    });
    r.skipTags();
  });
  if (failures.length) throw new Error(`writing transaction markers failed on ${failures.join(', ')}`);
}

function groupByTopic(partitions: readonly PartitionRef[]): Map<string, number[]> {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of partitions) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
  return byTopic;
}
