#!/usr/bin/env bash
# Fails when a product source file (gateway/, common/) does not match .clang-format.
# scripts/test.sh runs it first; `scripts/check-format.sh --fix` rewrites the files.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find gateway common -type f \( -name '*.cpp' -o -name '*.hpp' \) | sort)
if [[ ${1:-} == --fix ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run -Werror "${files[@]}"; then
  echo "check-format: the files above do not match .clang-format; run scripts/check-format.sh --fix" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files match .clang-format" >&2
