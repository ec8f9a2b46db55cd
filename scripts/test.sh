#!/usr/bin/env bash
# Installs what Manta needs, builds everything (warnings are errors) and runs the whole test suite.
# Usage: scripts/test.sh   (from any directory)
# MANTA_CTEST_ARGS: extra arguments appended to ctest, e.g. MANTA_CTEST_ARGS="-L unit".
# Exit status: ctest's.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

# Open MPI refuses to start as root unless told it may (containers, CI machines).
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMANTA_WERROR=ON
cmake --build build -j"$(nproc)"

# Split MANTA_CTEST_ARGS on whitespace into separate arguments.
read -r -a extra_args <<<"${MANTA_CTEST_ARGS:-}"

status=0
ctest --test-dir build --output-on-failure --timeout 300 -j2 "${extra_args[@]}" || status=$?
exit "$status"
