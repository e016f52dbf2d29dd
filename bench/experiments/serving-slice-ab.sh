#!/usr/bin/env bash
# Does a short scheduler slice for the serving thread shorten our HTTP tail? (The floor's did, in
# wakeup-preemption.sh.) One running instance, measured by bench/http-writes.ts --url in rounds, its main
# thread's slice switched between the kernel's (1.4 ms) and 0.1 ms with bench/tools/sched-slice.c before
# each run, so both settings share the process, its caches and the hour. Prints, per run, p50/p95/p99/max
# (ms) without and with writes, and the main thread's run-queue wait (schedstat).
#
# Needs the stack with its data and a running instance: start one (e.g. with the state of a kept
# application) and pass its pid and URL. About 80 s a run.
#
#   bash bench/experiments/serving-slice-ab.sh <pid> <url> [rounds]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
pid=${1:?usage: serving-slice-ab.sh <pid> <url> [rounds]}
url=${2:?usage: serving-slice-ab.sh <pid> <url> [rounds]}
rounds=${3:-3}
SLICE=$(bash bench/tools/sched-slice.sh)
out=$(mktemp -d)
today=$(date -u +%F)
for r in $(seq 1 "$rounds"); do
  for slice in 1400000 100000; do
    "$SLICE" "$pid" "$slice" > /dev/null
    read -r _ wait _ < "/proc/$pid/task/$pid/schedstat"
    node --import tsx bench/http-writes.ts --url "$url" --pid "$pid" --targets ours --seconds 30 --write-rate 50 \
      > "$out/$slice-$r.json" 2> "$out/$slice-$r.log"
    read -r _ wait2 _ < "/proc/$pid/task/$pid/schedstat"
    git checkout -q -- "bench/results/$today-http-writes.json" 2> /dev/null || rm -f "bench/results/$today-http-writes.json"
    node -e '
      const [file, name, waitNs] = process.argv.slice(1);
      const r = JSON.parse(require("fs").readFileSync(file, "utf8")).ours;
      const f = (p) => [r[p].p50, r[p].p95, r[p].p99, r[p].max].map((v) => v.toFixed(2)).join(" ");
      console.log(name.padEnd(18), "no writes", f("noWrites"), "| writes", f("writes"), "| run-queue wait", (Number(waitNs) / 1e9).toFixed(1), "s");
    ' "$out/$slice-$r.json" "slice $((slice / 1000)) us, $r" "$((wait2 - wait))"
  done
done
rm -rf "$out"
