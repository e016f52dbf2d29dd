#!/usr/bin/env bash
# Installs the project's npm packages when node_modules is missing or older than the lock file,
# and applies patches/ again when one of them changed since.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[deps] npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.patches-applied
fi
for patch in patches/*.patch; do
  if [[ ! -f node_modules/.patches-applied || "$patch" -nt node_modules/.patches-applied ]]; then
    echo "[deps] patch-package (patches/ changed)"
    npx patch-package --error-on-fail >/dev/null
    touch node_modules/.patches-applied
    break
  fi
done
