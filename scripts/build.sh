#!/usr/bin/env bash
# Configures and builds sse-gateway.
#   scripts/build.sh [release]  -> build/       (RelWithDebInfo)
#   scripts/build.sh asan       -> build-asan/  (Debug, AddressSanitizer + UBSan)
# Extra arguments after the mode are passed to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-release}
[[ $# -gt 0 ]] && shift
case $mode in
  release) dir=build;      flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan)    dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DSSE_GATEWAY_SANITIZE=ON) ;;
  *) echo "usage: $0 [release|asan] [cmake args...]" >&2; exit 2 ;;
esac

cmake -S . -B "$dir" "${flags[@]}" "$@"
cmake --build "$dir" -j"$(nproc)"
