/**
 * Forwards a request to the group member that owns the key, over a pool of
 * keep-alive connections per member. Only ever to a member's advertised
 * endpoint; never to a host taken from the request.
 */
import { Agent, request } from 'node:http';
import type { FastifyReply } from 'fastify';
import { FRESHNESS_HEADERS } from './freshness.js';

export interface ForwardedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const PASSED_HEADERS = [
  'content-type',
  'etag',
  'last-modified',
  'cache-control',
  'retry-after',
  'x-uis-partition',
  'x-uis-served-by',
  'x-uis-standby',
  'x-uis-standby-lag-records',
  ...FRESHNESS_HEADERS,
];

/** Answers a request with the owner's answer to its forward, as the owner gave it. */
export function relay(reply: FastifyReply, response: ForwardedResponse) {
  reply.request.served = 'forwarded';
  reply.headers(response.headers).code(response.status);
  return reply.serializer((payload: unknown) => payload as string).send(response.body.toString('utf8'));
}

export class Forwarder {
  private readonly agents = new Map<string, Agent>();

  constructor(private readonly timeoutMs = 2000) {}

  /** `extraTimeoutMs`: how much longer than usual the answer may take (the owner may wait that long). */
  get(endpoint: string, path: string, headers: Record<string, string>, extraTimeoutMs = 0): Promise<ForwardedResponse> {
    return this.send('GET', endpoint, path, headers, undefined, extraTimeoutMs);
  }

  /** A POST with a JSON body. */
  post(endpoint: string, path: string, headers: Record<string, string>, body: string): Promise<ForwardedResponse> {
    const withBody = {
      ...headers,
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    };
    return this.send('POST', endpoint, path, withBody, body);
  }

  private async send(
    method: 'GET' | 'POST',
    endpoint: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
    extraTimeoutMs = 0,
  ): Promise<ForwardedResponse> {
    const timeout = this.timeoutMs + extraTimeoutMs;
    const [host, port] = [
      endpoint.slice(0, endpoint.lastIndexOf(':')),
      Number(endpoint.slice(endpoint.lastIndexOf(':') + 1)),
    ];
    let agent = this.agents.get(endpoint);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxSockets: 64, keepAliveMsecs: 10_000 });
      this.agents.set(endpoint, agent);
    }
    return new Promise((resolve, reject) => {
      const req = request({ host, port, path, method, agent, headers, timeout }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const passed: Record<string, string> = {};
          for (const name of PASSED_HEADERS) {
            const value = res.headers[name];
            if (typeof value === 'string') passed[name] = value;
          }
          resolve({ status: res.statusCode ?? 502, headers: passed, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${endpoint} within ${timeout} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}
