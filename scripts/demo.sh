#!/usr/bin/env bash
# `npm run demo`: the whole thing on one machine. Brings up the local stack,
# loads demo data into PostgreSQL, builds the service, and runs two instances
# (HTTP on 127.0.0.1:3000 and :3001) until Ctrl-C, which stops them cleanly.
# `npm run stack:down` stops the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
PORTS=(${UIS_DEMO_PORTS:-3000 3001})

bash scripts/ensure-node-deps.sh
bash stack/stack.sh up
node --import tsx scripts/load-demo-data.ts
echo "[demo] building"
npm run -s build

mkdir -p .uis-state/logs
# glibc's malloc settings, as the Dockerfile sets them (docs/operations.md, Memory).
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-131072}"
pids=()
for port in "${PORTS[@]}"; do
  node dist/src/cli/main.js run --port "$port" --state-dir ".uis-state/instance-$port" --lineage on \
    --connect-url "http://127.0.0.1:${CONNECT_PORT:-8083}" >".uis-state/logs/instance-$port.log" 2>&1 &
  pids+=($!)
  echo "[demo] instance on 127.0.0.1:$port (pid $!, log .uis-state/logs/instance-$port.log)"
done
stop() {
  echo "[demo] stopping the instances"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  echo "[demo] stopped. 'npm run stack:down' stops the local stack."
}
trap stop INT TERM

started=$(date +%s)
for port in "${PORTS[@]}"; do
  until curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null; do
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "[demo] an instance exited; see .uis-state/logs/"; stop; exit 1; }; done
    if (( $(date +%s) - started > 300 )); then echo "[demo] not ready after 300 s; see .uis-state/logs/"; stop; exit 1; fi
    sleep 1
  done
done
echo "[demo] ready in $(( $(date +%s) - started ))s. Try:"
cat <<TRY
  curl -i http://127.0.0.1:${PORTS[0]}/users/1000000000001        # the celebrity, followed by most users
  curl -i http://127.0.0.1:${PORTS[1]}/users/1000000000001        # same answer from the other instance (one of them forwards)
  curl -i http://127.0.0.1:${PORTS[0]}/users/9007199254740993     # an id above 2^53, exact
  curl -s http://127.0.0.1:${PORTS[0]}/users/1000000000001/lineage  # which source change last moved the row and each count
  curl -s 'http://127.0.0.1:${PORTS[0]}/users/1000000000001/activity?hours=3'  # how the tweet count changed per hour (a windowed view)
  curl -s 'http://127.0.0.1:${PORTS[0]}/stores/user-information/range?limit=3'  # any store of the view's tasks: a page of rows from every instance
  curl -s http://127.0.0.1:${PORTS[1]}/stores/follower-count/keys/1000000000001  # one count, from its owner
  curl -i http://127.0.0.1:${PORTS[0]}/users/1                    # 404: no such user
  curl -i http://127.0.0.1:${PORTS[0]}/users/abc                  # 400: not an id
  curl -s http://127.0.0.1:${PORTS[0]}/health/ready
  curl -s http://127.0.0.1:${PORTS[0]}/metrics | grep uis_http
  psql postgresql://uis:uis@127.0.0.1:${PG_PORT:-5432}/twitter -c "UPDATE users SET name = 'Renamed' WHERE user_id = 1000000000001"
TRY
echo "[demo] and read-your-writes: the demo just renamed the celebrity; this answers only once the view has it:"
node --import tsx scripts/demo-write.ts "${PORTS[1]}"
echo "[demo] Ctrl-C stops the instances."
wait "${pids[@]}"
