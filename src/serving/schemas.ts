/** JSON schemas of the HTTP answers: fastify validates and serializes with them (only these fields leave). */
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
    description: { type: 'string' },
    location: { type: 'string' },
    webPageUrl: { type: 'string' },
    joinedDate: { type: 'string' },
    profileImageUrl: { type: 'string' },
    backgroundImageUrl: { type: 'string' },
    tweetCount: { type: 'integer' },
    followingCount: { type: 'integer' },
    followerCount: { type: 'integer' },
    likeCount: { type: 'integer' },
  },
  additionalProperties: false,
} as const;

export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;
