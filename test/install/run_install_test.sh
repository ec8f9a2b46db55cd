#!/usr/bin/env bash
# Proves the installed CMake package works: installs BUILD_DIR into a temporary prefix, builds the
# out-of-tree consumer in test/install/consumer against it with find_package(Manta), and runs it on
# 2 MPI ranks.
# Usage: run_install_test.sh BUILD_DIR SOURCE_DIR
# Optional environment: MANTA_INSTALL_TEST_TIMEOUT (seconds for the mpirun step, default 120),
#                       MANTA_INSTALL_TEST_KEEP=1 (keep the temporary directory even on success).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi

build_dir="$(cd "$1" && pwd)"
source_dir="$(cd "$2" && pwd)"
consumer_src="$source_dir/test/install/consumer"
expected="consumer ok: 49 ranks=2"
run_timeout="${MANTA_INSTALL_TEST_TIMEOUT:-120}"

if [ ! -f "$consumer_src/CMakeLists.txt" ]; then
  echo "install test: FAILED: no consumer project at $consumer_src" >&2
  exit 1
fi

# Open MPI refuses to start as root unless told it may (containers, CI machines).
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

tmp="$(mktemp -d "$build_dir/install-test-XXXXXX")"
prefix="$tmp/prefix"
consumer_build="$tmp/build"

fail() {
  echo "install test: FAILED: $1" >&2
  echo "install test: files kept in $tmp" >&2
  exit 1
}

echo "install test: installing $build_dir into $prefix"
cmake --install "$build_dir" --prefix "$prefix" ||
  fail "cmake --install $build_dir --prefix $prefix"

echo "install test: configuring the consumer against $prefix"
cmake -S "$consumer_src" -B "$consumer_build" -DCMAKE_PREFIX_PATH="$prefix" ||
  fail "configuring the consumer (find_package(Manta) with CMAKE_PREFIX_PATH=$prefix)"

echo "install test: building the consumer"
cmake --build "$consumer_build" -j"$(nproc)" ||
  fail "building the consumer against the installed Manta"

consumer_exe="$consumer_build/consumer"
[ -x "$consumer_exe" ] || fail "the consumer build produced no executable at $consumer_exe"

echo "install test: running the consumer on 2 ranks"
status=0
output="$(timeout "$run_timeout" mpirun --oversubscribe -n 2 "$consumer_exe" 2>&1)" || status=$?
printf '%s\n' "$output"
if [ "$status" -eq 124 ]; then
  fail "the consumer did not finish within ${run_timeout}s under mpirun -n 2"
elif [ "$status" -ne 0 ]; then
  fail "the consumer exited with status $status under mpirun -n 2"
fi
if ! grep -qF "$expected" <<<"$output"; then
  fail "the consumer's output lacks '$expected'"
fi

if [ "${MANTA_INSTALL_TEST_KEEP:-0}" = 1 ]; then
  echo "install test: files kept in $tmp"
else
  rm -rf "$tmp"
fi
echo "install test: passed"
