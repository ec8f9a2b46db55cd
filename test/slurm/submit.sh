# submit SBATCH_ARGS...: submits a batch job and waits for it, returning its exit code (128 + N
# for a job ended by signal N). Sourced by the slurm tests; needs $work (the cluster is
# $work/cluster) and, for hung jobs, a dump_hung_job function (optional).
# A job that Slurm holds instead of running ("launch failed requeued held": slurmd could not
# start it) fails at once with Slurm's reason and the end of the node logs, and a job that does
# not end within MANTA_SLURM_JOB_TIMEOUT seconds (default 180) fails with what it was doing.
submit() {
  local out id
  out=$(sbatch --parsable "$@") || return 1
  id=${out%%;*}
  local limit=${MANTA_SLURM_JOB_TIMEOUT:-180} start=$SECONDS info state reason code
  while :; do
    # A heterogeneous job has a line per component; the first speaks for the job.
    info=$(scontrol -o show job "$id" 2>/dev/null | head -n 1)
    state=$(grep -o 'JobState=[^ ]*' <<<"$info" | cut -d= -f2)
    reason=$(grep -o 'Reason=[^ ]*' <<<"$info" | cut -d= -f2)
    case $state in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
        # ExitCode=CODE:SIGNAL
        code=$(grep -o ' ExitCode=[0-9]*:[0-9]*' <<<"$info" | cut -d= -f2)
        if [ "${code#*:}" != 0 ]; then return $((128 + ${code#*:})); fi
        return "${code%%:*}"
        ;;
      "")
        echo "submit: job $id is unknown to Slurm (scontrol show job $id says nothing)"
        return 1
        ;;
    esac
    if [[ $state == REQUEUE_HOLD || $state == SPECIAL_EXIT || $reason == *[Hh]eld* ]]; then
      echo "submit: job $id cannot start: Slurm holds it ($state, reason $reason); node logs:"
      tail -n 15 "$work"/cluster/slurmd-*.log 2>/dev/null | sed 's/^/    | /'
      scancel "$id"
      return 1
    fi
    if [ $((SECONDS - start)) -ge "$limit" ]; then
      echo "a job did not end within $limit s (state $state, reason $reason):"
      squeue -o '%i %j %T %R'
      declare -F dump_hung_job >/dev/null && dump_hung_job
      scancel "$id"
      return 124
    fi
    sleep 0.5
  done
}
