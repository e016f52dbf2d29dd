#!/usr/bin/env bash
# `npm run demo`: brings up the local stack and shows a change flowing from
# PostgreSQL through Debezium into Kafka. (The service itself comes next.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-deps.sh
bash stack/stack.sh up
node --import tsx scripts/smoke-pipeline.ts
