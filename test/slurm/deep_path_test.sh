#!/usr/bin/env bash
# The test cluster started from a deep build directory, as HPC users build on parallel file
# systems (/scratch/<project>/<user>/builds/manta-<commit>/build): Slurm's unix sockets (the
# slurmstepd socket in the spool directory, munge's, PMIx's) must still fit the 108-byte limit,
# and a job that Slurm cannot start must fail at once with the reason, not after minutes.
# Usage: deep_path_test.sh BUILD_DIR SOURCE_DIR
set -uo pipefail

build=$(cd "${1:?usage: deep_path_test.sh BUILD_DIR SOURCE_DIR}" && pwd)
src=$(cd "${2:?usage: deep_path_test.sh BUILD_DIR SOURCE_DIR}" && pwd)
PATH=$PATH:/usr/sbin:/sbin

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: slurmd must run as root to start jobs; run the slurm tests as root"
  exit 77
fi
if ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  echo "SKIP: slurm-wlm and munge are not installed (apt-get install slurm-wlm munge)"
  exit 77
fi

# As deep as a build directory of a scratch file system, 40-hex commit included.
work=$build/slurm-deep/scratch/project0001/someuser/builds/manta-0123456789abcdef0123456789abcdef01234567/build
rm -rf "$build/slurm-deep"
mkdir -p "$work"
cd "$work" || exit 1
echo "work directory: $work (${#work} characters)"
trap 'bash "$src/test/slurm/slurm_cluster.sh" stop "$work/cluster"' EXIT
setup=$(bash "$src/test/slurm/slurm_cluster.sh" start "$work/cluster")
case $? in
  0) ;;
  77) echo "SKIP: the test cluster cannot be set up on this machine (see above)"; exit 77 ;;
  *) echo "FAIL: the test cluster did not start from $work"; exit 1 ;;
esac
eval "$setup"
source "$src/test/slurm/submit.sh"

# A job step on each node: slurmstepd makes its socket in the node's spool directory.
export MANTA_SLURM_JOB_TIMEOUT=90
start=$SECONDS
submit --nodes=2 --ntasks-per-node=1 --output="$work/steps.out" --wrap "srun hostname"
code=$?
took=$((SECONDS - start))
if [ "$code" -ne 0 ]; then
  echo "FAIL: a job from the deep directory ended with code $code after $took s"
  sed 's/^/    | /' "$work/steps.out" 2>/dev/null
  exit 1
fi
lines=$(wc -l <"$work/steps.out")
if [ "$lines" -ne 2 ]; then
  echo "FAIL: wanted one line from each of 2 steps, got:"
  sed 's/^/    | /' "$work/steps.out"
  exit 1
fi
echo "PASS: a 2-node job ran from a ${#work}-character build directory in $took s"
