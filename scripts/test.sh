#!/usr/bin/env bash
# `npm test`: the whole suite. Installs what is missing, starts the local
# stack if it is not up (it is left running), checks types and lint, then runs
# the unit and integration tests. The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tap
summary=.tap/summary.txt
fail() { echo "$1"; echo "0 passed, 1 failed" | tee "$summary"; exit 1; }

bash scripts/ensure-node-deps.sh || fail "[test] installing npm packages failed"
bash stack/stack.sh up || fail "[test] the local stack did not come up"
npx tsc -p tsconfig.json --noEmit || fail "[test] type errors"
npm run -s lint || fail "[test] lint or formatting errors (npm run format fixes formatting)"

(($#)) || set -- test/unit test/integration bench/baselines/baselines.test.ts
npx tap "$@" 2>&1 | tee .tap/last-run.tap
status=${PIPESTATUS[0]}
node scripts/tap-summary.mjs .tap/last-run.tap | tee "$summary"
exit "$status"
