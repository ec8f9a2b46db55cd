# Sourced by the tests that signal a running job (not run): signal_when_seen.
#
# signal_when_seen PID OUTFILE PATTERN LIMIT: waits until OUTFILE holds a line matching PATTERN
# (grep), sends SIGUSR1 (the checkpoint signal) to PID, waits for PID and sets job_status to its
# exit status (in this shell: PID must be its child, so not inside $(...)).
# A watchdog kills PID after LIMIT seconds, so a hang fails the test instead of blocking it.
signal_when_seen() {
  local pid=$1 out=$2 pattern=$3 limit=$4 watchdog
  (sleep "$limit" && kill -9 "$pid") >/dev/null 2>&1 &
  watchdog=$!
  for _ in $(seq 1 $((limit * 10))); do
    grep -q "$pattern" "$out" 2>/dev/null && break
    sleep 0.1
  done
  kill -USR1 "$pid"
  wait "$pid"
  job_status=$?
  pkill -P "$watchdog" 2>/dev/null
  kill "$watchdog" 2>/dev/null
}
