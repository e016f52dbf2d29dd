#!/usr/bin/env bash
# The User Information topology on Kafka Streams (Java), measured.
#
#   bench/kafka-streams-java/run.sh process   # throughput from an empty application (use a fresh APPLICATION_ID)
#   bench/kafka-streams-java/run.sh restore   # restore time of that application's stores from their changelogs
#   bench/kafka-streams-java/run.sh run|describe
#   bench/kafka-streams-java/run.sh dsl stateless|tables|stream-table   # a differential test's topology (DslCatalog.java)
#
# Settings (environment): KAFKA_BROKERS (127.0.0.1:9092), CDC_TOPIC_PREFIX (cdc),
# APPLICATION_ID (ks-java-uis; KS_APPLICATION_ID wins when set), OUTPUT_TOPIC (ks-java-user-information),
# STATE_DIR (bench/kafka-streams-java/target/state), STREAM_THREADS (1), TOPIC_PARTITIONS (4, for the
# output and dead-letter topics it creates), TIMEOUT_S (1800), MAX_SECONDS (0: until done; else stop after that long and report the rate so far), ALLOW_COMMITTED_OFFSETS (0),
# JAVA_HEAP (1g), JAVA_OPTS (extra JVM options), STREAMS_CONFIG (k=v,k=v: Kafka Streams overrides).
# Progress goes to stderr; the result is one JSON line on stdout.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JAR="$HERE/target/kafka-streams-uis.jar"
MODE="${1:-process}"

if [[ ! -f "$JAR" || -n "$(find "$HERE/src" "$HERE/pom.xml" -newer "$JAR" -print -quit)" ]]; then
  echo "[ks-java] building $JAR (mvn -q package; missing or older than its sources)" >&2
  (cd "$HERE" && mvn -q -B package -DskipTests) >&2
fi

export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
export CDC_TOPIC_PREFIX="${CDC_TOPIC_PREFIX:-cdc}"
export APPLICATION_ID="${KS_APPLICATION_ID:-${APPLICATION_ID:-ks-java-uis}}"
export OUTPUT_TOPIC="${OUTPUT_TOPIC:-ks-java-user-information}"
export STATE_DIR="${STATE_DIR:-$HERE/target/state}"

if [[ "$MODE" == dsl ]]; then
  # The differential tests' topologies (DslCatalog.java); settings from the environment, see there.
  # shellcheck disable=SC2086 # JAVA_OPTS is a list of options
  exec java -Xmx"${JAVA_HEAP:-512m}" ${JAVA_OPTS:-} -cp "$JAR" uis.bench.DslCatalog "${2:-}"
fi

# shellcheck disable=SC2086 # JAVA_OPTS is a list of options
exec java -Xmx"${JAVA_HEAP:-1g}" ${JAVA_OPTS:-} -jar "$JAR" "$MODE"
