/**
 * Kafka's wire protocol, for the few requests the engine sends itself rather
 * than through kafkajs: request and response encoding, a one-shot call on a
 * connection of its own (admin requests), and a persistent connection for
 * request loops (bulk fetches). The encoding is in wire-codec.ts; each
 * connection is opened as its broker address says (TLS, SASL) by broker-socket.ts.
 */
import type { Socket } from 'node:net';
import { openBrokerSocket } from './broker-socket.js';
import { BrokerUnreachableError, Reader, Writer, type BrokerAddress } from './wire-codec.js';

export { BrokerUnreachableError, Reader, Writer, type BrokerAddress };
export { KafkaAuthenticationError } from './broker-socket.js';

let correlation = 0;

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
  const started = Date.now();
  const socket = await openBrokerSocket(broker, 'uis-transaction-admin', timeoutMs);
  const response = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(
      () => socket.destroy(new BrokerUnreachableError(`no answer from ${broker.host}:${broker.port}`)),
      Math.max(timeoutMs - (Date.now() - started), 1),
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
    socket.write(frame);
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
  private socket: Socket | undefined;
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
    this.connected = openBrokerSocket(broker, clientId, 10_000).then((socket) => {
      this.socket = socket;
      if (this.failure) return void socket.destroy();
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('error', (error) => this.fail(new BrokerUnreachableError(error.message)));
      socket.on('close', () =>
        this.fail(new BrokerUnreachableError(`${broker.host}:${broker.port} closed the connection`)),
      );
    });
    this.connected.catch((error: Error) => this.fail(error));
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
    this.socket!.write(Buffer.concat([size, header, body]));
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
    this.socket?.destroy();
  }
}
