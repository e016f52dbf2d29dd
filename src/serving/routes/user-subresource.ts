/**
 * What the routes under /users/:userId/... (lineage, activity) share: the id check, and for a user
 * whose partition is not answered here, the request forwarded to its owner once (never to a host
 * the request names, never a second hop) or a 503 that says why.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isInt64String } from '../../serdes/index.js';
import type { ForwardAuth } from '../forward-auth.js';
import { relay, type Forwarder } from '../forwarder.js';
import type { Lookup, ViewSource } from '../view-source.js';

/** Answers 400 unless `userId` is a 64-bit integer in canonical form; true when it answered. */
export function refuseBadUserId(userId: string, reply: FastifyReply): boolean {
  if (isInt64String(userId)) return false;
  void reply.code(400).send({
    error: 'Bad Request',
    message: 'userId must be a 64-bit integer in canonical decimal form, e.g. 42',
  });
  return true;
}

/** A user's lookup: answered here (with the row), or not here. */
export type UserLookup = { kind: 'local'; partition: number; value: Buffer } | Exclude<Lookup, { kind: 'local' }>;

/**
 * Looks the user up in the view for a route of the user's own: says which partition answers (and,
 * answered here, which instance); a user that does not exist here answers 404 (`found` undefined).
 */
export function lookUpUser(
  userId: string,
  request: FastifyRequest,
  reply: FastifyReply,
  source: ViewSource,
): { key: Buffer; found: UserLookup | undefined } {
  const key = Buffer.from(userId);
  const found = source.lookup(key);
  reply.header('cache-control', 'no-cache');
  if (found.partition !== undefined) reply.header('x-uis-partition', String(found.partition));
  if (found.kind !== 'local') return { key, found };
  request.served = 'local';
  reply.header('x-uis-served-by', source.endpoint);
  if (found.value) return { key, found: { ...found, value: found.value } };
  void reply.code(404).send({ error: 'Not Found', message: `user ${userId} does not exist` });
  return { key, found: undefined };
}

/** Answers a request whose user's partition is owned elsewhere (forwarded to the owner) or unavailable (503). */
export async function answerFromOwner(
  request: FastifyRequest,
  reply: FastifyReply,
  found: Exclude<Lookup, { kind: 'local' }>,
  path: string,
  { source, forwarder, forwardAuth }: { source: ViewSource; forwarder: Forwarder; forwardAuth: ForwardAuth },
  timeoutMs?: number,
): Promise<FastifyReply> {
  const forwarded = forwardAuth.forwardedBy(request) !== undefined;
  let reason = found.kind === 'unavailable' ? found.reason : 'the partition moved while the request was forwarded';
  if (found.kind === 'remote' && !forwarded) {
    if (!source.isMember(found.owner)) reason = 'the owner of the partition is not a group member';
    else {
      const response = await forwarder
        .get(found.owner, path, forwardAuth.headers('GET', path, source.endpoint), timeoutMs)
        .catch(() => undefined);
      if (response) return relay(reply, response);
      reason = `the owner ${found.owner} did not answer`;
    }
  }
  return reply.code(503).header('retry-after', '1').send({ error: 'Service Unavailable', message: reason });
}
