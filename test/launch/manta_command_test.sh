#!/usr/bin/env bash
# Whole runs of the manta command on this machine (mpirun): one case per ctest.
# Usage: manta_command_test.sh CASE BUILD_DIR
set -uo pipefail
case_name=${1:?usage: manta_command_test.sh CASE BUILD_DIR}
build=$(cd "${2:?usage: manta_command_test.sh CASE BUILD_DIR}" && pwd)
manta=$build/launch/manta
ex=$build/examples
work=$build/launch-test/$case_name
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1

die() {
  echo "FAILED: $*"
  exit 1
}
# has TEXT PATTERN...: each extended regex is in TEXT.
has() {
  local text=$1
  shift
  for p in "$@"; do grep -Eq -- "$p" <<<"$text" || die "no /$p/ in:
$text"; done
}
# run_fails PATTERN -- ARGS...: manta exits 2 and says PATTERN.
run_fails() {
  local pattern=$1
  shift 2
  local out rc
  out=$("$manta" "$@" 2>&1)
  rc=$?
  [ "$rc" -eq 2 ] || die "manta $* exited $rc, wanted 2: $out"
  has "$out" "$pattern"
}

case "$case_name" in
job_directory)
  # fib(12) on 4 ranks: 465 tasks; the job directory has every rank's log, the summary and events.
  out=$(timeout 120 "$manta" run -n 4 --oversubscribe --job-dir "$work/job" "$ex/manta_fib" 12 \
    --manta-forward-threshold=1 --manta-leases=off 2>&1) || die "manta run failed: $out"
  has "$out" "fib\(12\) = 144 on 4 ranks" "job directory $work/job"
  for r in 0 1 2 3; do
    [ -s "$work/job/rank-$r.log" ] || die "no log of rank $r"
    has "$(cat "$work/job/rank-$r.log")" "^\[20[0-9-]+ [0-9:.]+\] \[manta r$r info\] job [0-9a-f]+: rank $r of 4"
  done
  has "$(cat "$work/job/job.json")" '"exit_code": 0' '"launcher": "mpirun"' '"ranks": 4'
  status=$("$manta" status "$work/job") || die "manta status failed"
  has "$status" "finished +4 ranks" "^ +3 +[a-z0-9-]+ +[0-9]+ " "^ +all .* 465 +465 "
  has "$(cat "$work/job/summary.txt")" "finished +4 ranks" "objects"
  tl=$("$manta" timeline "$work/job" -o "$work/trace.json") || die "manta timeline failed"
  has "$tl" "timeline of 465 tasks from 4 ranks written to $work/trace.json"
  "$build/test/mpi/check_timeline" "$work/trace.json" 465 4 || die "the trace is not right"
  # With no directory named, status and timeline read the newest under the job root.
  MANTA_JOB_ROOT=$work/jobs "$manta" run -n 1 "$ex/manta_fib" 5 >/dev/null 2>&1 || die "second run"
  has "$(MANTA_JOB_ROOT=$work/jobs "$manta" status)" "manta_fib +finished +1 ranks"
  ls "$work"/jobs/manta_fib-20*-* >/dev/null || die "no default job directory name"
  ;;
status_while_running)
  # The status file changes while the job runs, and SIGUSR1 to `manta run` reaches the driver.
  "$manta" run -n 2 --job-dir "$work/job" "$ex/manta_checkpoint_loop" 300 50 \
    --manta-checkpoint-dir="$work/ckpt" --manta-status-interval=0.2 >"$work/out" 2>&1 &
  pid=$!
  seen=""
  for _ in $(seq 200); do
    if [ -f "$work/job/status.json" ] && grep -q '"state": "running"' "$work/job/status.json"; then
      s=$("$manta" status "$work/job")
      # Both ranks have reported and host the example's actors.
      if grep -Eq "^ +1 " <<<"$s" && ! grep -q "no report yet" <<<"$s" &&
        [ "$(grep -Ec '"actors": [1-9]' "$work/job/status.json")" -eq 2 ]; then
        seen=$s
        break
      fi
    fi
    sleep 0.1
  done
  [ -n "$seen" ] || die "status.json never showed both ranks hosting actors"
  has "$seen" "running +2 ranks" "updated [0-9.]+ s ago"
  # --watch prints the table again until the job ends.
  "$manta" status --watch 0.2 "$work/job" >"$work/watch" 2>&1 &
  watcher=$!
  before=$(grep -o '"updated_ms": [0-9]*' "$work/job/status.json")
  sleep 1
  after=$(grep -o '"updated_ms": [0-9]*' "$work/job/status.json")
  [ "$before" != "$after" ] || die "status.json was not refreshed ($before)"
  kill -USR1 "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" -eq 75 ] || die "the job ended with $rc after the checkpoint signal, not 75: $(cat "$work/out")"
  has "$(cat "$work/out")" "manta: checkpoint signal: 4 actors, 0 objects and the driver's state"
  for _ in $(seq 50); do kill -0 "$watcher" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$watcher" 2>/dev/null && die "manta status --watch did not stop when the job ended"
  wait "$watcher" || die "manta status --watch failed: $(cat "$work/watch")"
  [ "$(grep -Ec "running +2 ranks" "$work/watch")" -ge 2 ] || die "--watch printed no updates: $(cat "$work/watch")"
  grep -Eq "finished +2 ranks" "$work/watch" || die "--watch did not show the end: $(cat "$work/watch")"
  has "$(cat "$work/job/summary.json")" '"checkpoint_requested": true' '"state": "finished"'
  has "$(cat "$work/job/rank-0.log")" "the checkpoint signal arrived"
  [ -f "$work/ckpt/checkpoint.h5" ] || die "no checkpoint written"
  ;;
failed_driver)
  out=$(timeout 120 "$manta" run -n 2 --job-dir "$work/job" "$build/test/mpi/mpi_driver_throws" 2>&1)
  rc=$?
  [ "$rc" -ne 0 ] || die "a failed driver exited 0"
  has "$out" "exit code $rc"
  has "$(cat "$work/job/summary.json")" '"state": "failed"' '"error": "uncaught std::runtime_error: driver gave up on purpose'
  has "$("$manta" status "$work/job")" "failed +2 ranks" "error: uncaught std::runtime_error"
  ;;
stuck_rank)
  # A rank that does not stop in time: the job aborts, and the summary says so.
  out=$(timeout 120 "$manta" run -n 2 --job-dir "$work/job" "$build/test/launch/launch_stuck_task" \
    --manta-shutdown-timeout=1 2>&1)
  rc=$?
  [ "$rc" -ne 0 ] || die "a job that could not stop exited 0: $out"
  has "$out" "driver done, a task still running" "1 of 1 ranks did not stop within 1 s"
  has "$(cat "$work/job/summary.json")" '"state": "failed"' '"error": "1 of 1 ranks did not stop within 1 s'
  ;;
bad_input)
  run_fails "unknown option --oversubscrib \(did you mean --oversubscribe\?\)" -- run --oversubscrib ./app
  run_fails "-n 0: the number of ranks must be at least 1" -- run -n 0 "$ex/manta_fib"
  run_fails "program '\./missing' not found or not executable: build it first" -- run -n 2 ./missing
  run_fails "unknown setting --manta-num-cpu \(did you mean --manta-num-cpus" -- run -n 2 --manta-num-cpu=2 "$ex/manta_fib"
  run_fails "--manta-inline-limit=lots: .*is not a size" -- run -n 2 "$ex/manta_fib" 5 --manta-inline-limit=lots
  run_fails "unknown command 'stauts' \(did you mean status\?\)" -- stauts
  run_fails "--launcher=aprun: expected auto, srun or mpirun" -- run --launcher aprun -n 1 "$ex/manta_fib"
  run_fails "no status.json" -- status "$work"
  run_fails "no events/ folder" -- timeline "$work"
  # No launcher on PATH: the message names the package.
  out=$(PATH=/nonexistent "$manta" run -n 2 "$ex/manta_fib" 2>&1)
  [ $? -eq 2 ] || die "no launcher: wrong exit code"
  has "$out" "neither mpirun nor srun is on PATH; install Open MPI \(apt-get install openmpi-bin\)"
  # A job directory that cannot be made, through manta run and through the runtime itself.
  touch "$work/file"
  run_fails "cannot create the job directory $work/file/job" -- run -n 1 --job-dir "$work/file/job" "$ex/manta_fib" 5
  out=$(timeout 60 mpirun --oversubscribe -n 2 "$ex/manta_fib" 5 --manta-job-dir="$work/file/job" 2>&1)
  [ $? -ne 0 ] || die "an unwritable --manta-job-dir was accepted"
  has "$out" "init failed: --manta-job-dir=$work/file/job: cannot create the job directory"
  ;;
dry_run_and_config)
  out=$(MANTA_NUM_CPUS=1 "$manta" run -n 3 --oversubscribe --dry-run --job-dir "$work/j" \
    --launcher-arg=--bind-to --launcher-arg=none --manta-log-level=info "$ex/manta_fib" 7 2>&1) ||
    die "dry run failed: $out"
  has "$out" "^# launcher: mpirun \(not inside a Slurm allocation\)" "^# job directory: $work/j" \
    "MANTA_JOB_DIR=$work/j MANTA_LOG_LEVEL=info .*mpirun --oversubscribe --allow-run-as-root -x MANTA_LOG_LEVEL -x MANTA_NUM_CPUS -x MANTA_JOB_DIR --bind-to none -n 3 $ex/manta_fib 7"
  [ ! -e "$work/j" ] || die "a dry run made the job directory"
  out=$(MANTA_INLINE_LIMIT=1M "$manta" config --manta-num-cpus=3 2>&1) || die "config failed: $out"
  has "$out" "^manta 0\.1\.0" "^mpirun: +/.*mpirun \(openmpi\)" "slurm: +not inside an allocation" \
    "--manta-num-cpus +MANTA_NUM_CPUS +3 +flag" "--manta-inline-limit +MANTA_INLINE_LIMIT +1M +environment" \
    "--manta-spill-high-water +MANTA_SPILL_HIGH_WATER +0\.8 +default"
  help=$("$manta" --help) || die "help failed"
  # Every runtime setting, with its variable, and the command's own.
  for s in $("$manta" config | awk '/^  --manta-/ {print $1 ":" $2}'); do
    has "$help" "${s%%:*}(=VALUE)? +${s##*:} +default"
  done
  has "$help" "--launcher NAME +MANTA_LAUNCHER +default: auto" "--job-root DIR +MANTA_JOB_ROOT"
  has "$("$manta" version)" "^manta 0\.1\.0$" "MPI: Open MPI" "HDF5: 1\."
  ;;
hardware_config)
  # The GPU split and binding `manta config` shows, on stand-in hwloc topologies, with the
  # launcher's and the user's narrowing in their combinations.
  topo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../gpu/topologies" && pwd)
  unset CUDA_VISIBLE_DEVICES ROCR_VISIBLE_DEVICES SLURM_STEP_GPUS SLURM_JOB_GPUS GPU_DEVICE_ORDINAL
  eight="--manta-topology-xml=$topo/two_socket_8gpu.xml"
  out=$("$manta" config -n 4 "$eight" 2>&1) || die "config failed: $out"
  has "$out" "hardware of this node for 4 rank\(s\)" "rank 3 of the node" \
    "GPUs: +6 NVIDIA A100-SXM4-80GB \(0000:c8:00.0, 80.0 GiB\); 7 NVIDIA" "chosen from all GPUs"
  out=$("$manta" config -n 16 "$eight" 2>&1) || die "config failed: $out"
  has "$out" "rank 15 of the node" "each shared by 2 ranks"
  out=$(CUDA_VISIBLE_DEVICES=5,1 "$manta" config -n 2 "$eight" 2>&1) || die "config failed: $out"
  # Renumbered by the runtime: ordinal 0 is physical GPU 5.
  has "$out" "GPUs: +0 NVIDIA A100-SXM4-80GB \(0000:8b:00.0" "GPUs: +1 NVIDIA A100-SXM4-80GB \(0000:0b:00.0" \
    "chosen from CUDA_VISIBLE_DEVICES"
  out=$(SLURM_STEP_GPUS=2,3 "$manta" config -n 1 "$eight" 2>&1) || die "config failed: $out"
  has "$out" "GPUs: +2 NVIDIA.*; 3 NVIDIA" "chosen from SLURM_STEP_GPUS"
  for empty in "CUDA_VISIBLE_DEVICES=NoDevFiles" "CUDA_VISIBLE_DEVICES=" "MANTA_GPUS=none"; do
    out=$(env "$empty" "$manta" config -n 2 "$eight" 2>&1) || die "config failed with $empty: $out"
    has "$out" "GPUs: +none"
  done
  mig=$(grep -o 'MIG-[^"]*' "$topo/four_gpu_mig.xml" | head -2 | paste -sd,)
  out=$(CUDA_VISIBLE_DEVICES=$mig "$manta" config -n 2 --manta-topology-xml="$topo/four_gpu_mig.xml" 2>&1) ||
    die "config failed: $out"
  has "$out" "GPUs: +0 .*${mig%%,*}" "GPUs: +1 .*${mig##*,}"
  out=$("$manta" config -n 2 --manta-topology-xml="$topo/no_gpu.xml" 2>&1) || die "config failed: $out"
  has "$out" "GPUs: +none"
  out=$("$manta" config -n 2 "$eight" --manta-bind=cores 2>&1) || die "config failed: $out"
  has "$out" "binding: bound: "
  run_fails "--manta-bind=sideways: expected auto, none or cores" -- config --manta-bind=sideways
  run_fails "--manta-gpus is empty" -- config --manta-gpus=
  CUDA_VISIBLE_DEVICES=0,x run_fails "CUDA_VISIBLE_DEVICES: bad entry 'x'" -- config "$eight"
  ;;
stuck_launcher)
  # A launcher that outlives its ranks (as srun can after heterogeneous steps): once every rank
  # wrote its exit record, manta run waits --exit-grace seconds, stops it and returns the ranks'
  # code.
  real=$(command -v mpirun) || die "no mpirun"
  mkdir -p "$work/bin"
  cat >"$work/bin/mpirun" <<FAKE
#!/usr/bin/env bash
case " \$* " in *" --version "*) exec "$real" "\$@" ;; esac
"$real" "\$@"
exec sleep 600
FAKE
  chmod +x "$work/bin/mpirun"
  start=$(date +%s)
  out=$(PATH=$work/bin:$PATH timeout 120 "$manta" run -n 2 --exit-grace 2 --job-dir "$work/job" \
    "$ex/manta_fib" 10 2>&1)
  rc=$?
  [ "$rc" -eq 0 ] || die "manta run exited $rc, wanted the ranks' 0: $out"
  [ $(($(date +%s) - start)) -lt 60 ] || die "the stuck launcher was not stopped in time"
  has "$out" "fib\(10\) = 55 on 2 ranks" \
    "manta run: every rank ended 2 s ago but mpirun had not exited; it was stopped"
  for r in 0 1; do
    has "$(cat "$work/job/rank-$r.exit")" "\"rank\":$r" '"code":0' '"world_size":2'
  done
  has "$(cat "$work/job/job.json")" '"exit_code": 0' '"launcher_stopped": "every rank ended'
  # A failed driver: the code is the ranks' own, not the stopped launcher's.
  out=$(PATH=$work/bin:$PATH timeout 120 "$manta" run -n 2 --exit-grace 1 --job-dir "$work/job2" \
    "$build/test/mpi/mpi_driver_throws" 2>&1)
  rc=$?
  [ "$rc" -eq 1 ] || die "manta run exited $rc, wanted the driver's 1: $out"
  has "$out" "driver gave up on purpose" "it was stopped"
  # Without a stuck launcher nothing is stopped.
  out=$(timeout 120 "$manta" run -n 2 --exit-grace 1 --job-dir "$work/job3" "$ex/manta_fib" 5 2>&1) ||
    die "manta run failed: $out"
  if grep -q "it was stopped" <<<"$out"; then die "a launcher that ended was stopped: $out"; fi
  ;;
crash_report)
  # A task that reads through a null pointer on rank 1: the rank names itself, the task and the
  # function, on stderr and in its log, with a symbolised backtrace; manta run, the job directory
  # and manta status say which rank died and how.
  crash=$build/test/launch/launch_crash_task
  # Names and lines need debug information (Debug, RelWithDebInfo); a Release build without it
  # must still print the frames' addresses.
  frame0="#0 +read_through_null\(int\) at .*crash_task.cpp:[0-9]+" in_runtime="Executor::run_task"
  recurse="recurse\(int\)" fail_frame="Worker::fail\(int\) at .*crash_task.cpp"
  if ! readelf -S "$crash" | grep -q '\.debug_info'; then
    frame0="#0 +0x[0-9a-f]+" in_runtime="#1 +0x[0-9a-f]+" recurse="#0 +0x[0-9a-f]+" fail_frame="#0 "
  fi
  start=$(date +%s)
  out=$(timeout 120 "$manta" run -n 2 --oversubscribe --job-dir "$work/job" "$crash" segv \
    --manta-spill-dir="$work/spill" 2>&1)
  rc=$?
  [ "$rc" -eq 139 ] || die "manta run exited $rc, wanted 139 (128 + SIGSEGV): $out"
  [ $(($(date +%s) - start)) -lt 60 ] || die "the crashed job took too long to end"
  report=("manta: rank 1 of 2 on host [^ ]+ \(pid [0-9]+\) crashed: SIGSEGV \(segmentation fault\) at address 0x0"
    "manta: rank 1 was running task read_through_null \(task:0:[0-9]+\) on the crashing thread"
    "$frame0")
  has "$out" "${report[@]}" \
    "manta run: rank 1 on host [^ ]+ \(pid [0-9]+\) died: signal SIGSEGV in task read_through_null"
  has "$(cat "$work/job/rank-1.log")" "${report[@]}" "$in_runtime"
  has "$(cat "$work/job/rank-1.exit")" '"signal":11' '"signal_name":"SIGSEGV"' \
    '"running":"task read_through_null \(task:0:[0-9]+\)"'
  has "$(cat "$work/job/job.json")" '"ranks_died"' '"how": "signal SIGSEGV in task read_through_null'
  status=$("$manta" status "$work/job") || die "manta status failed"
  has "$status" "failed: rank 1 died \(signal SIGSEGV in task read_through_null" \
    "^rank 1 on host [^ ]+ \(pid [0-9]+\) died: signal SIGSEGV in task read_through_null" \
    "^ +1 .*\(died: SIGSEGV\)"
  # Without manta run, the rank's own record still tells manta status.
  out=$(timeout 120 mpirun --oversubscribe -n 2 "$crash" segv --manta-job-dir="$work/job2" \
    --manta-spill-dir="$work/spill" 2>&1)
  [ $? -ne 0 ] || die "a crashed job exited 0"
  has "$("$manta" status "$work/job2")
(the job's output: $out)" "^rank 1 on host [^ ]+ \(pid [0-9]+\) died: signal SIGSEGV in task read_through_null"
  # A stack overflow is reported from the alternate stack; abort() in an actor call names it.
  out=$(timeout 120 "$manta" run -n 2 --oversubscribe --job-dir "$work/job3" "$crash" overflow \
    --manta-spill-dir="$work/spill" 2>&1)
  has "$out" "crashed: SIGSEGV .*\(stack overflow" "was running task overflow_stack" "$recurse"
  out=$(timeout 120 "$manta" run -n 2 --oversubscribe --job-dir "$work/job4" "$crash" abort \
    --manta-spill-dir="$work/spill" 2>&1)
  has "$out" "crashed: SIGABRT \(raised by this process" \
    "was running actor call Worker::fail \(task:0:[0-9]+, actor:0:[0-9]+\)" "$fail_frame" \
    "died: signal SIGABRT in actor call Worker::fail"
  ;;
killed_rank)
  # SIGKILL: the rank cannot report; manta run names it from mpirun's words and the rank's last
  # status report. Its spill directory stays, and the next job in the same place removes it.
  crash=$build/test/launch/launch_crash_task
  out=$(timeout 120 "$manta" run -n 2 --oversubscribe --job-dir "$work/job" "$crash" kill \
    --manta-spill-dir="$work/spill" 2>&1)
  rc=$?
  [ "$rc" -ne 0 ] || die "a job whose rank was killed exited 0"
  has "$out" "manta run: rank 1 on host [^ ]+ \(pid [0-9]+\) died: killed by SIGKILL \(reported by mpirun\)"
  has "$(cat "$work/job/job.json")" '"signal_name": "SIGKILL"' '"source": "mpirun"'
  has "$("$manta" status "$work/job")" "failed: rank 1 died \(killed by SIGKILL\)" \
    "^rank 1 on host [^ ]+ \(pid [0-9]+\) died: killed by SIGKILL" "^ +1 .*\(died: SIGKILL\)"
  left=$(ls -d "$work"/spill/manta-* 2>/dev/null)
  [ -n "$left" ] || die "the killed job left no spill directory: nothing to test the clean-up on"
  [ -n "$(ls "$left"/owner-* 2>/dev/null)" ] || die "no owner records in $left"
  # Spill directories that must be kept: a running job's (this shell) and another host's.
  mkdir -p "$work/spill/manta-running" "$work/spill/manta-elsewhere"
  echo "host=$(hostname) pid=$$ start=0" >"$work/spill/manta-running/owner-x-$$"
  echo "host=some-other-node pid=1 start=0" >"$work/spill/manta-elsewhere/owner-y-1"
  out=$(timeout 120 "$manta" run -n 2 --oversubscribe --job-dir "$work/next" "$ex/manta_fib" 8 \
    --manta-spill-dir="$work/spill" 2>&1) || die "the next job failed: $out"
  [ ! -e "$left" ] || die "the next job did not remove $left"
  has "$(cat "$work/next/rank-0.log" "$work/next/rank-1.log")" "removed $left \([0-9]+ bytes\), left by a job that ended: its job's processes \([0-9, ]+ on host"
  [ -d "$work/spill/manta-running" ] && [ -d "$work/spill/manta-elsewhere" ] ||
    die "the next job removed a directory it had to keep"
  # manta clean: the same for a second killed job, and says what it kept.
  timeout 120 "$manta" run -n 2 --oversubscribe --job-dir "$work/job2" "$crash" kill \
    --manta-spill-dir="$work/spill2" >/dev/null 2>&1
  left=$(ls -d "$work"/spill2/manta-*) || die "no spill directory left"
  touch "$work/job2/status.json.tmp.999999"
  out=$("$manta" clean --dry-run "$work/spill2") || die "manta clean --dry-run failed"
  has "$out" "would remove $left" "removed 0 item"
  [ -e "$left" ] || die "a dry run removed $left"
  out=$("$manta" clean "$work/spill2" "$work/spill" "$work") || die "manta clean failed: $out"
  has "$out" "^removed $left \([0-9]+ bytes\): spill files: its job's processes" \
    "^kept $work/spill/manta-running: spill files: its job is running \(pid $$ on this host\)" \
    "^kept $work/spill/manta-elsewhere: spill files: its job ran on host some-other-node" \
    "^removed $work/job2/status.json.tmp.999999.*its job ended" "removed 2 item"
  [ ! -e "$left" ] && [ -d "$work/spill/manta-running" ] || die "manta clean removed the wrong things"
  # A launcher that says a rank died but lets the job run on (as srun without
  # --kill-on-bad-exit does) is stopped --exit-grace seconds later, and the code is the death's.
  real=$(command -v mpirun) || die "no mpirun"
  mkdir -p "$work/bin"
  cat >"$work/bin/mpirun" <<FAKE
#!/usr/bin/env bash
case " \$* " in *" --version "*) exec "$real" "\$@" ;; esac
echo "mpirun noticed that process rank 1 with PID 0 on node \$(hostname) exited on signal 9 (Killed)." >&2
exec sleep 600
FAKE
  chmod +x "$work/bin/mpirun"
  start=$(date +%s)
  out=$(PATH=$work/bin:$PATH timeout 120 "$manta" run -n 2 --exit-grace 1 --job-dir "$work/job3" \
    "$ex/manta_fib" 5 2>&1)
  rc=$?
  [ "$rc" -eq 137 ] || die "manta run exited $rc, wanted 137 (128 + SIGKILL): $out"
  [ $(($(date +%s) - start)) -lt 60 ] || die "the launcher was not stopped in time"
  has "$out" "a rank died and mpirun had not ended the job 1 s later; it was stopped" \
    "manta run: rank 1 on host [^ ]+ died: killed by SIGKILL \(reported by mpirun\)"
  ;;
private_local_job)
  # The job directory is private and job.json keeps no arguments; the ranks of a one-node job
  # listen on no TCP port outside loopback.
  "$manta" run -n 2 --oversubscribe --job-dir "$work/job" "$ex/manta_checkpoint_loop" \
    200 50 --manta-checkpoint-dir="$work/secret-ckpt" --manta-status-interval=0.2 >"$work/out" 2>&1 &
  pid=$!
  trap 'kill -TERM $pid 2>/dev/null' EXIT  # a failed check does not leave the job running
  pids=""
  for _ in $(seq 300); do
    pids=$(grep -o '"pid": [1-9][0-9]*' "$work/job/status.json" 2>/dev/null | awk '{print $2}')
    [ "$(wc -w <<<"$pids")" -eq 2 ] && break
    sleep 0.1
  done
  [ "$(wc -w <<<"$pids")" -eq 2 ] || die "the ranks never reported their pids: $(cat "$work/out")"
  command -v ss >/dev/null || die "ss is not installed (Debian: iproute2; scripts/install-deps.sh installs it)"
  listening=$(ss -Hltnp)
  for p in $pids; do
    open=$(grep "pid=$p," <<<"$listening" | awk '{print $4}' | grep -Ev '^(127\.[0-9.]+|\[::1\]):[0-9]+$')
    [ -z "$open" ] || die "rank pid $p of a one-node job listens on $open:
$(grep "pid=$p," <<<"$listening")"
  done
  kill -USR1 "$pid"
  wait "$pid"
  [ $? -eq 75 ] || die "the job did not end with the checkpoint's exit code 75: $(cat "$work/out")"
  [ "$(stat -c %a "$work/job")" = 700 ] || die "the job directory is $(stat -c %a "$work/job"), not 700"
  [ "$(stat -c %a "$work/job/events")" = 700 ] || die "events/ is not 700"
  for f in "$work"/job/*.json "$work"/job/*.log "$work"/job/*.txt "$work"/job/rank-*.exit "$work"/job/events/*; do
    [ "$(stat -c %a "$f")" = 600 ] || die "$f is $(stat -c %a "$f"), not 600"
  done
  record=$(cat "$work/job/job.json")
  has "$record" '"arguments": 4' '"arguments_recorded": false' 'manta_checkpoint_loop .\[4 arguments\]'
  if grep -q "secret-ckpt" <<<"$record"; then die "job.json keeps the arguments: $record"; fi
  "$manta" run -n 1 --record-args --job-dir "$work/job2" "$ex/manta_fib" 5 >/dev/null 2>&1 ||
    die "manta run --record-args failed"
  has "$(cat "$work/job2/job.json")" '"arguments_recorded": true' 'manta_fib 5"'
  ;;
*)
  die "unknown case $case_name"
  ;;
esac
echo "manta_command_test $case_name: ok"
