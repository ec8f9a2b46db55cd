#!/usr/bin/env bash
# Installs the Debian 12 packages Manta builds, tests and benchmarks with.
# Idempotent: safe to run again; packages already present are left as they are.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  openmpi-bin libopenmpi-dev           # the cluster: mpirun, MPI library
  libucx-dev ucx-utils                 # data plane (RMA gets)
  libhdf5-openmpi-dev hdf5-tools       # spill files (h5ls/h5dump check them)
  libboost-serialization-dev           # user types on the wire
  libhwloc-dev hwloc                   # cores, NUMA, GPUs
  libgtest-dev libgmock-dev            # unit and multi-rank tests
  libbenchmark-dev                     # microbenchmark helpers
  libfmt-dev libspdlog-dev             # formatting and logging
  libjemalloc-dev                      # the allocator of programs using Manta (many small objects)
  nlohmann-json3-dev                   # JSON for benchmarks, status and traces
  libcli11-dev                         # the manta command's argument parsing
  slurm-wlm munge                      # a real one-node Slurm for the slurm-labelled tests
  python3                              # size-limit check, benchmark reports and comparisons
  python3-mpi4py python3-distributed   # peer engines in bench/peers
  python3-pandas                       # Dask dataframes, the datasets benchmark's peer
  python3-matplotlib                   # plots of the benchmark report
  libtorch-dev                         # the RL example's policy and learner (LibTorch, CPU)
  libcairo2-dev                        # the RL example's learning-curve plot (PNG)
  clang-format
  iproute2                             # ss: tests check that one-node jobs listen on no network port
  procps                               # pkill: tests stop their watchdogs
  clang-14 libclang-rt-14-dev          # fuzz targets (libFuzzer) in scripts/test.sh
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update
"${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
