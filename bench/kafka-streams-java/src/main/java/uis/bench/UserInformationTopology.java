package uis.bench;

import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;
import uis.bench.CdcRows.FollowRow;
import uis.bench.CdcRows.LikeRow;
import uis.bench.CdcRows.TweetRow;
import uis.bench.CdcRows.UserInformation;
import uis.bench.CdcRows.UserRow;

/**
 * The User Information view on Kafka Streams: the same topology as topology/user-information.ts.
 *
 * <pre>
 *   users   - table - groupBy(userId) - latest ------------------+
 *   tweets  - table - groupBy(userId) - count -------------------+
 *   follows - table - groupBy(followerId) - count (following) ---+ left joins -> user-information
 *           +-------- groupBy(followeeId) - count (followers) ---+   (store + output topic)
 *   likes   - table - groupBy(userId) - count -------------------+
 * </pre>
 *
 * Every table is regrouped by the canonical userId (a decimal string, serialized as UTF-8, the
 * same bytes as the Node engine's int64-string serde), so the five tables joined at the end are
 * co-partitioned. Store and internal topic names match the Node topology's.
 */
final class UserInformationTopology {
  private UserInformationTopology() {}

  static final String VIEW_STORE = "user-information";
  static final List<String> TABLES = List.of("users", "tweets", "follows", "likes");

  static String cdcTopic(String prefix, String table) {
    return prefix + ".public." + table;
  }

  /**
   * @param consumed counts every record read from the CDC topics (tombstones included, records the
   *     deserialization handler skipped excluded)
   */
  static Topology build(String cdcTopicPrefix, String outputTopic, LongAdder consumed) {
    StreamsBuilder builder = new StreamsBuilder();

    Serde<String> userId = Serdes.String();
    Serde<String> str = Serdes.String();
    Serde<Long> count = Serdes.Long();
    Serde<UserRow> userSerde = CdcRows.json(UserRow.class);
    Serde<UserInformation> viewSerde = CdcRows.json(UserInformation.class);

    KTable<String, UserRow> users =
        sourceTable(builder, cdcTopicPrefix, "users", CdcRows.USER, userSerde, consumed)
            .groupBy((k, u) -> KeyValue.pair(u.userId(), u), Grouped.with("users-by-id", userId, userSerde))
            .aggregate(
                () -> null,
                (id, user, agg) -> user,
                (id, user, agg) -> null,
                Materialized.<String, UserRow, KeyValueStore<Bytes, byte[]>>as("users")
                    .withKeySerde(userId)
                    .withValueSerde(userSerde));

    KTable<String, Long> tweetCount =
        sourceTable(builder, cdcTopicPrefix, "tweets", CdcRows.TWEET, CdcRows.json(TweetRow.class), consumed)
            .groupBy((k, t) -> KeyValue.pair(t.userId(), t.tweetId()), Grouped.with("tweets-by-user", userId, str))
            .count(countStore("tweet-count", userId, count));

    KTable<Bytes, FollowRow> follows =
        sourceTable(builder, cdcTopicPrefix, "follows", CdcRows.FOLLOW, CdcRows.json(FollowRow.class), consumed);
    KTable<String, Long> followingCount =
        follows
            .groupBy((k, f) -> KeyValue.pair(f.followerId(), f.followId()), Grouped.with("follows-by-follower", userId, str))
            .count(countStore("following-count", userId, count));
    KTable<String, Long> followerCount =
        follows
            .groupBy((k, f) -> KeyValue.pair(f.followeeId(), f.followId()), Grouped.with("follows-by-followee", userId, str))
            .count(countStore("follower-count", userId, count));

    KTable<String, Long> likeCount =
        sourceTable(builder, cdcTopicPrefix, "likes", CdcRows.LIKE, CdcRows.json(LikeRow.class), consumed)
            .groupBy((k, l) -> KeyValue.pair(l.userId(), l.likeId()), Grouped.with("likes-by-user", userId, str))
            .count(countStore("like-count", userId, count));

    users
        .leftJoin(tweetCount, UserInformation::of, Named.as("join-tweet-count"))
        .leftJoin(followingCount, UserInformation::withFollowingCount, Named.as("join-following-count"))
        .leftJoin(followerCount, UserInformation::withFollowerCount, Named.as("join-follower-count"))
        .leftJoin(likeCount, UserInformation::withLikeCount, Named.as("join-like-count"))
        .mapValues(
            view -> view,
            Named.as(VIEW_STORE),
            Materialized.<String, UserInformation, KeyValueStore<Bytes, byte[]>>as(VIEW_STORE)
                .withKeySerde(userId)
                .withValueSerde(viewSerde))
        .toStream()
        .to(outputTopic, Produced.with(userId, viewSerde));

    return builder.build();
  }

  /**
   * A CDC topic as a table keyed by the source key bytes: the row after each change, a delete (or
   * tombstone) removes the key. Kept in the store {@code <table>-source}, so an update or delete
   * finds the old row there (Debezium's {@code before} is not relied on).
   */
  private static <R> KTable<Bytes, R> sourceTable(
      StreamsBuilder builder, String prefix, String table, Function<com.fasterxml.jackson.databind.JsonNode, R> mapRow,
      Serde<R> rowSerde, LongAdder consumed) {
    return builder
        .stream(cdcTopic(prefix, table), Consumed.with(Serdes.Bytes(), CdcRows.debezium(table, mapRow)))
        .peek((k, v) -> consumed.increment(), Named.as(table + "-consumed"))
        .toTable(
            Named.as(table + "-table"),
            Materialized.<Bytes, R, KeyValueStore<Bytes, byte[]>>as(table + "-source")
                .withKeySerde(Serdes.Bytes())
                .withValueSerde(rowSerde));
  }

  private static Materialized<String, Long, KeyValueStore<Bytes, byte[]>> countStore(
      String name, Serde<String> keySerde, Serde<Long> valueSerde) {
    return Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as(name)
        .withKeySerde(keySerde)
        .withValueSerde(valueSerde);
  }
}
