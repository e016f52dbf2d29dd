package uis.bench;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * The rows of the source tables as the topology uses them, read from the {@code after} image of
 * Debezium change events (Kafka Connect JsonConverter, with or without schemas). Ids stay exact:
 * Jackson reads JSON integers as int, long or BigInteger (never double), and they are kept as
 * canonical decimal strings.
 */
final class CdcRows {
  private CdcRows() {}

  static final ObjectMapper JSON = new ObjectMapper();

  record UserRow(
      String userId,
      String username,
      String name,
      String description,
      String location,
      String webPageUrl,
      String joinedDate,
      String profileImageUrl,
      String backgroundImageUrl) {}

  record TweetRow(String tweetId, String userId) {}

  record FollowRow(String followId, String followerId, String followeeId) {}

  record LikeRow(String likeId, String userId, String tweetId) {}

  /** A row of the view: exactly the seed's JSON document. */
  @JsonPropertyOrder({
    "userId", "username", "name", "description", "location", "webPageUrl", "joinedDate",
    "profileImageUrl", "backgroundImageUrl", "tweetCount", "followingCount", "followerCount", "likeCount"
  })
  record UserInformation(
      String userId,
      String username,
      String name,
      String description,
      String location,
      String webPageUrl,
      String joinedDate,
      String profileImageUrl,
      String backgroundImageUrl,
      long tweetCount,
      long followingCount,
      long followerCount,
      long likeCount) {

    static UserInformation of(UserRow u, Long tweets) {
      return new UserInformation(
          u.userId(), u.username(), u.name(), u.description(), u.location(), u.webPageUrl(),
          u.joinedDate(), u.profileImageUrl(), u.backgroundImageUrl(), orZero(tweets), 0, 0, 0);
    }

    UserInformation withFollowingCount(Long n) {
      return new UserInformation(userId, username, name, description, location, webPageUrl, joinedDate,
          profileImageUrl, backgroundImageUrl, tweetCount, orZero(n), followerCount, likeCount);
    }

    UserInformation withFollowerCount(Long n) {
      return new UserInformation(userId, username, name, description, location, webPageUrl, joinedDate,
          profileImageUrl, backgroundImageUrl, tweetCount, followingCount, orZero(n), likeCount);
    }

    UserInformation withLikeCount(Long n) {
      return new UserInformation(userId, username, name, description, location, webPageUrl, joinedDate,
          profileImageUrl, backgroundImageUrl, tweetCount, followingCount, followerCount, orZero(n));
    }

    private static long orZero(Long n) {
      return n == null ? 0 : n;
    }
  }

  // ---- mapping Debezium `after` images to rows -------------------------------------------------

  static final Function<JsonNode, UserRow> USER =
      r -> new UserRow(
          id(r, "user_id"),
          text(r, "username"),
          text(r, "name"),
          nullableText(r, "description"),
          nullableText(r, "location"),
          nullableText(r, "web_page_url"),
          isoDate(r, "joined_date"),
          nullableText(r, "profile_image_url"),
          nullableText(r, "background_image_url"));

  static final Function<JsonNode, TweetRow> TWEET = r -> new TweetRow(id(r, "tweet_id"), id(r, "user_id"));

  static final Function<JsonNode, FollowRow> FOLLOW =
      r -> new FollowRow(id(r, "follow_id"), id(r, "follower_id"), id(r, "followee_id"));

  static final Function<JsonNode, LikeRow> LIKE =
      r -> new LikeRow(id(r, "like_id"), id(r, "user_id"), id(r, "tweet_id"));

  private static final Pattern INT64 = Pattern.compile("-?(0|[1-9][0-9]{0,18})");

  /** A 64-bit id as a canonical decimal string: a JSON integer within the long range, or such a string. */
  static String id(JsonNode row, String column) {
    JsonNode v = row.get(column);
    if (v != null && v.isIntegralNumber() && v.canConvertToLong()) return Long.toString(v.longValue());
    if (v != null && v.isTextual() && INT64.matcher(v.textValue()).matches()) {
      try {
        return Long.toString(Long.parseLong(v.textValue()));
      } catch (NumberFormatException tooLarge) {
        // falls through to the error below
      }
    }
    throw new SerializationException("column " + column + " is not a 64-bit id: " + v);
  }

  /** A NOT NULL text column (username, name): "" if the event does not carry it. */
  static String text(JsonNode row, String column) {
    String v = nullableText(row, column);
    return v == null ? "" : v;
  }

  /** A nullable text column: NULL (or a column the event does not carry) is null, never "". */
  static String nullableText(JsonNode row, String column) {
    JsonNode v = row.get(column);
    if (v == null || v.isNull()) return null;
    if (!v.isTextual()) throw new SerializationException("column " + column + " is not text");
    return v.textValue();
  }

  /** timestamptz arrives as an ISO string (Debezium ZonedTimestamp); date as days since the epoch. */
  static String isoDate(JsonNode row, String column) {
    JsonNode v = row.get(column);
    if (v == null || v.isNull()) return "";
    if (v.isTextual()) return v.textValue();
    if (v.isIntegralNumber()) return LocalDate.ofEpochDay(v.longValue()).toString();
    throw new SerializationException("column " + column + " is not a date");
  }

  // ---- serdes ----------------------------------------------------------------------------------

  /**
   * Reads a Debezium change event (the envelope, or flattened by ExtractNewRecordState) into the row
   * it leaves behind: the mapped {@code after} image for c/u/r, null for d and for a Kafka tombstone (both mean "the row is gone"). Anything else is a
   * SerializationException, which the deserialization exception handler logs, sends to the
   * dead-letter topic and skips.
   */
  static <R> Serde<R> debezium(String table, Function<JsonNode, R> mapRow) {
    Deserializer<R> deserializer =
        (topic, bytes) -> {
          if (bytes == null) return null;
          JsonNode event;
          try {
            event = JSON.readTree(bytes);
          } catch (IOException e) {
            throw new SerializationException("debezium(" + table + "): not JSON: " + e.getMessage(), e);
          }
          if (event != null && event.isObject() && event.has("schema") && event.path("payload").isObject()) {
            event = event.get("payload");
          }
          if (event == null || !event.isObject()) {
            throw new SerializationException("debezium(" + table + "): the event is not a JSON object");
          }
          // Flattened by ExtractNewRecordState (add.fields=op,source.ts_ms,source.lsn): the row itself, with __op.
          boolean flattened = event.has("__op");
          String op = flattened ? event.path("__op").asText("") : event.path("op").asText("");
          if (flattened && "true".equals(event.path("__deleted").asText(""))) op = "d";
          switch (op) {
            case "d":
              return null;
            case "c":
            case "u":
            case "r":
              if (flattened) return mapRow.apply(event);
              JsonNode after = event.get("after");
              if (after == null || !after.isObject()) {
                throw new SerializationException("debezium(" + table + "): op " + op + " without an \"after\" row");
              }
              return mapRow.apply(after);
            default:
              throw new SerializationException("debezium(" + table + "): unknown op " + event.get("op"));
          }
        };
    Serializer<R> serializer =
        (topic, row) -> {
          throw new UnsupportedOperationException("debezium(" + table + ") only reads change events");
        };
    return Serdes.serdeFrom(serializer, deserializer);
  }

  /** JSON (Jackson) for rows and views in stores, repartition topics and the output topic. */
  static <T> Serde<T> json(Class<T> type) {
    Serializer<T> serializer =
        (topic, value) -> {
          if (value == null) return null;
          try {
            return JSON.writeValueAsBytes(value);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        };
    Deserializer<T> deserializer =
        (topic, bytes) -> {
          if (bytes == null) return null;
          try {
            return JSON.readValue(bytes, type);
          } catch (IOException e) {
            throw new SerializationException(
                type.getSimpleName() + ": " + new String(bytes, StandardCharsets.UTF_8), e);
          }
        };
    return Serdes.serdeFrom(serializer, deserializer);
  }
}
