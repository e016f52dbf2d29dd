#!/usr/bin/env bash
# `npm test`: the whole suite. Installs what is missing, starts the local
# stack if it is not up (it is left running), checks types and lint, then runs
# the unit and integration tests, then the engine's tests on the other Kafka
# client (kafkajs; platformatic is the default). The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tap
summary=.tap/summary.txt
fail() { echo "$1"; echo "0 passed, 1 failed" | tee "$summary"; exit 1; }

bash scripts/ensure-node-deps.sh || fail "[test] installing npm packages failed"
bash stack/stack.sh up || fail "[test] the local stack did not come up"
# The Java reference (bench/kafka-streams-java) builds while types, lint and unit tests run, so the
# first differential test does not wait for it (its run.sh builds it when missing or stale). The stack
# is not started beside them too: on two cores that made them slower by more than it saved.
(
  cd bench/kafka-streams-java &&
    if [[ ! -f target/kafka-streams-uis.jar || -n "$(find src pom.xml -newer target/kafka-streams-uis.jar -print -quit)" ]]; then
      mvn -q -B package -DskipTests
    fi
) >.tap/java-build.log 2>&1 &
java_build=$!
phase_started=$(date +%s)
phase() { echo "[test] $1 in $(($(date +%s) - phase_started)) s"; phase_started=$(date +%s); }
npx tsc -p tsconfig.json --noEmit || fail "[test] type errors"
npm run -s lint || fail "[test] lint or formatting errors (npm run format fixes formatting)"
# The API reference (dist/api) builds from the doc comments without a warning: every type the public
# API mentions is exported and every link resolves.
npm run -s docs:api >/dev/null || fail "[test] the API reference has warnings (npm run docs:api shows them)"
phase 'types, lint and the API reference'

whole=$(($# == 0))
runs=()
status=0
if ((whole)); then
  # The unit tests share nothing (no stack, no ports they do not choose), so two run at a time; the
  # integration tests share the stack's database and topics, so one at a time (.taprc).
  npx tap --jobs 2 test/unit 2>&1 | tee .tap/last-run-unit.tap
  ((PIPESTATUS[0] == 0)) || status=1
  runs+=(.tap/last-run-unit.tap)
  phase 'unit tests'
  set -- test/integration bench/baselines/baselines.test.ts
fi
wait "$java_build" || { tail -n 30 .tap/java-build.log; fail "[test] building the Java reference failed"; }
npx tap "$@" 2>&1 | tee .tap/last-run.tap
((PIPESTATUS[0] == 0)) || status=1
runs+=(.tap/last-run.tap)
phase 'tests'

# The whole suite runs the engine's tests once more on the other Kafka client (decisions 0010, 0012):
# every test that runs the engine, the churn test on the default guarantee.
if ((whole)); then
  echo "[test] the engine's tests on the kafkajs Kafka client"
  UIS_KAFKA_CLIENT=kafkajs CHURN_GUARANTEES=exactly_once_v2 npx tap \
    test/integration/churn.test.ts test/integration/service-oracle.test.ts test/integration/service-replica.test.ts \
    test/integration/streams-*.test.ts 2>&1 | tee .tap/last-run-kafkajs.tap
  ((PIPESTATUS[0] == 0)) || status=1
  runs+=(.tap/last-run-kafkajs.tap)
  phase "the engine's tests on kafkajs"
fi
node scripts/tap-summary.mjs "${runs[@]}" | tee "$summary"
exit "$status"
