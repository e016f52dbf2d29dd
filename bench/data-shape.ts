/**
 * The data shape of every benchmark (scripts/load-demo-data.ts options), as DESIGN.md's benchmark data:
 * per user about 10 follows, the celebrity followed by everyone, 5 tweets and 10 likes; at 1M users,
 * 10M follows, 5M tweets and 10M likes.
 */
export const DATA_SHAPE = [
  '--celebrity-share',
  '1',
  '--follows-per-user',
  '9.5',
  '--tweets-per-user',
  '5.3',
  '--likes-per-user',
  '10.45',
];
