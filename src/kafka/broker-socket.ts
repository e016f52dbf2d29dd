/**
 * Opens a connection to a broker as its address says: plain TCP, or TLS, then SASL
 * (SaslHandshake v1, SaslAuthenticate v2) before the connection carries its first request.
 */
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ScramClient } from './scram.js';
import type { KafkaSecurity, SaslCredentials } from './security.js';
import { BrokerUnreachableError, Reader, Writer, type BrokerAddress } from './wire-codec.js';

/** The broker refused our credentials or mechanism: not worth retrying, unlike an unreachable broker. */
export class KafkaAuthenticationError extends Error {
  override name = 'KafkaAuthenticationError';
}

const SASL_HANDSHAKE = 17;
const SASL_AUTHENTICATE = 36;

let correlation = 0;

/** A connected (and, with SASL, authenticated) socket; destroyed on any failure. */
export async function openBrokerSocket(broker: BrokerAddress, clientId: string, timeoutMs: number): Promise<Socket> {
  const security = broker.security;
  const socket = connectSocket(broker, security);
  const where = `${broker.host}:${broker.port}`;
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new BrokerUnreachableError(`no answer from ${where} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      socket.once(security?.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', (error) =>
        reject(
          security?.tls && /certificate|self.signed|SSL/i.test(error.message)
            ? new KafkaAuthenticationError(`TLS to ${where} failed: ${error.message}`)
            : new BrokerUnreachableError(error.message),
        ),
      );
      socket.once('close', () => reject(new BrokerUnreachableError(`${where} closed the connection`)));
    });
    if (security?.sasl) await authenticate(socket, where, security.sasl, clientId);
    socket.removeAllListeners('error');
    socket.removeAllListeners('close');
    return socket;
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function connectSocket(broker: BrokerAddress, security: KafkaSecurity | undefined): Socket {
  if (!security?.tls) return tcpConnect({ host: broker.host, port: broker.port, noDelay: true });
  const socket = tlsConnect({
    host: broker.host,
    port: broker.port,
    ...(security.tls.ca !== undefined ? { ca: security.tls.ca } : {}),
    // SNI takes host names only; the certificate is checked against an IP address all the same.
    ...(isIP(broker.host) ? {} : { servername: broker.host }),
  });
  socket.setNoDelay(true);
  return socket;
}

async function authenticate(socket: Socket, where: string, sasl: SaslCredentials, clientId: string): Promise<void> {
  const frames = new FrameReader(socket, where);
  try {
    const handshake = await frames.exchange(
      requestFrame(SASL_HANDSHAKE, 1, clientId, false, new Writer().string(sasl.mechanism).buffer),
      false,
    );
    const errorCode = handshake.int16();
    const offered = handshake.array(() => handshake.nullableString() ?? '');
    if (errorCode !== 0)
      throw new KafkaAuthenticationError(
        `${where} does not accept SASL mechanism ${sasl.mechanism} (it offers ${offered.join(', ') || 'none'}; error ${errorCode})`,
      );
    const step = async (bytes: Buffer): Promise<Buffer> => {
      const body = new Writer()
        .uvarint(bytes.length + 1)
        .push(bytes)
        .noTags().buffer;
      const r = await frames.exchange(requestFrame(SASL_AUTHENTICATE, 2, clientId, true, body), true);
      const code = r.int16();
      const message = r.compactNullableString();
      if (code !== 0)
        throw new KafkaAuthenticationError(
          `${where} refused SASL ${sasl.mechanism} authentication of user "${sasl.username}": ${message ?? `error ${code}`}`,
        );
      const length = r.uvarint() - 1;
      return r.b.subarray(r.at, r.at + Math.max(length, 0));
    };
    if (sasl.mechanism === 'PLAIN') {
      await step(Buffer.from(`\0${sasl.username}\0${sasl.password}`));
      return;
    }
    const scram = new ScramClient(
      sasl.mechanism === 'SCRAM-SHA-512' ? 'sha512' : 'sha256',
      sasl.username,
      sasl.password,
    );
    const serverFirst = (await step(Buffer.from(scram.first()))).toString();
    const serverFinal = (await step(Buffer.from(await scram.final(serverFirst)))).toString();
    try {
      scram.verify(serverFinal);
    } catch (error) {
      throw new KafkaAuthenticationError(`${where}: ${(error as Error).message}`);
    }
  } finally {
    frames.detach();
  }
}

function requestFrame(apiKey: number, version: number, clientId: string, flexible: boolean, body: Buffer): Buffer {
  const id = ++correlation & 0x7fffffff;
  const header = new Writer().int16(apiKey).int16(version).int32(id).string(clientId);
  const payload = Buffer.concat([(flexible ? header.noTags() : header).buffer, body]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  return Buffer.concat([size, payload]);
}

/** Reads the responses of the authentication exchange, one request at a time. */
class FrameReader {
  private buffered = Buffer.alloc(0);
  private waiting: { resolve: (frame: Buffer) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    this.deliver();
  };
  private readonly onEnd = (error?: Error) => {
    this.failure ??= new BrokerUnreachableError(
      error
        ? error.message
        : `${this.where} closed the connection during authentication (wrong mechanism or credentials?)`,
    );
    this.waiting?.reject(this.failure);
    this.waiting = undefined;
  };

  constructor(
    private readonly socket: Socket,
    private readonly where: string,
  ) {
    socket.on('data', this.onData);
    socket.on('error', this.onEnd);
    socket.on('close', () => this.onEnd());
  }

  async exchange(frame: Buffer, flexibleResponse: boolean): Promise<Reader> {
    if (this.failure) throw this.failure;
    const answered = new Promise<Buffer>((resolve, reject) => (this.waiting = { resolve, reject }));
    this.socket.write(frame);
    const response = new Reader(await answered);
    response.int32(); // correlation id: one request at a time
    if (flexibleResponse) response.skipTags();
    return response;
  }

  private deliver(): void {
    if (!this.waiting || this.buffered.length < 4) return;
    const size = this.buffered.readInt32BE(0);
    if (this.buffered.length < 4 + size) return;
    const frame = this.buffered.subarray(4, 4 + size);
    this.buffered = this.buffered.subarray(4 + size);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting.resolve(frame);
  }

  detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onEnd);
  }
}
