/**
 * JSON schemas of the HTTP routes: fastify validates and serializes with them (only these fields leave),
 * and the OpenAPI document (openapi.ts) is generated from them.
 */
export const userSchema = {
  type: 'object',
  required: [
    'userId',
    'username',
    'name',
    'description',
    'location',
    'webPageUrl',
    'joinedDate',
    'profileImageUrl',
    'backgroundImageUrl',
    'tweetCount',
    'followingCount',
    'followerCount',
    'likeCount',
  ],
  properties: {
    userId: { type: 'string' },
    username: { type: 'string' },
    name: { type: 'string' },
    description: { type: ['string', 'null'], description: 'null when not set' },
    location: { type: ['string', 'null'], description: 'null when not set' },
    webPageUrl: { type: ['string', 'null'], description: 'null when not set' },
    joinedDate: { type: 'string' },
    profileImageUrl: { type: ['string', 'null'], description: 'null when not set' },
    backgroundImageUrl: { type: ['string', 'null'], description: 'null when not set' },
    tweetCount: { type: 'integer' },
    followingCount: { type: 'integer' },
    followerCount: { type: 'integer' },
    likeCount: { type: 'integer' },
  },
  additionalProperties: false,
} as const;

export const errorSchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'the status text' },
    message: { type: 'string', description: 'what went wrong, and what to change where the caller can' },
  },
} as const;

const string = (description: string) => ({ type: 'string', description }) as const;

/** Headers of every answer about a user, whichever instance or copy gave it. */
const answerHeaders = {
  'x-uis-partition': string("the partition the user's key belongs to"),
  'x-uis-served-by': string('host:port of the instance whose store answered (after forwarding: the owner)'),
  'x-uis-standby': string('"true" when a standby copy answered (the request accepted a stale answer)'),
  'x-uis-staleness-ms': string(
    'the answer reflects the source database as of at most this long ago (ms); with x-uis-standby: how long ago ' +
      'the copy was last at the end of its changelogs',
  ),
  'x-uis-standby-lag-records': string('with x-uis-standby: changelog records the copy had not read yet'),
  'x-uis-position': string(
    'PostgreSQL LSN (e.g. 0/16B6C50): the answer reflects every transaction the source committed before it',
  ),
  'x-uis-position-committed-at': string(
    'source commit time of the newest transaction the connector had read at x-uis-position',
  ),
  'x-uis-lag-records': string("records the partition's task had left to read in its input at its last fetches"),
} as const;

/** Freshness a caller can ask of an answer (read-your-writes): the query parameters. */
const freshnessQuery = {
  type: 'object',
  properties: {
    minPosition: string(
      'a PostgreSQL LSN (SELECT pg_current_wal_lsn() right after your commit): answer only once every ' +
        'transaction committed before it is reflected (same as the X-Min-Position header)',
    ),
    maxStalenessMs: {
      type: 'integer',
      minimum: 0,
      description: 'answer only with a view at most this stale (ms), as x-uis-staleness-ms says',
    },
    wait: {
      type: 'integer',
      minimum: 0,
      description: 'how long to wait (ms) for minPosition or maxStalenessMs to be met; capped by --max-read-wait-ms',
    },
  },
} as const;

/** GET /users/:userId: parameters and every answer it can give. */
export const userRouteSchema = {
  tags: ['users'],
  summary: "A user's profile and counts",
  description:
    "Answered from the store of the instance that owns the user's partition; another instance forwards the " +
    'request to it. Counts are exact as of the last commit of the owning task.',
  params: {
    type: 'object',
    required: ['userId'],
    properties: { userId: string('a 64-bit integer in canonical decimal form, e.g. 42') },
  },
  headers: {
    type: 'object',
    properties: {
      'if-none-match': string('an ETag from an earlier answer: 304 when the row has not changed since'),
      'cache-control': string(
        'max-stale[=<seconds>] accepts an answer from a standby copy at most that far behind when the owner cannot answer',
      ),
      'x-min-position': string('as the minPosition query parameter'),
    },
  },
  querystring: freshnessQuery,
  response: {
    200: {
      ...userSchema,
      description: 'The user',
      headers: {
        ...answerHeaders,
        etag: string("the row's version"),
        'last-modified': string('source commit time of the newest change in the row'),
      },
    },
    304: { type: 'null', description: 'Not modified since the ETag in If-None-Match' },
    400: { ...errorSchema, description: 'The id is not a 64-bit integer in canonical form, or minPosition not an LSN' },
    404: { ...errorSchema, description: 'No such user', headers: answerHeaders },
    501: {
      ...errorSchema,
      description: 'minPosition or maxStalenessMs on an instance that tracks no source positions',
    },
    503: {
      ...errorSchema,
      properties: {
        ...errorSchema.properties,
        position: string('with minPosition or maxStalenessMs unmet: the LSN the partition had reached'),
      },
      description:
        'The partition is restoring or moving, its owner did not answer, or minPosition / maxStalenessMs were not met ' +
        'within the wait: retry',
      headers: { ...answerHeaders, 'retry-after': string('seconds to wait before retrying') },
    },
  },
} as const;

const statusSchema = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string' }, reason: { type: 'string' } },
} as const;

export const liveRouteSchema = {
  tags: ['operations'],
  summary: 'The process answers',
  response: { 200: { ...statusSchema, description: 'Live' } },
} as const;

export const readyRouteSchema = {
  tags: ['operations'],
  summary: 'Every task of this instance is restored and its starting backlog processed',
  response: {
    200: { ...statusSchema, description: 'Ready' },
    503: { ...statusSchema, description: 'Not ready yet, and why' },
  },
} as const;

export const metricsRouteSchema = {
  tags: ['operations'],
  summary: 'Metrics in the Prometheus text format (docs/operations.md lists them)',
  produces: ['text/plain'],
  response: { 200: { description: 'The metrics', type: 'string' } },
} as const;

/** POST /users:batchGet, for a request of at most `maxIds` ids. */
export function batchRouteSchema(maxIds: number) {
  return {
    tags: ['users'],
    summary: 'Many users at once',
    description:
      'One result per id, in the order asked, each with its own status. Ids owned by other instances are ' +
      'fetched from each owner in one batch, all owners at once.',
    body: {
      type: 'object',
      required: ['ids'],
      additionalProperties: false,
      properties: {
        ids: {
          type: 'array',
          minItems: 1,
          maxItems: maxIds,
          items: { type: 'string', maxLength: 20 },
          description: `64-bit integers in canonical decimal form; at most ${maxIds} (--batch-max-ids)`,
        },
      },
    },
    headers: {
      type: 'object',
      properties: {
        'cache-control': string(
          'max-stale[=<seconds>] accepts answers from standby copies on this instance for ids whose owner cannot answer',
        ),
      },
    },
    response: {
      200: {
        description: 'A result per id',
        type: 'object',
        required: ['results'],
        properties: {
          results: {
            type: 'array',
            items: {
              type: 'object',
              required: ['id', 'status'],
              properties: {
                id: { type: 'string' },
                status: { type: 'integer', description: '200 found, 404 no such user, 503 unavailable now: retry' },
                user: userSchema,
                partition: { type: 'integer' },
                servedBy: string('host:port of the instance whose store answered'),
                standby: string('"true" when a standby copy answered'),
                stalenessMs: {
                  type: 'integer',
                  description: 'as the x-uis-staleness-ms header: how stale the answer may be (with standby: the copy)',
                },
                position: string('as the x-uis-position header: the LSN of the source the answer reflects all before'),
                message: string('with 503: why'),
              },
            },
          },
        },
      },
      400: { ...errorSchema, description: 'No ids, too many, or one that is not a 64-bit integer' },
    },
  } as const;
}

/** The source change that last moved a part of a row (lineage). */
const sourceChangeSchema = {
  type: ['object', 'null'],
  description: 'null when no change of this part has been recorded (e.g. a count still at 0)',
  required: ['committedAt', 'cdc'],
  properties: {
    table: string('the source table'),
    primaryKey: {
      type: 'object',
      description: "the changed row's primary key columns (ids as decimal strings)",
      additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
    },
    op: { type: 'string', enum: ['insert', 'update', 'delete', 'snapshot'] },
    lsn: { type: ['string', 'null'], description: 'PostgreSQL LSN of the change (e.g. 0/16B6C50)' },
    committedAt: { type: ['string', 'null'], description: 'source commit time (ISO 8601)' },
    cdc: {
      type: 'object',
      required: ['topic', 'partition', 'offset'],
      description: 'the change event in Kafka',
      properties: { topic: { type: 'string' }, partition: { type: 'integer' }, offset: { type: 'string' } },
    },
  },
} as const;

/** GET /users/:userId/lineage. */
export const lineageRouteSchema = {
  tags: ['users'],
  summary: 'Which source change last moved the row and each count',
  description:
    "For the user's row: the changelog record that holds it, and for its profile and each count the source " +
    'change (table, primary key, LSN, commit time, CDC record) that last moved it. Answered by the owner of ' +
    "the user's partition, as GET /users/:userId is.",
  params: userRouteSchema.params,
  response: {
    200: {
      description: "The row's lineage",
      type: 'object',
      required: ['userId', 'partition', 'servedBy', 'lastModified', 'changelog', 'fields'],
      properties: {
        userId: { type: 'string' },
        partition: { type: 'integer' },
        servedBy: string('host:port of the instance whose store answered'),
        lastModified: string('source commit time of the newest change in the row (ISO 8601)'),
        changelog: {
          type: 'object',
          required: ['topic', 'partition', 'offset'],
          properties: {
            topic: { type: 'string' },
            partition: { type: 'integer' },
            offset: {
              type: ['string', 'null'],
              description:
                'the offset of the record holding the row as served; null when not found in a bounded search',
            },
          },
        },
        fields: {
          type: 'object',
          description: 'per part of the row (profile, tweetCount, followingCount, followerCount, likeCount)',
          additionalProperties: {
            type: 'object',
            required: ['lastChange'],
            properties: {
              value: { type: 'integer', description: 'the count as served' },
              lastChange: sourceChangeSchema,
            },
          },
        },
      },
    },
    400: { ...errorSchema, description: 'The id is not a 64-bit integer in canonical form' },
    404: { ...errorSchema, description: 'No such user' },
    501: { ...errorSchema, description: 'This instance keeps no lineage (a read replica, or --lineage off)' },
    503: {
      ...errorSchema,
      description: 'The partition is restoring or moving, or its owner did not answer: retry',
      headers: { 'retry-after': string('seconds to wait before retrying') },
    },
  },
} as const;

export const activityRouteSchema = {
  tags: ['users'],
  summary: "How the user's tweet count changed per hour",
  description:
    "Per hour (by the source commit time of each change), the change of the user's tweet count: tweets written " +
    'less tweets deleted, over the last `hours` hours, the current one included, every hour listed (0 when ' +
    "unchanged). From the view's windowed companion; answered by the owner of the user's partition, as " +
    'GET /users/:userId is.',
  params: userRouteSchema.params,
  querystring: {
    type: 'object',
    properties: { hours: { type: 'string', description: 'how many hours, 1 to 24 (default 24)' } },
  },
  response: {
    200: {
      description: 'Tweet count changes per hour, oldest first',
      type: 'object',
      required: ['userId', 'from', 'to', 'hours'],
      properties: {
        userId: { type: 'string' },
        from: string('start of the first hour (ISO 8601)'),
        to: string('end of the current hour (ISO 8601)'),
        hours: {
          type: 'array',
          items: {
            type: 'object',
            required: ['start', 'end', 'tweetCountChange'],
            properties: {
              start: { type: 'string' },
              end: { type: 'string' },
              tweetCountChange: { type: 'integer', description: 'tweets written less tweets deleted in the hour' },
            },
          },
        },
      },
    },
    400: { ...errorSchema, description: 'The id is not a 64-bit integer in canonical form, or hours is not 1 to 24' },
    404: { ...errorSchema, description: 'No such user' },
    501: { ...errorSchema, description: 'This instance keeps no activity (a read replica)' },
    503: {
      ...errorSchema,
      description: 'The partition is restoring or moving, or its owner did not answer: retry',
      headers: { 'retry-after': string('seconds to wait before retrying') },
    },
  },
} as const;
