/**
 * A minimal Redis client over node:net speaking RESP2: enough for the cache-aside baseline (GET, SET with
 * EX, PING, FLUSHDB, or any command through `command`). Commands go out as arrays of bulk strings; replies
 * are simple strings, errors, integers, bulk strings (nil as null) and arrays. Each connection answers in
 * order, so a FIFO of waiting callers matches replies to commands; a few connections are used round-robin.
 * A connection is opened on first use and opened again on the next command after it broke.
 */
import { Socket } from 'node:net';

/** A reply: simple and bulk strings as UTF-8 text, nil as null; an error inside an array as a RespError. */
export type RespValue = string | number | null | RespError | RespValue[];

/** An error reply from Redis (e.g. "WRONGTYPE ..."): the command failed, the connection is fine. */
export class RespError extends Error {
  override name = 'RespError';
}

export interface RespOptions {
  /** default 127.0.0.1 */
  host?: string;
  /** default 6379 */
  port?: number;
  /** connections used round-robin; default 4 */
  connections?: number;
  /** default 2000 */
  connectTimeoutMs?: number;
}

const CRLF = 0x0d;

/** One reply parsed from `buf` at `start`, or undefined when the buffer does not hold all of it yet. */
export function parseReply(buf: Buffer, start: number): { value: RespValue; end: number } | undefined {
  if (start >= buf.length) return undefined;
  const lineEnd = buf.indexOf('\r\n', start);
  if (lineEnd < 0) return undefined;
  const line = buf.toString('utf8', start + 1, lineEnd);
  const next = lineEnd + 2;
  switch (String.fromCharCode(buf[start] ?? 0)) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RespError(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const length = lengthOf(line);
      if (length < 0) return { value: null, end: next };
      const dataEnd = next + length;
      if (buf.length < dataEnd + 2) return undefined;
      if (buf[dataEnd] !== CRLF) throw new Error('RESP protocol error: a bulk string without its CRLF');
      return { value: buf.toString('utf8', next, dataEnd), end: dataEnd + 2 };
    }
    case '*': {
      const count = lengthOf(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let position = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, position);
        if (item === undefined) return undefined;
        items.push(item.value);
        position = item.end;
      }
      return { value: items, end: position };
    }
    default:
      throw new Error(
        `RESP protocol error: unexpected reply type ${JSON.stringify(buf.toString('utf8', start, start + 1))}`,
      );
  }
}

function lengthOf(line: string): number {
  const n = Number(line);
  if (!Number.isSafeInteger(n) || n < -1) throw new Error(`RESP protocol error: bad length ${JSON.stringify(line)}`);
  return n;
}

/** A command as RESP: an array of bulk strings. */
export function encodeCommand(args: readonly (string | number)[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) {
    const text = String(arg);
    out += `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
  }
  return out;
}

interface Waiting {
  resolve: (value: RespValue) => void;
  reject: (error: Error) => void;
}

/** One TCP connection to Redis. */
export class RespConnection {
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private waiting: Waiting[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly connectTimeoutMs: number,
  ) {}

  async command(args: readonly (string | number)[]): Promise<RespValue> {
    const socket = this.socket ?? (await this.connect());
    return new Promise<RespValue>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      socket.write(encodeCommand(args));
    });
  }

  /** Closes the connection; commands still waiting fail. */
  async close(): Promise<void> {
    this.closed = true;
    const socket = this.socket ?? (await this.connecting?.catch(() => undefined));
    if (socket === undefined || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }

  private connect(): Promise<Socket> {
    if (this.closed) return Promise.reject(new Error('the Redis connection is closed'));
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const socket = new Socket();
      const timer = setTimeout(
        () =>
          socket.destroy(
            new Error(`no connection to Redis at ${this.host}:${this.port} within ${this.connectTimeoutMs} ms`),
          ),
        this.connectTimeoutMs,
      );
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
      socket.on('error', (error) => {
        clearTimeout(timer);
        if (this.socket === undefined) reject(error);
        this.fail(error);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        if (this.socket === socket) this.socket = undefined;
        this.connecting = undefined;
        this.buffer = Buffer.alloc(0);
        this.fail(new Error('the Redis connection closed'));
        reject(new Error(`the connection to Redis at ${this.host}:${this.port} closed`));
      });
      socket.connect(this.port, this.host, () => {
        clearTimeout(timer);
        this.socket = socket;
        resolve(socket);
      });
    });
    return this.connecting;
  }

  private onData(socket: Socket, chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let position = 0;
    try {
      for (;;) {
        const reply = parseReply(this.buffer, position);
        if (reply === undefined) break;
        position = reply.end;
        const waiter = this.waiting.shift();
        if (waiter === undefined) throw new Error('RESP protocol error: a reply nobody asked for');
        if (reply.value instanceof RespError) waiter.reject(reply.value);
        else waiter.resolve(reply.value);
      }
    } catch (error) {
      socket.destroy(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.buffer = position === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(position);
  }

  private fail(error: Error): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const waiter of waiting) waiter.reject(error);
  }
}

/** A few connections to one Redis, used round-robin. */
export class RespClient {
  private readonly connections: RespConnection[];
  private next = 0;

  constructor(opts: RespOptions = {}) {
    const count = opts.connections ?? 4;
    if (!Number.isSafeInteger(count) || count < 1) throw new Error(`connections must be >= 1, not ${count}`);
    this.connections = Array.from(
      { length: count },
      () => new RespConnection(opts.host ?? '127.0.0.1', opts.port ?? 6379, opts.connectTimeoutMs ?? 2000),
    );
  }

  /** Any command; an error reply rejects with a RespError. */
  command(args: readonly (string | number)[]): Promise<RespValue> {
    const connection = this.connections[this.next]!;
    this.next = (this.next + 1) % this.connections.length;
    return connection.command(args);
  }

  async get(key: string): Promise<string | null> {
    const value = await this.command(['GET', key]);
    if (value !== null && typeof value !== 'string') throw new Error(`GET answered ${JSON.stringify(value)}`);
    return value;
  }

  /** SET key value, with EX seconds when `ex` is given. */
  async set(key: string, value: string, opts: { ex?: number } = {}): Promise<void> {
    const args: (string | number)[] = ['SET', key, value];
    if (opts.ex !== undefined) args.push('EX', opts.ex);
    await this.command(args);
  }

  async ping(): Promise<string> {
    return String(await this.command(['PING']));
  }

  async flushdb(): Promise<void> {
    await this.command(['FLUSHDB']);
  }

  async close(): Promise<void> {
    await Promise.all(this.connections.map((connection) => connection.close()));
  }
}
