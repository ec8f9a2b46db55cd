#!/usr/bin/env bash
# Every C++ file in the tree follows .clang-format.
set -eu
cd "$1"
if ! command -v clang-format >/dev/null; then
  echo "clang-format is not installed: run scripts/install-deps.sh"
  exit 1
fi
# Outside a git checkout (an unpacked archive), build folders hold CMake's generated sources.
mapfile -t files < <(git ls-files '*.cpp' '*.h' 2>/dev/null ||
  find . \( -path './build*' -o -path './.*' \) -prune -o \( -name '*.cpp' -o -name '*.h' \) -print)
clang-format --dry-run --Werror "${files[@]}"
echo "${#files[@]} files formatted as .clang-format says"
