#!/usr/bin/env bash
# Installs the Turbo demo page's one npm package (@hotwired/turbo, pinned by the
# committed package-lock.json) into deploy/demo/node_modules, with `npm ci`;
# deploy/demo/nginx.sh copies Turbo from there into the directory nginx serves.
# Skipped when node_modules already holds the locked version. scripts/run.sh and
# the browser test's ctest fixture run it.
set -euo pipefail
cd "$(dirname "$0")"

want=$(/usr/bin/python3 -c 'import json; print(json.load(open("package-lock.json"))["packages"]["node_modules/@hotwired/turbo"]["version"])')
have=$(/usr/bin/python3 -c 'import json; print(json.load(open("node_modules/@hotwired/turbo/package.json"))["version"])' 2>/dev/null || true)
if [[ $have == "$want" && -f node_modules/@hotwired/turbo/dist/turbo.es2017-umd.js ]]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "demo setup: npm not found (scripts/install-deps.sh run installs Node.js and npm)" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error >&2
