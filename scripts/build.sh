#!/usr/bin/env bash
# Configures and builds sse-gateway.
#   scripts/build.sh [release]  -> build/       (RelWithDebInfo)
#   scripts/build.sh asan       -> build-asan/  (Debug, AddressSanitizer + UBSan)
#   scripts/build.sh fuzz       -> build-fuzz/  (clang, -O1, libFuzzer targets in tests/fuzz, ASan + UBSan)
# Extra arguments after the mode are passed to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-release}
targets=()
[[ $# -gt 0 ]] && shift
case $mode in
  # Tests on, also in a tree scripts/run.sh configured without them.
  release) dir=build;      flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSE_GATEWAY_TESTS=ON) ;;
  asan)    dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DSSE_GATEWAY_SANITIZE=ON) ;;
  # Asserts stay on (no NDEBUG); only the fuzz targets and the libraries they test are built.
  fuzz)    dir=build-fuzz; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g"
                                  -DCMAKE_CXX_COMPILER=clang++ -DSSE_GATEWAY_FUZZ=ON -DSSE_GATEWAY_TESTS=OFF)
           targets=(--target fuzz_all) ;;
  *) echo "usage: $0 [release|asan|fuzz] [cmake args...]" >&2; exit 2 ;;
esac

cmake -S . -B "$dir" "${flags[@]}" "$@"
cmake --build "$dir" -j"$(nproc)" "${targets[@]}"
