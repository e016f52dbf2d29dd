/**
 * GET /users/:userId/activity?hours=24 — how the user's tweet count changed per hour (tweets written
 * less tweets deleted) over the last hours (24 by default, the current one included), from the view's
 * windowed companion (topology/tweet-activity.ts). The store
 * lives in the view's tasks, so the owner of the user's row answers, as GET /users/:userId is;
 * another instance forwards the request to it. Every hour of the span is listed, with 0 where the
 * count did not change.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { QueryableStores } from '../../query/queryable-stores.js';
import { localWindows } from '../../query/store-routes.js';
import { ACTIVITY_STORE, HOUR_MS } from '../../../topology/tweet-activity.js';
import type { ForwardAuth } from '../forward-auth.js';
import type { Forwarder } from '../forwarder.js';
import { answerFromOwner, lookUpUser, refuseBadUserId } from './user-subresource.js';
import { activityRouteSchema } from '../schemas.js';
import type { ViewSource } from '../view-source.js';

export interface ActivityRouteOptions {
  source: ViewSource;
  /** The stores of the view's tasks; absent where none run (a read replica): 501. */
  stores: QueryableStores | undefined;
  forwarder: Forwarder;
  forwardAuth: ForwardAuth;
  /** The current time (ms), for tests. */
  now?: () => number;
}

export const MAX_ACTIVITY_HOURS = 24;

export const usersActivityRoute: FastifyPluginAsync<ActivityRouteOptions> = async (
  app,
  { source, stores, forwarder, forwardAuth, now = Date.now },
) => {
  app.get<{ Params: { userId: string }; Querystring: { hours?: string } }>(
    '/users/:userId/activity',
    { schema: activityRouteSchema },
    async (request, reply) => {
      const { userId } = request.params;
      if (refuseBadUserId(userId, reply)) return reply;
      const hours = request.query.hours === undefined ? MAX_ACTIVITY_HOURS : Number(request.query.hours);
      if (!Number.isInteger(hours) || hours < 1 || hours > MAX_ACTIVITY_HOURS)
        return reply
          .code(400)
          .send({ error: 'Bad Request', message: `hours must be a whole number from 1 to ${MAX_ACTIVITY_HOURS}` });
      const layout = stores?.stores.get(ACTIVITY_STORE)?.windows;
      if (!stores || !layout)
        return reply.code(501).send({
          error: 'Not Implemented',
          message: 'this instance keeps no activity (a read replica): ask an instance of the application',
        });
      const { key, found } = lookUpUser(userId, request, reply, source);
      if (!found) return reply;
      if (found.kind === 'local') {
        const current = Math.floor(now() / HOUR_MS) * HOUR_MS;
        const from = current - (hours - 1) * HOUR_MS;
        const windows = await localWindows(stores, ACTIVITY_STORE, found.partition, layout, key, from, current, hours);
        const changes = new Map(windows.map((w) => [w.start, Number(w.value)]));
        return reply.send({
          userId,
          from: new Date(from).toISOString(),
          to: new Date(current + HOUR_MS).toISOString(),
          hours: Array.from({ length: hours }, (_, i) => {
            const start = from + i * HOUR_MS;
            return {
              start: new Date(start).toISOString(),
              end: new Date(start + HOUR_MS).toISOString(),
              tweetCountChange: changes.get(start) ?? 0,
            };
          }),
        });
      }
      return answerFromOwner(request, reply, found, `/users/${userId}/activity?hours=${hours}`, {
        source,
        forwarder,
        forwardAuth,
      });
    },
  );
};
