/**
 * Authenticates requests one instance forwards to another. A forwarded request is answered from the
 * receiver's own stores only (never forwarded again) and may ask for a standby read; a client must not
 * get that by sending the forwarded marker itself. With a shared secret (--forward-secret-file), the
 * sender signs the request (HMAC-SHA256 over the time, method, path and the forwarding headers) and the
 * receiver honours the marker only when the signature is valid and under 30 s old; otherwise it treats
 * the request as a client's. Without a secret the marker is honoured as sent (the service warns at start).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

export const FORWARDED_HEADER = 'x-uis-forwarded';
/** On a forwarded request: answer from a standby copy at most this many ms behind. */
export const STANDBY_READ_HEADER = 'x-uis-standby-read';
export const FORWARD_AUTH_HEADER = 'x-uis-forward-auth';

const MAX_AGE_MS = 30_000;

export class ForwardAuth {
  private readonly secret: Buffer | undefined;

  constructor(secret?: string) {
    this.secret = secret ? Buffer.from(secret) : undefined;
  }

  get enabled(): boolean {
    return this.secret !== undefined;
  }

  /** The headers a forwarded request carries: the marker (this instance's endpoint) and, with a secret, the signature. */
  headers(method: string, path: string, from: string, extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { [FORWARDED_HEADER]: from, ...extra };
    if (this.secret) {
      const time = String(Date.now());
      headers[FORWARD_AUTH_HEADER] = `${time}.${this.sign(time, method, path, headers)}`;
    }
    return headers;
  }

  /** The forwarding instance's endpoint when the request is an honoured forward; undefined for a client's. */
  forwardedBy(request: FastifyRequest): string | undefined {
    const from = request.headers[FORWARDED_HEADER];
    if (typeof from !== 'string') return undefined;
    if (!this.secret) return from;
    const auth = request.headers[FORWARD_AUTH_HEADER];
    if (typeof auth !== 'string') return undefined;
    const dot = auth.indexOf('.');
    const time = auth.slice(0, dot);
    if (dot < 1 || !/^\d{1,16}$/.test(time) || Math.abs(Date.now() - Number(time)) > MAX_AGE_MS) return undefined;
    const standby = request.headers[STANDBY_READ_HEADER];
    const signed = {
      [FORWARDED_HEADER]: from,
      ...(typeof standby === 'string' ? { [STANDBY_READ_HEADER]: standby } : {}),
    };
    const expected = Buffer.from(this.sign(time, request.method, request.url, signed));
    const given = Buffer.from(auth.slice(dot + 1));
    return given.length === expected.length && timingSafeEqual(given, expected) ? from : undefined;
  }

  private sign(time: string, method: string, path: string, headers: Record<string, string>): string {
    return createHmac('sha256', this.secret!)
      .update([time, method, path, headers[FORWARDED_HEADER] ?? '', headers[STANDBY_READ_HEADER] ?? ''].join('\n'))
      .digest('base64url');
  }
}
