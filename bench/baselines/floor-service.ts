/**
 * The floor: what the machine allows a Node HTTP server at all. GET /users/:userId checks the id and
 * answers one fixed user document, with the same fastify setup and response schema as our service, but
 * no store, no routing and no stream processing beside it. Our latency minus this one is what our
 * service adds.
 *
 *   node --import tsx bench/baselines/floor-service.ts [--port 3300]
 */
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import {
  badUserId,
  errorSchema,
  integerOption,
  isCanonicalInt64,
  isMainModule,
  listen,
  runAsScript,
  userSchema,
  type RunningService,
  type UserDocument,
} from './user-document.js';

const DOCUMENT: UserDocument = {
  userId: '1000000000042',
  username: 'user_42',
  name: 'Zoë Nakamura',
  description: 'Engineer who posts about streams and open source.',
  location: 'Zürich',
  webPageUrl: 'https://example.com/~user_42',
  joinedDate: '2011-05-03T10:20:30.123Z',
  profileImageUrl: 'https://images.example.com/profile/42.jpg',
  backgroundImageUrl: 'https://images.example.com/banner/42.png',
  tweetCount: 12,
  followingCount: 9,
  followerCount: 1033,
  likeCount: 17,
};

export async function startFloorService(opts: { port?: number; host?: string } = {}): Promise<RunningService> {
  const app = Fastify({ logger: false });
  app.get<{ Params: { userId: string } }>(
    '/users/:userId',
    { schema: { response: { 200: userSchema, 400: errorSchema } } },
    async (request, reply) => (isCanonicalInt64(request.params.userId) ? DOCUMENT : badUserId(reply)),
  );
  try {
    return { url: await listen(app, opts.host ?? '127.0.0.1', opts.port ?? 3300), close: () => app.close() };
  } catch (error) {
    await app.close();
    throw error;
  }
}

if (isMainModule(import.meta.url)) {
  const { values } = parseArgs({ options: { port: { type: 'string' } } });
  runAsScript('floor-service', () => startFloorService({ port: integerOption('--port', values.port, 3300, 0) }));
}
