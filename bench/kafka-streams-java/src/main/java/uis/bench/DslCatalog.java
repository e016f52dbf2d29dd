package uis.bench;

import java.io.BufferedReader;
import java.time.Duration;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.Suppressed.BufferConfig;
import org.apache.kafka.streams.kstream.TableJoined;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.common.utils.Bytes;

/**
 * Small topologies, one per family of DSL operators, that the differential tests run on Kafka
 * Streams and on our engine over the same input topics (test/support/dsl-catalog.ts has ours,
 * operator for operator). Keys and values are UTF-8 strings, numbers 64-bit big-endian (Serdes.Long).
 *
 * <pre>
 *   java -cp kafka-streams-uis.jar uis.bench.DslCatalog stateless|tables|stream-table|global-table|fk-join|processor|windowed
 * </pre>
 *
 * Environment: KAFKA_BROKERS, APPLICATION_ID, STATE_DIR, IN_PREFIX (input topics are
 * {@code <IN_PREFIX>-<name>}), OUT_PREFIX (output topics {@code <OUT_PREFIX>-<name>}). Prints
 * "RUNNING" on stdout once Kafka Streams runs; closes when stdin ends.
 */
public final class DslCatalog {
  private DslCatalog() {}

  private static final Serde<String> S = Serdes.String();
  private static final Serde<Long> L = Serdes.Long();

  public static void main(String[] args) throws Exception {
    String name = args.length > 0 ? args[0] : "";
    String in = env("IN_PREFIX");
    String out = env("OUT_PREFIX");
    Topology topology =
        switch (name) {
          case "stateless" -> stateless(in, out);
          case "tables" -> tables(in, out);
          case "stream-table" -> streamTable(in, out);
          case "global-table" -> globalTable(in, out);
          case "fk-join" -> foreignKeyJoin(in, out);
          case "processor" -> processor(in, out);
          case "windowed" -> windowed(in, out);
          case "windowed-count" -> windowedCount(in, out);
          default -> {
            System.err.println(
                "usage: DslCatalog stateless|tables|stream-table|global-table|fk-join|processor|windowed|windowed-count");
            System.exit(64);
            yield null;
          }
        };
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, env("APPLICATION_ID"));
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, env("KAFKA_BROKERS"));
    p.put(StreamsConfig.STATE_DIR_CONFIG, env("STATE_DIR"));
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
    // No record cache: with it, a table's updates that come close together are collapsed depending on
    // timing (a row added and deleted within one commit never reaches a groupBy), so the output would
    // not be a function of the input alone. Without it, every update flows, as in our engine's tables.
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
    // Left and outer joins emit their unmatched records as soon as their windows close, not at most
    // once a second of wall-clock time: what our engine does, and what makes the output repeatable.
    p.put("__emit.interval.ms.kstreams.outer.join.spurious.results.fix__", 0L);
    // Overrides for benchmarks (k=v,k=v), e.g. the default record cache back on.
    String overrides = System.getenv().getOrDefault("STREAMS_CONFIG", "");
    for (String pair : overrides.split(",")) {
      if (pair.isBlank()) continue;
      String[] kv = pair.split("=", 2);
      p.put(kv[0].trim(), kv[1].trim());
    }

    KafkaStreams streams = new KafkaStreams(topology, p);
    CountDownLatch running = new CountDownLatch(1);
    streams.setStateListener(
        (now, before) -> {
          if (now == KafkaStreams.State.RUNNING) running.countDown();
          if (now == KafkaStreams.State.ERROR) System.exit(2);
        });
    streams.start();
    running.await();
    System.out.println("RUNNING");
    System.out.flush();
    try (BufferedReader stdin =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      while (stdin.readLine() != null) {
        // the test ends the run by closing stdin
      }
    }
    streams.close();
  }

  private static String env(String name) {
    String value = System.getenv(name);
    if (value == null || value.isBlank()) throw new IllegalArgumentException(name + " is not set");
    return value;
  }

  /** flatMapValues, filterNot, map, repartition, groupByKey + count; split; merge, flatMap, reduce. */
  static Topology stateless(String in, String out) {
    StreamsBuilder builder = new StreamsBuilder();
    KStream<String, String> a = builder.stream(in + "-a", Consumed.with(S, S));
    KStream<String, String> b = builder.stream(in + "-b", Consumed.with(S, S));

    a.flatMapValues(v -> v == null ? List.<String>of() : List.of(v.split(" ")))
        .filterNot((k, w) -> w.isEmpty())
        .map((k, w) -> KeyValue.pair(w, k == null ? "-" : k))
        .repartition(Repartitioned.<String, String>as("words").withKeySerde(S).withValueSerde(S))
        .groupByKey(Grouped.with(S, S))
        .count(Materialized.as("word-count"))
        .toStream()
        .to(out + "-word-count", Produced.with(S, L));

    Map<String, KStream<String, String>> branches =
        a.split(Named.as("s-"))
            .branch(
                (k, v) -> v != null && v.startsWith("a"),
                Branched.withFunction(s -> s.mapValues(v -> v.toUpperCase()), "a"))
            .branch((k, v) -> v != null && v.length() > 12, Branched.as("long"))
            .defaultBranch(Branched.as("rest"));
    branches.get("s-a").to(out + "-split-a", Produced.with(S, S));
    branches.get("s-long").to(out + "-split-long", Produced.with(S, S));
    branches.get("s-rest").to(out + "-split-rest", Produced.with(S, S));

    KStream<String, String> merged = a.merge(b).peek((k, v) -> {});
    merged.to(out + "-merged", Produced.with(S, S));
    merged
        .filter((k, v) -> v != null && !v.isEmpty())
        .flatMap(
            (k, v) -> {
              List<KeyValue<String, Long>> pairs = new ArrayList<>();
              pairs.add(KeyValue.pair(v.substring(0, 1), (long) v.length()));
              pairs.add(KeyValue.pair("all", 1L));
              return pairs;
            })
        .groupByKey(Grouped.with("by-initial", S, L))
        .reduce(Long::sum, Materialized.as("initial-sum"))
        .toStream()
        .to(out + "-initial-sum", Produced.with(S, L));
    return builder.build();
  }

  /** Table-table join, leftJoin and outerJoin; groupBy + reduce (adder, subtractor) and count. */
  static Topology tables(String in, String out) {
    StreamsBuilder builder = new StreamsBuilder();
    KTable<String, String> left =
        builder.table(in + "-left", Consumed.with(S, S), Materialized.as("left"));
    KTable<String, String> right =
        builder.table(in + "-right", Consumed.with(S, S), Materialized.as("right"));
    left.join(right, (l, r) -> l + "+" + r).toStream().to(out + "-inner", Produced.with(S, S));
    left.leftJoin(right, (l, r) -> l + "+" + (r == null ? "-" : r))
        .toStream()
        .to(out + "-left", Produced.with(S, S));
    left.outerJoin(right, (l, r) -> (l == null ? "-" : l) + "+" + (r == null ? "-" : r))
        .toStream()
        .to(out + "-outer", Produced.with(S, S));
    left.groupBy(
            (k, v) -> KeyValue.pair(v.substring(0, 1), (long) v.length()),
            Grouped.with("by-initial", S, L))
        .reduce(Long::sum, (agg, v) -> agg - v, Materialized.as("initial-length"))
        .toStream()
        .to(out + "-initial-length", Produced.with(S, L));
    left.groupBy((k, v) -> KeyValue.pair(v, k), Grouped.with("by-value", S, S))
        .count(Materialized.as("value-count"))
        .toStream()
        .to(out + "-value-count", Produced.with(S, L));
    return builder.build();
  }

  /** Stream-table join and leftJoin, before and after a key change through a repartition topic. */
  static Topology streamTable(String in, String out) {
    StreamsBuilder builder = new StreamsBuilder();
    KTable<String, String> profiles =
        builder.table(in + "-profiles", Consumed.with(S, S), Materialized.as("profiles"));
    KStream<String, String> events = builder.stream(in + "-events", Consumed.with(S, S));
    events.join(profiles, (e, p) -> e + "@" + p).to(out + "-join", Produced.with(S, S));
    events
        .leftJoin(profiles, (e, p) -> e + "@" + (p == null ? "-" : p))
        .to(out + "-left-join", Produced.with(S, S));
    events
        .filter((k, v) -> v != null)
        .selectKey((k, v) -> v)
        .repartition(Repartitioned.<String, String>as("by-value").withKeySerde(S).withValueSerde(S))
        .join(profiles, (e, p) -> e + "@" + p)
        .to(out + "-rekeyed-join", Produced.with(S, S));
    return builder.build();
  }

  static Topology globalTable(String in, String out) {
    StreamsBuilder builder = new StreamsBuilder();
    GlobalKTable<String, String> profiles =
        builder.globalTable(
            in + "-profiles",
            Consumed.with(S, S),
            Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("profiles-global"));
    KStream<String, String> events = builder.stream(in + "-events", Consumed.with(S, S));
    events.join(profiles, (k, v) -> v, (e, p) -> e + "@" + p).to(out + "-join", Produced.with(S, S));
    events
        .leftJoin(profiles, (k, v) -> v, (e, p) -> e + "@" + (p == null ? "-" : p))
        .to(out + "-left-join", Produced.with(S, S));
    events
        .leftJoin(profiles, (k, v) -> k, (e, p) -> e + "@" + (p == null ? "-" : p))
        .to(out + "-key-left-join", Produced.with(S, S));
    events
        .filter((k, v) -> v != null)
        .selectKey((k, v) -> v)
        .join(profiles, (k, v) -> k, (k, e, p) -> k + ":" + e + "@" + p)
        .to(out + "-rekeyed-join", Produced.with(S, S));
    // A global store kept by a processor: how many renames each profile had (a null value resets it).
    builder.addGlobalStore(
        Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore("renames-count"), S, Serdes.Long())
            .withLoggingDisabled(),
        in + "-renames",
        Consumed.with(S, S),
        () ->
            new Processor<String, String, Void, Void>() {
              private KeyValueStore<String, Long> counts;

              @Override
              public void init(ProcessorContext<Void, Void> context) {
                counts = context.getStateStore("renames-count");
              }

              @Override
              public void process(Record<String, String> record) {
                if (record.key() == null) return;
                if (record.value() == null) {
                  counts.delete(record.key());
                  return;
                }
                Long count = counts.get(record.key());
                counts.put(record.key(), count == null ? 1L : count + 1);
              }
            });
    events
        .process(
            () ->
                new Processor<String, String, String, String>() {
                  private ProcessorContext<String, String> context;
                  private KeyValueStore<String, Long> counts;

                  @Override
                  public void init(ProcessorContext<String, String> context) {
                    this.context = context;
                    counts = context.getStateStore("renames-count");
                  }

                  @Override
                  public void process(Record<String, String> record) {
                    if (record.value() == null) return;
                    Long count = counts.get(record.value());
                    context.forward(record.withValue(record.value() + "#" + (count == null ? "-" : count)));
                  }
                })
        .to(out + "-renamed", Produced.with(S, S));
    return builder.build();
  }

  static Topology foreignKeyJoin(String in, String out) {
    StreamsBuilder builder = new StreamsBuilder();
    KTable<String, String> orders =
        builder.table(in + "-orders", Consumed.with(S, S), Materialized.as("orders"));
    KTable<String, String> customers =
        builder.table(in + "-customers", Consumed.with(S, S), Materialized.as("customers"));
    java.util.function.Function<String, String> customerOf =
        order -> {
          String customer = order.split("\\|", -1)[0];
          return customer.isEmpty() ? null : customer;
        };
    orders
        .join(
            customers,
            customerOf,
            (o, c) -> o + "@" + c,
            TableJoined.as("fk-inner"),
            Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("fk-inner-store")
                .withKeySerde(S)
                .withValueSerde(S))
        .toStream()
        .to(out + "-join", Produced.with(S, S));
    orders
        .leftJoin(
            customers,
            customerOf,
            (o, c) -> o + "@" + (c == null ? "-" : c),
            TableJoined.as("fk-left"),
            Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("fk-left-store")
                .withKeySerde(S)
                .withValueSerde(S))
        .toStream()
        .to(out + "-left-join", Produced.with(S, S));
    return builder.build();
  }

  /**
   * Time windows over one input whose records come out of order and late: a hopping count of every
   * record with a key (null values too), a session count (null values too), a tumbling aggregate
   * with grace, the final results of a tumbling count (suppressed until its windows close) and a
   * tumbling reduce without grace.
   */
  static Topology windowed(String in, String out) {
    StreamsBuilder builder = new StreamsBuilder();
    KStream<String, String> events = builder.stream(in + "-events", Consumed.with(S, S));
    events
        .groupByKey(Grouped.with(S, S))
        .windowedBy(
            TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofSeconds(5))
                .advanceBy(Duration.ofSeconds(5)))
        .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("hopping-count"))
        .toStream()
        .to(
            out + "-hopping-count",
            Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, 10_000L), L));
    KGroupedStream<String, String> present =
        events.filter((k, v) -> v != null).groupByKey(Grouped.with(S, S));
    present
        .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(20), Duration.ofSeconds(3)))
        .aggregate(
            () -> "",
            (k, v, agg) -> agg.isEmpty() ? v : agg + "," + v,
            Materialized.<String, String, WindowStore<Bytes, byte[]>>as("tumbling-joined")
                .withValueSerde(S))
        .toStream()
        .to(
            out + "-tumbling-joined",
            Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, 20_000L), S));
    events
        .groupByKey(Grouped.with(S, S))
        .windowedBy(SessionWindows.ofInactivityGapAndGrace(Duration.ofSeconds(3), Duration.ofSeconds(2)))
        .count(Materialized.<String, Long, SessionStore<Bytes, byte[]>>as("session-count"))
        .toStream()
        .to(
            out + "-session-count",
            Produced.with(WindowedSerdes.sessionWindowedSerdeFrom(String.class), L));
    present
        .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(20), Duration.ofSeconds(3)))
        .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("final-count"))
        .suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded()).withName("final"))
        .toStream()
        .to(
            out + "-final-count",
            Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, 20_000L), L));
    present
        .windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofSeconds(20)))
        .reduce(
            (a, b) -> a.compareTo(b) >= 0 ? a : b,
            Materialized.<String, String, WindowStore<Bytes, byte[]>>as("tumbling-max"))
        .toStream()
        .to(
            out + "-tumbling-max",
            Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, 20_000L), S));
    events
        .groupByKey(Grouped.with(S, S))
        .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(Duration.ofSeconds(5), Duration.ofSeconds(2)))
        .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("sliding-count"))
        .toStream()
        .to(
            out + "-sliding-count",
            Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, 5_000L), L));
    present
        .windowedBy(SlidingWindows.ofTimeDifferenceWithNoGrace(Duration.ofSeconds(8)))
        .aggregate(
            () -> "",
            (k, v, agg) -> agg.isEmpty() ? v : agg + "," + v,
            Materialized.<String, String, WindowStore<Bytes, byte[]>>as("sliding-joined")
                .withValueSerde(S))
        .toStream()
        .to(
            out + "-sliding-joined",
            Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, 8_000L), S));
    // Both sides of the joins come from one partition, so both engines see them in the same order.
    KStream<String, String> left = events.filter((k, v) -> v == null || v.compareTo("c") < 0);
    KStream<String, String> right = events.filter((k, v) -> v == null || v.compareTo("c") >= 0);
    left.join(
            right,
            (l, r) -> l + "+" + r,
            JoinWindows.ofTimeDifferenceAndGrace(Duration.ofSeconds(2), Duration.ofSeconds(1)),
            StreamJoined.with(S, S, S).withStoreName("inner"))
        .to(out + "-inner-join", Produced.with(S, S));
    left.leftJoin(
            right,
            (l, r) -> l + "+" + (r == null ? "-" : r),
            JoinWindows.ofTimeDifferenceAndGrace(Duration.ofSeconds(3), Duration.ofSeconds(1))
                .before(Duration.ofSeconds(1)),
            StreamJoined.with(S, S, S).withStoreName("left"))
        .to(out + "-left-join", Produced.with(S, S));
    left.outerJoin(
            right,
            (l, r) -> (l == null ? "-" : l) + "+" + (r == null ? "-" : r),
            JoinWindows.ofTimeDifferenceAndGrace(Duration.ofSeconds(2), Duration.ofSeconds(2))
                .after(Duration.ofSeconds(4)),
            StreamJoined.with(S, S, S).withStoreName("outer"))
        .to(out + "-outer-join", Produced.with(S, S));
    return builder.build();
  }

  /**
   * The windowed-count benchmark (bench/windowed-count.ts): events per key in tumbling one-minute
   * windows with ten seconds of grace, every update to the output.
   */
  static Topology windowedCount(String in, String out) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.stream(in + "-events", Consumed.with(S, S))
        .groupByKey(Grouped.with(S, S))
        .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMinutes(1), Duration.ofSeconds(10)))
        .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("windowed-count"))
        .toStream()
        .to(
            out + "-windowed-count",
            Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, 60_000L), L));
    return builder.build();
  }

  static Topology processor(String in, String out) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(
        Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("sums"), S, L).withCachingDisabled());
    KStream<String, Long> sums =
        builder.stream(in + "-a", Consumed.with(S, S)).process(Summer::new, Named.as("summer"), "sums");
    sums.to(out + "-sums", Produced.with(S, L));
    sums.filter((k, v) -> true, Named.as("big")).to(out + "-big", Produced.with(S, L));
    return builder.build();
  }

  /** Sums the lengths of each key's values in a store; a null value resets the key. Big sums also go to "big". */
  static final class Summer implements Processor<String, String, String, Long> {
    private ProcessorContext<String, Long> context;
    private org.apache.kafka.streams.state.KeyValueStore<String, Long> store;

    @Override
    public void init(ProcessorContext<String, Long> context) {
      this.context = context;
      this.store = context.getStateStore("sums");
    }

    @Override
    public void process(Record<String, String> record) {
      if (record.key() == null) return;
      if (record.value() == null) {
        store.delete(record.key());
        return;
      }
      Long before = store.get(record.key());
      long sum = (before == null ? 0L : before) + record.value().length();
      store.put(record.key(), sum);
      context.forward(record.withValue(sum));
      if (sum > 20) context.forward(new Record<>("big:" + record.key(), sum, record.timestamp()), "big");
    }
  }
}
