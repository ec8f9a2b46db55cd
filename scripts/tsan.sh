#!/usr/bin/env bash
# Builds Manta with ThreadSanitizer in build-tsan and runs the unit tests and the 2-rank MPI
# tests under it (slow: not part of scripts/test.sh). Each race or lock-order problem fails its
# test; the end of the output lists every distinct report.
# Usage: scripts/tsan.sh [extra ctest arguments, e.g. -R mpi_tasks]
# Suppressions for the MPI stack: test/sanitizers/tsan.supp.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

build=build-tsan
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMANTA_WERROR=ON -DMANTA_SANITIZE=thread \
  -DMANTA_BUILD_BENCH=OFF -DMANTA_BUILD_EXAMPLES=OFF
cmake --build "$build" -j"$(nproc)"

# TSan needs the usual address-space layout; newer kernels randomise mmap more than it allows.
run=()
if command -v setarch >/dev/null && setarch "$(uname -m)" -R true 2>/dev/null; then
  run=(setarch "$(uname -m)" -R)
fi

# The unit tests get the options here; the MPI tests get them from ctest (MANTA_TEST_ENV).
export TSAN_OPTIONS="suppressions=$repo_root/test/sanitizers/tsan.supp:halt_on_error=0:second_deadlock_stack=1:report_signal_unsafe=0${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
export UCX_MEM_MALLOC_HOOKS=no UCX_MEM_MMAP_HOOK_MODE=none OMPI_MCA_memory=^patcher \
  OMPI_MCA_mca_base_component_disable_dlclose=1

status=0
"${run[@]}" ctest --test-dir "$build" --output-on-failure --timeout 600 -j2 -L unit \
  -E '^(format|readme)\.' -O "$build/tsan-unit.log" "$@" || status=$?
"${run[@]}" ctest --test-dir "$build" --output-on-failure --timeout 600 -j1 -L mpi -R 'np2$' \
  -O "$build/tsan-mpi.log" "$@" || status=$?

echo "== ThreadSanitizer reports in the unit and 2-rank MPI tests (count, distinct SUMMARY line):"
grep -ah 'SUMMARY: ThreadSanitizer' "$build/tsan-unit.log" "$build/tsan-mpi.log" |
  sort | uniq -c | sort -rn || echo "   none"
echo "(full reports: $build/tsan-unit.log, $build/tsan-mpi.log)"
exit "$status"
