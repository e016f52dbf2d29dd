#!/usr/bin/env bash
# Builds bench/tools/sched-slice.c with the system's C compiler into bench/.tools/bin when the source is
# newer than the binary, and prints the binary's path.
set -euo pipefail
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN_DIR="$TOOLS/../.tools/bin"
mkdir -p "$BIN_DIR"
if [[ ! -x $BIN_DIR/sched-slice || $TOOLS/sched-slice.c -nt $BIN_DIR/sched-slice ]]; then
  command -v cc >/dev/null || { echo "sched-slice needs a C compiler (cc)" >&2; exit 1; }
  cc -O2 -o "$BIN_DIR/sched-slice" "$TOOLS/sched-slice.c"
fi
echo "$(cd "$BIN_DIR" && pwd)/sched-slice"
