#!/usr/bin/env bash
# Installs what Manta needs, builds the demo and runs it on 4 MPI ranks.
# Usage: scripts/demo.sh   (from any directory)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

# Open MPI refuses to start as root unless told it may (containers, CI machines).
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --target manta_demo -j"$(nproc)"
mpirun --oversubscribe -n 4 build/examples/manta_demo
