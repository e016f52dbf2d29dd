-- Source tables owned by other teams. The User Information Service never
-- queries these; it reads their change stream (Debezium, pgoutput).
-- Ids are 64-bit (bigint); Twitter's ids exceed 2^53.
-- 002_nullable_profile_columns.sql makes description, location and the three URLs nullable.

CREATE TABLE IF NOT EXISTS users (
  user_id              bigint      PRIMARY KEY,
  username             text        NOT NULL UNIQUE,
  name                 text        NOT NULL DEFAULT '',
  description          text        NOT NULL DEFAULT '',
  location             text        NOT NULL DEFAULT '',
  web_page_url         text        NOT NULL DEFAULT '',
  joined_date          timestamptz NOT NULL DEFAULT now(),
  profile_image_url    text        NOT NULL DEFAULT '',
  background_image_url text        NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS tweets (
  tweet_id bigint PRIMARY KEY,
  text     text   NOT NULL,
  user_id  bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tweets_user_id_idx ON tweets (user_id);

CREATE TABLE IF NOT EXISTS follows (
  follow_id   bigint PRIMARY KEY,
  follower_id bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  followee_id bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  CONSTRAINT follows_not_self CHECK (follower_id <> followee_id),
  CONSTRAINT follows_pair_unique UNIQUE (follower_id, followee_id)
);
CREATE INDEX IF NOT EXISTS follows_followee_id_idx ON follows (followee_id);

CREATE TABLE IF NOT EXISTS likes (
  like_id  bigint PRIMARY KEY,
  user_id  bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  tweet_id bigint NOT NULL REFERENCES tweets (tweet_id) ON DELETE CASCADE,
  CONSTRAINT likes_pair_unique UNIQUE (user_id, tweet_id)
);
CREATE INDEX IF NOT EXISTS likes_tweet_id_idx ON likes (tweet_id);
