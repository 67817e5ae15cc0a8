#!/usr/bin/env bash
# Builds release and sanitizer trees and runs every test (unit + integration) in both,
# then the fuzz targets (tests/fuzz, clang) for SSE_GATEWAY_FUZZ_SECONDS (30) each.
# Exits non-zero if either run fails; ctest's summary is the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# podman and friends for deploy.container; without them that one test skips, saying so.
bash scripts/install-deps.sh container \
  || echo "test.sh: could not install the container packages; deploy.container will skip" >&2
# A formatting slip fails the run at the end, after every test has run.
format_status=0
bash scripts/check-format.sh || format_status=1
bash scripts/build.sh release
bash scripts/build.sh asan
bash scripts/build.sh fuzz

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

status=$format_status
echo "== release tests ==" >&2
ctest --test-dir build --output-on-failure || status=1
echo "== fuzz targets ==" >&2
ctest --test-dir build-fuzz --output-on-failure || status=1
# The sanitizer run goes last so its summary ends the output; the release
# verdict is folded into the exit status.
echo "== asan tests ==" >&2
ctest --test-dir build-asan --output-on-failure || status=1
exit "$status"
