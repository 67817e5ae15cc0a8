#!/usr/bin/env bash
# Builds the fuzz targets (scripts/build.sh fuzz -> build-fuzz/) and runs each for
# longer than CI does, one after another (one core each: -jobs is never used).
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     default: 600 s, every target
# The corpus grows across runs in $SSE_GATEWAY_FUZZ_WORK/<target>/corpus (default
# ~/.cache/sse-gateway-fuzz), seeded from tests/fuzz/corpus/<target>/; the repository
# is not written to. To keep what a long run found as seeds, minimise it into the
# checked-in corpus by hand:
#   build-fuzz/tests/fuzz/fuzz_jwt -merge=1 tests/fuzz/corpus/jwt "$SSE_GATEWAY_FUZZ_WORK/jwt/corpus"
# A finding stops that target: its input is kept (see run_target.sh) and the
# script exits non-zero after the remaining targets ran.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

seconds=${1:-600}
[[ $# -gt 0 ]] && shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(jwt rails_cookie key_set payload_frame config http_head)
work=${SSE_GATEWAY_FUZZ_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/sse-gateway-fuzz}

bash "$root/scripts/build.sh" fuzz >/dev/null
# The input size each target is run with: its ctest's, from CTestTestfile.cmake.
max_len() {
  sed -n "s|.*add_test(\[=\[fuzz\.$1\]=\].*corpus/$1\" \"\([0-9]*\)\".*|\1|p" \
    "$root/build-fuzz/tests/fuzz/CTestTestfile.cmake"
}

status=0
for t in "${targets[@]}"; do
  len=$(max_len "$t")
  [[ -n $len ]] || { echo "run.sh: no fuzz target '$t'" >&2; exit 2; }
  echo "== fuzz_$t: $seconds s, max_len $len, corpus $work/$t/corpus" >&2
  mkdir -p "$work/$t"
  start=$(date +%s)
  bash "$here/run_target.sh" "$root/build-fuzz/tests/fuzz/fuzz_$t" "$here/corpus/$t" "$len" "$seconds" \
    "$work/$t" || status=1
  echo "   $(( $(date +%s) - start )) s, corpus now $(ls "$work/$t/corpus" | wc -l) inputs" >&2
done
exit "$status"
