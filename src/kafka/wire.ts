/**
 * Kafka's wire protocol, for the few requests the engine sends itself rather
 * than through kafkajs: request and response encoding, a one-shot call on a
 * connection of its own (admin requests), and a persistent connection for
 * request loops (bulk fetches).
 */
import { Socket } from 'node:net';

export interface BrokerAddress {
  host: string;
  port: number;
}

/** Builds a request body: fixed-width integers, and both the classic and the compact (flexible) encodings. */
export class Writer {
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
  /** Bytes with an int32 length (-1: null). */
  nullableBytes(b: Buffer | null) {
    if (b === null) return this.int32(-1);
    return this.int32(b.length).push(b);
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
  /** Topics with their partition ids (compact arrays), the list many requests carry. */
  compactTopicPartitions(partitions: ReadonlyMap<string, readonly number[]>) {
    return this.compactArray([...partitions], ([topic, ids]) => {
      this.compactString(topic);
      this.compactArray(ids, (id) => this.int32(id));
      this.noTags();
    });
  }
  push(b: Buffer) {
    this.parts.push(b);
    return this;
  }
  get buffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads a response: fixed-width integers, and both the classic and the compact (flexible) encodings. */
export class Reader {
  at = 0;
  constructor(readonly b: Buffer) {}
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
  /** A string with an int16 length (-1: null). */
  nullableString(): string | null {
    const n = this.int16();
    if (n < 0) return null;
    return this.b.toString('utf8', this.at, (this.at += n));
  }
  /** An array with an int32 count (-1: null, read as empty). */
  array<T>(each: () => T): T[] {
    const n = this.int32();
    const items: T[] = [];
    for (let i = 0; i < n; i++) items.push(each());
    return items;
  }
  /** Bytes with an int32 length (-1: null), without copying. */
  nullableBytes(): Buffer | null {
    const n = this.int32();
    if (n < 0) return null;
    return this.b.subarray(this.at, (this.at += n));
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
  /** The per-partition results many responses carry: topics, then partition id and error code each. */
  compactPartitionErrors(): Array<{ topic: string; partition: number; errorCode: number }> {
    const results: Array<{ topic: string; partition: number; errorCode: number }> = [];
    this.compactArray(() => {
      const topic = this.compactString();
      this.compactArray(() => {
        const partition = this.int32();
        const errorCode = this.int16();
        this.skipTags();
        results.push({ topic, partition, errorCode });
      });
      this.skipTags();
    });
    return results;
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

/** The broker could not be reached or did not answer in time (worth retrying, unlike an error it answered). */
export class BrokerUnreachableError extends Error {
  override name = 'BrokerUnreachableError';
}

/** Sends one flexible-version request (header v2) on a connection of its own; returns the body after the response header (v1). */
export async function call(
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

/**
 * A persistent connection to one broker. Requests are sent one at a time, in the order they are
 * made (callers may make them concurrently). Fails every pending and later request once the socket
 * errors or closes.
 */
export class BrokerConnection {
  private readonly socket = new Socket();
  private readonly connected: Promise<void>;
  private chunks: Buffer[] = [];
  private received = 0;
  private pending:
    { id: number; resolve: (r: Reader) => void; reject: (e: Error) => void; flexible: boolean } | undefined;
  private failure: Error | undefined;

  constructor(
    readonly broker: BrokerAddress,
    private readonly clientId: string,
  ) {
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', (error) => reject(new BrokerUnreachableError(error.message)));
    });
    this.connected.catch(() => undefined);
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (error) => this.fail(new BrokerUnreachableError(error.message)));
    this.socket.on('close', () =>
      this.fail(new BrokerUnreachableError(`${broker.host}:${broker.port} closed the connection`)),
    );
    this.socket.connect(broker.port, broker.host);
  }

  /**
   * Sends a request and resolves with its response body (after the response header). `flexible`:
   * the API version uses the compact encoding (request header v2, response header v1).
   */
  request(apiKey: number, apiVersion: number, body: Buffer, timeoutMs: number, flexible = false): Promise<Reader> {
    const result = this.queue.then(() => this.send(apiKey, apiVersion, body, timeoutMs, flexible));
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Settles when the requests made so far have been answered (or failed). */
  private queue: Promise<void> = Promise.resolve();

  private async send(
    apiKey: number,
    apiVersion: number,
    body: Buffer,
    timeoutMs: number,
    flexible: boolean,
  ): Promise<Reader> {
    await this.connected;
    if (this.failure) throw this.failure;
    if (this.pending) throw new Error('a request is already in flight on this connection');
    const id = ++correlation & 0x7fffffff;
    const headerWriter = new Writer().int16(apiKey).int16(apiVersion).int32(id).string(this.clientId);
    const header = (flexible ? headerWriter.noTags() : headerWriter).buffer;
    const size = Buffer.alloc(4);
    size.writeInt32BE(header.length + body.length);
    const answered = new Promise<Reader>((resolve, reject) => (this.pending = { id, resolve, reject, flexible }));
    const timer = setTimeout(
      () =>
        this.fail(
          new BrokerUnreachableError(`no answer from ${this.broker.host}:${this.broker.port} in ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    this.socket.write(Buffer.concat([size, header, body]));
    try {
      return await answered;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.fail(new Error('connection closed'));
  }

  /** The connection broke (or was closed): open a new one. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Size of the frame being received (after its 4-byte length), once known. */
  private expected = -1;

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.received += chunk.length;
    for (;;) {
      if (this.expected < 0) {
        if (this.received < 4) return;
        const all = Buffer.concat(this.chunks);
        this.expected = all.readInt32BE(0);
        this.chunks = [all.subarray(4)];
        this.received -= 4;
      }
      if (this.received < this.expected) return;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const frame = all.subarray(0, this.expected);
      const rest = all.subarray(this.expected);
      this.chunks = rest.length ? [rest] : [];
      this.received = rest.length;
      this.expected = -1;
      this.deliver(frame);
    }
  }

  private deliver(frame: Buffer): void {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return;
    const reader = new Reader(frame);
    if (reader.int32() !== pending.id) return pending.reject(new Error('Kafka answered another request'));
    if (pending.flexible) reader.skipTags();
    pending.resolve(reader);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(error);
    this.socket.destroy();
  }
}
