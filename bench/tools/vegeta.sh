#!/usr/bin/env bash
# Installs vegeta (the open-loop HTTP load generator the benchmarks use) with `go install`, once, into
# bench/.tools/bin, and prints its path. Needs Go (https://go.dev/dl/); the module proxy serves it.
set -euo pipefail
VERSION=v12.13.0
BIN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/bin"
# `go install` leaves -version empty, so the version is kept in a file beside the binary.
if [[ ! -x $BIN_DIR/vegeta || "$(cat "$BIN_DIR/vegeta.version" 2>/dev/null)" != "$VERSION" ]]; then
  command -v go >/dev/null || { echo "vegeta needs Go to install: https://go.dev/dl/" >&2; exit 1; }
  echo "installing vegeta $VERSION into $BIN_DIR (go install)" >&2
  GOBIN="$BIN_DIR" go install "github.com/tsenart/vegeta/v12@$VERSION" >&2
  echo "$VERSION" > "$BIN_DIR/vegeta.version"
fi
echo "$BIN_DIR/vegeta"
