#!/usr/bin/env bash
# Why a niced engine thread still delays answers on a shared core: the fixed-answer floor
# (bench/baselines/floor-service.ts) on core 0 at 1k req/s (vegeta from core 1, 20 s a phase), alone and
# beside a stand-in for the engine that works in bursts (busy 3 ms, then sleeps 10 ms) at nice 19, at
# SCHED_IDLE, and at nice 19 with the floor's thread given a 0.1 ms slice (bench/tools/sched-slice.c).
# Needs Linux 6.12+ for the slice, a C compiler, Go (for vegeta). No stack needed. About 2 minutes.
#
#   bash bench/experiments/wakeup-preemption.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
VEGETA=$(bash bench/tools/vegeta.sh)
SLICE=$(bash bench/tools/sched-slice.sh)
PORT=${PORT:-3798}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# The stand-in: busy-waits BUSY ms, sleeps REST ms, forever (killed at the end of its phase).
cat > "$work/bursty.js" <<'JS'
const [busy, rest] = process.argv.slice(2).map(Number);
const tick = () => { const end = performance.now() + busy; while (performance.now() < end); setTimeout(tick, rest); };
tick();
JS
taskset -c 0 node --import tsx bench/baselines/floor-service.ts --port "$PORT" > "$work/floor.log" 2>&1 &
floor=$!
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/users/1" && break; sleep 0.2; done
for i in $(seq 1 20000); do echo "GET http://127.0.0.1:$PORT/users/$((1000000000000 + i * 37 % 5000))"; done > "$work/targets"
phase() {
  printf '%-58s ' "$1"
  taskset -c 1 "$VEGETA" attack -rate 1000/s -duration 20s -targets "$work/targets" |
    taskset -c 1 "$VEGETA" report | awk '/^Latencies/ {gsub(",", ""); print "p50", $(NF-4), "p95", $(NF-2), "p99", $(NF-1), "max", $NF}'
}
neighbour=
start_neighbour() { taskset -c 0 "$@" node "$work/bursty.js" 3 10 & neighbour=$!; sleep 1; }
stop_neighbour() { kill "$neighbour"; wait "$neighbour" 2>/dev/null || true; }
phase "warm-up" > /dev/null
phase "floor alone"
start_neighbour nice -n 19; phase "bursty neighbour at nice 19"; stop_neighbour
start_neighbour chrt -i 0; phase "bursty neighbour at SCHED_IDLE"; stop_neighbour
"$SLICE" "$floor" 100000 > /dev/null
start_neighbour nice -n 19; phase "bursty neighbour at nice 19, floor's slice 0.1 ms"; stop_neighbour
