package uis.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyDescription;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.processor.StateRestoreListener;

/**
 * Runs the User Information topology on Kafka Streams and measures it.
 *
 * <pre>
 *   java -jar kafka-streams-uis.jar process   # empty local state, fresh application id: time from start until
 *                                             # the group's lag on the CDC and repartition topics is zero
 *   java -jar kafka-streams-uis.jar restore   # empty local state, same application id: time from start until
 *                                             # RUNNING with every store restored from its changelog
 *   java -jar kafka-streams-uis.jar run       # just run (Ctrl-C stops)
 *   java -jar kafka-streams-uis.jar describe  # print the topology
 * </pre>
 *
 * Settings come from the environment (see {@link Settings}). Progress goes to stderr; the result is
 * one JSON line on stdout.
 */
public final class UserInformationApp {
  private UserInformationApp() {}

  record Settings(
      String brokers,
      String cdcTopicPrefix,
      String applicationId,
      String outputTopic,
      String stateDir,
      int threads,
      int topicPartitions,
      long timeoutSeconds,
      long maxSeconds,
      long fromSeconds,
      boolean allowCommittedOffsets) {

    static Settings fromEnv() {
      return new Settings(
          env("KAFKA_BROKERS", "127.0.0.1:9092"),
          env("CDC_TOPIC_PREFIX", "cdc"),
          env("APPLICATION_ID", "ks-java-uis"),
          env("OUTPUT_TOPIC", "ks-java-user-information"),
          env("STATE_DIR", System.getProperty("java.io.tmpdir") + "/ks-java-uis-state"),
          Integer.parseInt(env("STREAM_THREADS", "1")),
          Integer.parseInt(env("TOPIC_PARTITIONS", "4")),
          Long.parseLong(env("TIMEOUT_S", "1800")),
          Long.parseLong(env("MAX_SECONDS", "0")),
          Long.parseLong(env("FROM_SECONDS", "0")),
          env("ALLOW_COMMITTED_OFFSETS", "0").equals("1"));
    }

    private static String env(String name, String fallback) {
      String value = System.getenv(name);
      return value == null || value.isBlank() ? fallback : value;
    }

    List<String> cdcTopics() {
      return UserInformationTopology.TABLES.stream()
          .map(t -> UserInformationTopology.cdcTopic(cdcTopicPrefix, t))
          .toList();
    }

    String deadLetterTopic() {
      return applicationId + "-dead-letters";
    }

    Properties streamsConfig() {
      Properties p = new Properties();
      p.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
      p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
      p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
      p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
      p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
      p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
      p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1); // single-node broker
      // Bad input is skipped and sent to <applicationId>-dead-letters, like the Node engine does.
      p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
      p.put(StreamsConfig.ERRORS_DEAD_LETTER_QUEUE_TOPIC_NAME_CONFIG, deadLetterTopic());
      // Overrides for experiments, e.g. STREAMS_CONFIG="statestore.cache.max.bytes=0,num.standby.replicas=0".
      for (String pair : env("STREAMS_CONFIG", "").split(",")) {
        int eq = pair.indexOf('=');
        if (eq > 0) p.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim());
      }
      return p;
    }

    Properties adminConfig() {
      Properties p = new Properties();
      p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
      p.put(AdminClientConfig.CLIENT_ID_CONFIG, applicationId + "-bench-admin");
      return p;
    }
  }

  public static void main(String[] args) throws Exception {
    String mode = args.length > 0 ? args[0] : "process";
    Settings settings = Settings.fromEnv();
    LongAdder consumed = new LongAdder();
    Topology topology = UserInformationTopology.build(settings.cdcTopicPrefix(), settings.outputTopic(), consumed);

    switch (mode) {
      case "describe" -> System.out.println(topology.describe());
      case "process" -> System.exit(process(settings, topology, consumed));
      case "restore" -> System.exit(restore(settings, topology));
      case "run" -> run(settings, topology);
      default -> {
        System.err.println("usage: kafka-streams-uis.jar process|restore|run|describe");
        System.exit(64);
      }
    }
  }

  // ---- process: throughput from an empty application ------------------------------------------

  static int process(Settings s, Topology topology, LongAdder consumed) throws Exception {
    try (Admin admin = Admin.create(s.adminConfig())) {
      createTopics(admin, s);
      Set<TopicPartition> inputs = inputPartitions(admin, s, topology);
      if (!committedOffsets(admin, s.applicationId()).isEmpty() && !s.allowCommittedOffsets()) {
        log("the group %s already has committed offsets: it would only process what is new. "
            + "Use a fresh APPLICATION_ID (or ALLOW_COMMITTED_OFFSETS=1).", s.applicationId());
        return 3;
      }
      Set<TopicPartition> cdc = new HashSet<>();
      for (TopicPartition tp : inputs) if (s.cdcTopics().contains(tp.topic())) cdc.add(tp);
      Map<TopicPartition, Long> cdcEnd = offsets(admin, cdc, OffsetSpec.latest());
      Map<TopicPartition, Long> cdcStart = offsets(admin, cdc, OffsetSpec.earliest());
      long span = 0;
      for (TopicPartition tp : cdc) span += cdcEnd.get(tp) - cdcStart.get(tp);
      log("application %s: %d CDC partitions (offset span %d), %d repartition partitions, %d stream thread(s)",
          s.applicationId(), cdc.size(), span, inputs.size() - cdc.size(), s.threads());
      if (!waitForEmptyGroup(admin, s)) return 1;
      wipeLocalState(s);

      KafkaStreams streams = newStreams(s, topology);
      long start = System.nanoTime();
      streams.start();

      long firstRecord = 0;
      // FROM_SECONDS: the records processed until then, so a sample can leave out the start.
      long fromNanos = 0;
      long processedAtFrom = 0;
      long lastPrint = start;
      long lastCount = 0;
      long lag = -1;
      while (true) {
        TimeUnit.MILLISECONDS.sleep(200);
        long now = System.nanoTime();
        long count = consumed.sum();
        if (count > 0 && firstRecord == 0) firstRecord = now;
        KafkaStreams.State state = streams.state();
        if (stopped(state)) {
          log("Kafka Streams stopped: %s", state);
          return 2;
        }
        if (state == KafkaStreams.State.RUNNING) lag = lag(admin, s, inputs);
        if (now - lastPrint >= 5_000_000_000L) {
          log("%6.1f s  %-11s  CDC records %9d  rate %8.0f/s (avg %8.0f/s)  lag %s",
              seconds(now - start), state, count,
              (count - lastCount) / seconds(now - lastPrint), count / seconds(now - start),
              lag < 0 ? "?" : Long.toString(lag));
          lastPrint = now;
          lastCount = count;
        }
        if (s.fromSeconds() > 0 && fromNanos == 0 && now - start >= TimeUnit.SECONDS.toNanos(s.fromSeconds())) {
          fromNanos = now;
          processedAtFrom = processedRecords(streams);
        }
        // MAX_SECONDS: a bounded sample of the rate, for comparisons that need not process everything.
        boolean sampled = s.maxSeconds() > 0 && now - start >= TimeUnit.SECONDS.toNanos(s.maxSeconds());
        if (lag == 0 || sampled) {
          double secs = seconds(now - start);
          long all = processedRecords(streams);
          System.out.printf(Locale.ROOT,
              "{\"mode\":\"process\",\"records\":%d,\"seconds\":%.3f,\"recordsPerSecond\":%.1f,"
                  + "\"allRecordsProcessed\":%d,\"firstRecordAfterSeconds\":%.3f,"
                  + "\"applicationId\":\"%s\",\"streamThreads\":%d,\"complete\":%b,"
                  + "\"fromSeconds\":%.3f,\"processedSinceFrom\":%d}%n",
              count, secs, count / secs, all,
              seconds((firstRecord == 0 ? now : firstRecord) - start), s.applicationId(), s.threads(), lag == 0,
              fromNanos == 0 ? 0.0 : seconds(fromNanos - start), fromNanos == 0 ? all : all - processedAtFrom);
          System.out.flush();
          close(streams);
          return 0;
        }
        if (now - start > TimeUnit.SECONDS.toNanos(s.timeoutSeconds())) {
          log("timed out after %d s with lag %d", s.timeoutSeconds(), lag);
          close(streams);
          return 1;
        }
      }
    }
  }

  /**
   * The group's lag over every partition the topology consumes (CDC and repartition topics):
   * read_committed end offset minus committed offset, a missing commit counting from the
   * partition's start. Kafka Streams commits the consumer's position, which is past the
   * transaction markers, so a group that has processed everything reaches exactly zero.
   *
   * <p>The committed offsets are read first, the end offsets after them. The other order races:
   * a transaction that commits in between (CDC offsets together with the repartition records
   * made from them) would show its CDC offsets as committed while the repartition end offsets
   * read before it do not yet include its records, and the lag would be 0 too early.
   */
  static long lag(Admin admin, Settings s, Set<TopicPartition> inputs) throws Exception {
    Map<TopicPartition, OffsetAndMetadata> committed = committedOffsets(admin, s.applicationId());
    Map<TopicPartition, Long> end;
    try {
      end = offsets(admin, inputs, OffsetSpec.latest());
    } catch (ExecutionException notCreatedYet) {
      return -1;
    }
    Map<TopicPartition, Long> start = null;
    long lag = 0;
    for (TopicPartition tp : inputs) {
      OffsetAndMetadata c = committed.get(tp);
      long from;
      if (c != null) {
        from = c.offset();
      } else {
        if (start == null) start = offsets(admin, inputs, OffsetSpec.earliest());
        from = start.get(tp);
      }
      lag += Math.max(0, end.get(tp) - from);
    }
    return lag;
  }

  /** Records processed by all stream threads, from every source topic (CDC and repartition). */
  static long processedRecords(KafkaStreams streams) {
    double total = 0;
    for (var e : streams.metrics().entrySet()) {
      if (e.getKey().name().equals("process-total") && e.getKey().group().equals("stream-thread-metrics")
          && e.getValue().metricValue() instanceof Number n) {
        total += n.doubleValue();
      }
    }
    return Math.round(total);
  }

  // ---- restore: rebuild every store from its changelog -----------------------------------------

  static int restore(Settings s, Topology topology) throws Exception {
    try (Admin admin = Admin.create(s.adminConfig())) {
      if (committedOffsets(admin, s.applicationId()).isEmpty()) {
        log("the group %s has no committed offsets: run process mode with this APPLICATION_ID first", s.applicationId());
        return 3;
      }
      if (!waitForEmptyGroup(admin, s)) return 1;
    }
    wipeLocalState(s); // no checkpoint: every store restores from its changelog's start
    RestoreCounter restores = new RestoreCounter();
    KafkaStreams streams = newStreams(s, topology);
    streams.setGlobalStateRestoreListener(restores);
    long start = System.nanoTime();
    streams.start();
    long lastPrint = start;
    while (true) {
      TimeUnit.MILLISECONDS.sleep(20);
      long now = System.nanoTime();
      KafkaStreams.State state = streams.state();
      if (stopped(state)) {
        log("Kafka Streams stopped: %s", state);
        return 2;
      }
      if (state == KafkaStreams.State.RUNNING && restores.active.isEmpty() && restores.started.get() > 0) {
        double secs = seconds(now - start);
        long restored = restores.restored.sum();
        System.out.printf(Locale.ROOT,
            "{\"mode\":\"restore\",\"restoredRecords\":%d,\"seconds\":%.3f,\"recordsPerSecond\":%.1f,"
                + "\"firstRestoreAfterSeconds\":%.3f,\"storePartitions\":%d,\"applicationId\":\"%s\",\"streamThreads\":%d}%n",
            restored, secs, restored / secs, seconds(restores.firstStart.get() - start), restores.ended.get(),
            s.applicationId(), s.threads());
        System.out.flush();
        close(streams);
        return 0;
      }
      if (now - lastPrint >= 5_000_000_000L) {
        log("%6.1f s  %-11s  restored %9d of %d  (%d of %d store partitions done)",
            seconds(now - start), state, restores.restored.sum(), restores.toRestore.get(),
            restores.ended.get(), restores.started.get());
        lastPrint = now;
      }
      if (now - start > TimeUnit.SECONDS.toNanos(s.timeoutSeconds())) {
        log("timed out after %d s", s.timeoutSeconds());
        close(streams);
        return 1;
      }
    }
  }

  /** Counts what the restore listener reports, over all stores and partitions. */
  static final class RestoreCounter implements StateRestoreListener {
    final Set<String> active = ConcurrentHashMap.newKeySet();
    final AtomicLong firstStart = new AtomicLong();
    final AtomicLong started = new AtomicLong();
    final AtomicLong ended = new AtomicLong();
    final AtomicLong toRestore = new AtomicLong();
    final LongAdder restored = new LongAdder();

    private static String id(TopicPartition tp, String store) {
      return store + "@" + tp;
    }

    @Override
    public void onRestoreStart(TopicPartition tp, String store, long startingOffset, long endingOffset) {
      firstStart.compareAndSet(0, System.nanoTime());
      active.add(id(tp, store));
      started.incrementAndGet();
      toRestore.addAndGet(Math.max(0, endingOffset - startingOffset));
    }

    @Override
    public void onBatchRestored(TopicPartition tp, String store, long batchEndOffset, long numRestored) {
      restored.add(numRestored);
    }

    @Override
    public void onRestoreEnd(TopicPartition tp, String store, long totalRestored) {
      active.remove(id(tp, store));
      ended.incrementAndGet();
    }

    @Override
    public void onRestoreSuspended(TopicPartition tp, String store, long totalRestored) {
      active.remove(id(tp, store));
    }
  }

  // ---- run --------------------------------------------------------------------------------------

  static void run(Settings s, Topology topology) throws Exception {
    try (Admin admin = Admin.create(s.adminConfig())) {
      createTopics(admin, s);
    }
    KafkaStreams streams = newStreams(s, topology);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> close(streams)));
    streams.start();
    Thread.currentThread().join();
  }

  // ---- helpers ----------------------------------------------------------------------------------

  static KafkaStreams newStreams(Settings s, Topology topology) {
    KafkaStreams streams = new KafkaStreams(topology, s.streamsConfig());
    streams.setUncaughtExceptionHandler(e -> {
      log("stream thread failed: %s", e);
      return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    return streams;
  }

  /** Closes and leaves the group, so the next run does not wait for this member's session to expire. */
  static void close(KafkaStreams streams) {
    streams.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
        .withTimeout(Duration.ofSeconds(30)));
  }

  static boolean stopped(KafkaStreams.State state) {
    return state == KafkaStreams.State.ERROR || state == KafkaStreams.State.NOT_RUNNING
        || state == KafkaStreams.State.PENDING_ERROR || state == KafkaStreams.State.PENDING_SHUTDOWN;
  }

  /**
   * Waits (before the clock starts) until the group has no members: a member left behind by a
   * killed run would otherwise hold the rebalance until its session times out (45 s).
   */
  static boolean waitForEmptyGroup(Admin admin, Settings s) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    boolean said = false;
    while (true) {
      ConsumerGroupDescription group;
      try {
        group = admin.describeConsumerGroups(List.of(s.applicationId())).all().get().get(s.applicationId());
      } catch (ExecutionException e) {
        if (e.getCause() instanceof GroupIdNotFoundException) return true;
        throw e;
      }
      if (group == null || group.members().isEmpty()) return true;
      if (!said) {
        log("the group %s still has %d member(s) (a previous run?): waiting for them to leave or time out",
            s.applicationId(), group.members().size());
        said = true;
      }
      if (System.nanoTime() > deadline) {
        log("the group %s still has members after 120 s: is another instance running?", s.applicationId());
        return false;
      }
      TimeUnit.SECONDS.sleep(1);
    }
  }

  /** Deletes this application's local state (every task directory, checkpoints included). */
  static void wipeLocalState(Settings s) throws IOException {
    Path dir = Path.of(s.stateDir(), s.applicationId());
    if (!Files.exists(dir)) return;
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
    }
    log("deleted the local state in %s", dir);
  }

  /** The output topic (compacted, like the Node service's) and the dead-letter topic, if missing. */
  static void createTopics(Admin admin, Settings s) throws Exception {
    List<NewTopic> topics = new ArrayList<>();
    topics.add(new NewTopic(s.outputTopic(), s.topicPartitions(), (short) 1)
        .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT)));
    topics.add(new NewTopic(s.deadLetterTopic(), s.topicPartitions(), (short) 1));
    for (NewTopic topic : topics) {
      try {
        admin.createTopics(List.of(topic)).all().get();
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof TopicExistsException)) throw e;
      }
    }
  }

  /** Every partition the topology reads: the CDC topics and its repartition topics. */
  static Set<TopicPartition> inputPartitions(Admin admin, Settings s, Topology topology) throws Exception {
    Set<String> cdc = new HashSet<>(s.cdcTopics());
    Map<String, TopicDescription> described = admin.describeTopics(cdc).allTopicNames().get();
    int partitions = described.values().iterator().next().partitions().size();
    Set<TopicPartition> result = new HashSet<>();
    for (TopicDescription d : described.values()) {
      if (d.partitions().size() != partitions) {
        throw new IllegalStateException("the CDC topics are not co-partitioned: " + described);
      }
      d.partitions().forEach(p -> result.add(new TopicPartition(d.name(), p.partition())));
    }
    // Repartition topics have as many partitions as the topics that feed them.
    for (TopologyDescription.Subtopology sub : topology.describe().subtopologies()) {
      for (TopologyDescription.Node node : sub.nodes()) {
        if (node instanceof TopologyDescription.Source source && source.topicSet() != null) {
          for (String topic : source.topicSet()) {
            if (cdc.contains(topic)) continue;
            String name = topic.startsWith(s.applicationId() + "-") ? topic : s.applicationId() + "-" + topic;
            for (int p = 0; p < partitions; p++) result.add(new TopicPartition(name, p));
          }
        }
      }
    }
    return result;
  }

  static Map<TopicPartition, OffsetAndMetadata> committedOffsets(Admin admin, String group) throws Exception {
    Map<TopicPartition, OffsetAndMetadata> result = new HashMap<>();
    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().forEach((tp, o) -> {
      if (o != null) result.put(tp, o);
    });
    return result;
  }

  /** read_committed offsets: the end is the last stable offset, past the last commit marker. */
  static Map<TopicPartition, Long> offsets(Admin admin, Set<TopicPartition> tps, OffsetSpec spec) throws Exception {
    Map<TopicPartition, OffsetSpec> request = new HashMap<>();
    for (TopicPartition tp : tps) request.put(tp, spec);
    Map<TopicPartition, ListOffsetsResultInfo> info =
        admin.listOffsets(request, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().get();
    Map<TopicPartition, Long> result = new HashMap<>();
    info.forEach((tp, i) -> result.put(tp, i.offset()));
    return result;
  }

  static double seconds(long nanos) {
    return nanos / 1e9;
  }

  static void log(String format, Object... args) {
    System.err.printf(Locale.ROOT, "[ks-java] " + format + "%n", args);
    System.err.flush();
  }
}
