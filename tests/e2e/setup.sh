#!/usr/bin/env bash
# Installs the browser test's npm packages (playwright-core only: it drives Debian's
# /usr/bin/chromium and never downloads a browser) into tests/e2e/node_modules, with
# `npm ci` from the committed package-lock.json. Skipped when node_modules already
# matches the lock file. The ctest fixture e2e.setup runs it.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v npm >/dev/null 2>&1; then
  echo "e2e setup: npm not found (scripts/install-deps.sh installs Node.js and npm)" >&2
  exit 1
fi

# npm ci leaves a copy of the lock file it installed in node_modules/.package-lock.json;
# comparing the package entries tells whether the install is current.
current() {
  [[ -f node_modules/.package-lock.json ]] || return 1
  /usr/bin/python3 - <<'PY'
import json, sys
lock = json.load(open("package-lock.json"))["packages"]
have = json.load(open("node_modules/.package-lock.json"))["packages"]
want = {k: v.get("version") for k, v in lock.items() if k}
got = {k: v.get("version") for k, v in have.items() if k}
sys.exit(0 if want == got else 1)
PY
}

if current; then
  echo "e2e setup: node_modules is current" >&2
  exit 0
fi
# No browser download, whatever a package's install script would like to do.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund --loglevel=error
