/**
 * GET /users/:userId — the user's document: 200 with the seed's fields, 404
 * when the user does not exist, 400 for an id that is not a 64-bit integer,
 * 503 with Retry-After while its partition is restoring or moving. Answers
 * from the local store or forwards to the owning member; either way it says
 * which partition and instance served it, and when the row last changed.
 *
 * A request that accepts a stale answer (`Cache-Control: max-stale=<s>`, or
 * the instance's --standby-max-staleness-ms) is answered by a standby copy
 * when the owner cannot answer (it is restoring, or does not respond): this
 * instance's copy, or another member's. Such an answer says so
 * (`x-uis-standby: true`) and how far behind the copy is. A request asking
 * for freshness (read-your-writes) is answered by a standby copy only where
 * the copy proves the position asked for (StandbyTask.provenInputs).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { refuseBadUserId } from './user-subresource.js';
import { viewSerde } from '../../../topology/user-information.js';
import { STANDBY_READ_HEADER, type ForwardAuth } from '../forward-auth.js';
import { relay, type ForwardedResponse, type Forwarder } from '../forwarder.js';
import {
  formatLsn,
  freshnessHeaders,
  parseLsn,
  satisfies,
  type Freshness,
  type FreshnessWant,
  type ViewPosition,
} from '../freshness.js';
import type { Served } from '../http-metrics.js';
import type { StandbyRead, ViewSource } from '../view-source.js';
import { userRouteSchema } from '../schemas.js';

declare module 'fastify' {
  interface FastifyRequest {
    served?: Served;
  }
}

export interface UsersRouteOptions {
  source: ViewSource;
  /** The view's positions against the source database; absent, requests cannot ask for freshness. */
  freshness?: Freshness;
  /** The longest a request may wait for the freshness it asks for (ms). */
  maxReadWaitMs: number;
  forwarder: Forwarder;
  /** Which requests are honoured forwards from other instances. */
  forwardAuth: ForwardAuth;
  /** Staleness a request accepts from a standby copy when it does not say (0: none). */
  standbyMaxStalenessMs: number;
}

type Reply = FastifyReply;

export const usersRoute: FastifyPluginAsync<UsersRouteOptions> = async (
  app,
  { source, freshness, maxReadWaitMs, forwarder, forwardAuth, standbyMaxStalenessMs },
) => {
  app.get<{ Params: { userId: string }; Querystring: FreshnessQuery }>(
    '/users/:userId',
    { schema: userRouteSchema },
    async (request, reply) => {
      const { userId } = request.params;
      if (refuseBadUserId(userId, reply)) return reply;
      const asked = freshnessWant(request);
      if (typeof asked === 'string') return reply.code(400).send({ error: 'Bad Request', message: asked });
      const want = asked;
      if (want && !freshness)
        return reply.code(501).send({
          error: 'Not Implemented',
          message:
            'this instance tracks no source positions (it runs without --connect-url): minPosition and maxStalenessMs cannot be met',
        });
      const waitMs = Math.min(request.query.wait ?? maxReadWaitMs, maxReadWaitMs);
      const key = Buffer.from(userId);
      let found = source.lookup(key);
      if (want && found.kind === 'local' && freshness) {
        const met = await freshness.waitFor(found.partition, want, waitMs);
        const partition = found.partition;
        // The partition may have moved away while the request waited.
        found = source.lookup(key);
        if (!met && found.kind === 'local') return notFreshEnough(reply, partition, want);
      }
      if (found.partition !== undefined) reply.header('x-uis-partition', String(found.partition));
      if (found.kind === 'local') {
        if (freshness) reply.headers(freshnessHeaders(freshness.of(found.partition)));
        return answer(request, reply, found.value, 'local');
      }

      const forwarded = forwardAuth.forwardedBy(request) !== undefined;
      // A request asking for freshness may be answered by a standby copy that proves it (whatever its
      // staleness otherwise); one that does not ask, by a copy within the staleness it accepts.
      const standbyRead = forwarded
        ? standbyReadBound(request)
        : want
          ? (maxStaleness(request, 0) ?? Number.MAX_SAFE_INTEGER)
          : maxStaleness(request, standbyMaxStalenessMs);
      let reason = found.kind === 'unavailable' ? found.reason : '';
      /** The owner's 503, relayed if no standby copy answers instead. */
      let ownerRefusal: ForwardedResponse | undefined;
      if (found.kind === 'remote') {
        if (forwarded) reason = 'the partition moved while the request was forwarded';
        else if (!source.isMember(found.owner)) reason = 'the owner of the partition is not a group member';
        else {
          const response = await forwardTo(found.owner, {}).catch(() => undefined);
          // The owner's 503 says it cannot answer now: a standby may, if the request allows it.
          if (response && (response.status !== 503 || standbyRead === undefined)) return relay(reply, response);
          ownerRefusal = response;
          reason = response
            ? 'the owner of the partition cannot answer now'
            : `the owner ${found.owner} did not answer`;
        }
      }

      if (standbyRead !== undefined) {
        const copy = found.standby.readLocal(standbyRead);
        const proven = copy && found.partition !== undefined ? freshness?.ofStandby(found.partition) : undefined;
        if (copy && (!want || satisfies(proven, want))) return answerFromStandby(request, reply, copy, proven);
        if (copy && want) {
          reason += `; the standby copy here proves ${proven ? `position ${formatLsn(proven.lsn)}` : 'no position yet'}`;
        }
        if (!forwarded) {
          for (const host of found.standby.hosts.filter((h) => source.isMember(h))) {
            const response = await forwardTo(host, { [STANDBY_READ_HEADER]: String(standbyRead) }).catch(
              () => undefined,
            );
            if (response && response.status !== 503) return relay(reply, response);
          }
        }
      }
      if (ownerRefusal) return relay(reply, ownerRefusal);
      return unavailable(reply, reason);

      function forwardTo(endpoint: string, extra: Record<string, string>): Promise<ForwardedResponse> {
        const path = `/users/${userId}${want ? freshnessQueryString(want, waitMs) : ''}`;
        return forwarder.get(
          endpoint,
          path,
          {
            ...forwardAuth.headers('GET', path, source.endpoint, extra),
            ...(request.headers['if-none-match'] ? { 'if-none-match': String(request.headers['if-none-match']) } : {}),
          },
          // The owner may wait that long for the freshness asked for.
          want ? waitMs : 0,
        );
      }

      function notFreshEnough(reply: Reply, partition: number, want: FreshnessWant) {
        const now = freshness!.of(partition);
        const reached = now.position ? formatLsn(now.position.lsn) : 'none yet';
        const asked = [
          want.minLsn !== undefined ? `position ${formatLsn(want.minLsn)}` : '',
          want.maxStalenessMs !== undefined ? `staleness at most ${want.maxStalenessMs} ms` : '',
        ].filter(Boolean);
        return reply
          .code(503)
          .headers({ ...freshnessHeaders(now), 'retry-after': '1' })
          .send({
            error: 'Service Unavailable',
            message: `partition ${partition} did not reach ${asked.join(' and ')} within ${waitMs} ms (its position: ${reached})`,
            ...(now.position ? { position: formatLsn(now.position.lsn) } : {}),
          });
      }
    },
  );

  function answer(request: FastifyRequest, reply: Reply, value: Buffer | undefined, served: Served) {
    request.served = served;
    reply.header('x-uis-served-by', source.endpoint).header('cache-control', 'no-cache');
    if (value === undefined) {
      const { userId } = request.params as { userId: string };
      return reply.code(404).send({ error: 'Not Found', message: `user ${userId} does not exist` });
    }
    const row = viewSerde.answer(value);
    reply.header('etag', row.etag).header('last-modified', row.lastModified);
    if (request.headers['if-none-match'] === row.etag) return reply.code(304).send();
    // The stored body is the answer as the response schema writes it: sent as it is.
    return reply.type('application/json; charset=utf-8').send(row.body);
  }

  function answerFromStandby(request: FastifyRequest, reply: Reply, copy: StandbyRead, proven?: ViewPosition) {
    reply.header('x-uis-standby', 'true').header('x-uis-staleness-ms', String(copy.stalenessMs));
    if (proven) {
      reply.header('x-uis-position', formatLsn(proven.lsn));
      if (proven.committedAt !== undefined)
        reply.header('x-uis-position-committed-at', new Date(proven.committedAt).toISOString());
    }
    if (copy.lagRecords !== undefined) reply.header('x-uis-standby-lag-records', copy.lagRecords.toString());
    return answer(request, reply, copy.value, 'standby');
  }
};

/**
 * The staleness (ms) a request accepts from a standby copy: `Cache-Control: max-stale=<seconds>`
 * (no value: any), else the instance's default; undefined when none is accepted.
 */
export function maxStaleness(request: FastifyRequest, instanceDefaultMs: number): number | undefined {
  const header = request.headers['cache-control'];
  const match = typeof header === 'string' ? /(?:^|,)\s*max-stale(?:\s*=\s*"?(\d+)"?)?\s*(?:,|$)/i.exec(header) : null;
  if (match) return match[1] === undefined ? Number.MAX_SAFE_INTEGER : Number(match[1]) * 1000;
  return instanceDefaultMs > 0 ? instanceDefaultMs : undefined;
}

interface FreshnessQuery {
  minPosition?: string;
  maxStalenessMs?: number;
  wait?: number;
}

/** The freshness a request asks for (undefined: none), or why what it asks is malformed. */
function freshnessWant(request: FastifyRequest<{ Querystring: FreshnessQuery }>): FreshnessWant | undefined | string {
  const header = request.headers['x-min-position'];
  const text = request.query.minPosition ?? (typeof header === 'string' ? header : undefined);
  const want: FreshnessWant = {};
  if (text !== undefined) {
    const lsn = parseLsn(text);
    if (lsn === undefined) return `minPosition must be a PostgreSQL LSN such as 0/16B6C50, not "${text.slice(0, 40)}"`;
    want.minLsn = lsn;
  }
  if (request.query.maxStalenessMs !== undefined) want.maxStalenessMs = request.query.maxStalenessMs;
  return want.minLsn === undefined && want.maxStalenessMs === undefined ? undefined : want;
}

function freshnessQueryString(want: FreshnessWant, waitMs: number): string {
  const query = new URLSearchParams();
  if (want.minLsn !== undefined) query.set('minPosition', formatLsn(want.minLsn));
  if (want.maxStalenessMs !== undefined) query.set('maxStalenessMs', String(want.maxStalenessMs));
  query.set('wait', String(waitMs));
  return `?${query}`;
}

/** The bound a forwarding member put on a standby read, if it asked for one. */
function standbyReadBound(request: FastifyRequest): number | undefined {
  const value = request.headers[STANDBY_READ_HEADER];
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined;
}

function unavailable(reply: FastifyReply, reason: string) {
  return reply.code(503).header('retry-after', '1').send({ error: 'Service Unavailable', message: reason });
}
