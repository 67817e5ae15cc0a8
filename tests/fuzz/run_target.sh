#!/usr/bin/env bash
# Runs one fuzz target for a bounded time on a temporary copy of its seed corpus:
# the ctest command of fuzz.<name> (tests/fuzz/CMakeLists.txt) and run.sh's step.
#   run_target.sh BINARY SEED_DIR MAX_LEN SECONDS [WORK_DIR]
# SSE_GATEWAY_FUZZ_SECONDS overrides SECONDS. Without WORK_DIR the corpus lives in
# a temp dir that is removed afterwards; with one, WORK_DIR/corpus keeps growing
# across runs. Exit status: libFuzzer's (non-zero on any finding). A finding's
# input is printed (hex) and kept in $SSE_GATEWAY_ARTIFACTS, else in a temp dir
# whose path is printed. The repository is never written to.
set -euo pipefail

if [[ $# -lt 4 ]]; then
  echo "usage: $0 BINARY SEED_DIR MAX_LEN SECONDS [WORK_DIR]" >&2
  exit 2
fi
binary=$1 seeds=$2 max_len=$3 seconds=${SSE_GATEWAY_FUZZ_SECONDS:-$4} work=${5:-}
name=$(basename "$binary")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sse-gateway-$name.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [[ -z $work ]]; then
  work=$tmp
fi
mkdir -p "$work/corpus" "$tmp/artifacts"
cp -n "$seeds"/* "$work/corpus/" 2>/dev/null || true

status=0
"$binary" -max_total_time="$seconds" -max_len="$max_len" -timeout=25 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$tmp/artifacts/" "$work/corpus" \
  >"$tmp/log" 2>&1 || status=$?

# The coverage line and the final stats, not the whole log (unless it failed).
if [[ $status -eq 0 ]]; then
  grep -E '^#[0-9]+.*(DONE|INITED)|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
    "$tmp/log" || true
  exit 0
fi

tail -n 80 "$tmp/log"
keep=${SSE_GATEWAY_ARTIFACTS:-$(mktemp -d "${TMPDIR:-/tmp}/sse-gateway-fuzz-finding.XXXXXX")}
mkdir -p "$keep"
for f in "$tmp"/artifacts/*; do
  [[ -e $f ]] || continue
  cp "$f" "$keep/$name-$(basename "$f")"
  echo "== finding: $keep/$name-$(basename "$f") ($(wc -c <"$f") bytes); reproduce: $binary $keep/$name-$(basename "$f")"
  head -c 512 "$f" | od -An -c | head -n 20
done
exit "$status"
