#!/usr/bin/env bash
# expect_job.sh EXPECTED_EXIT(zero|nonzero) SECONDS REGEX -- command...
# Runs a job with a time limit and checks its exit status and that its output matches REGEX.
set -u
expect=$1 limit=$2 regex=$3
shift 4
out=$(timeout "$limit" "$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "expect_job: FAILED: the job did not finish within ${limit}s (hang)"
  exit 1
fi
if [ "$expect" = zero ] && [ $rc -ne 0 ]; then
  echo "expect_job: FAILED: exit status $rc, expected 0"
  exit 1
fi
if [ "$expect" = nonzero ] && [ $rc -eq 0 ]; then
  echo "expect_job: FAILED: exit status 0, expected non-zero"
  exit 1
fi
if ! grep -Eq -- "$regex" <<<"$out"; then
  echo "expect_job: FAILED: output does not match /$regex/"
  exit 1
fi
echo "expect_job: ok (exit $rc)"
