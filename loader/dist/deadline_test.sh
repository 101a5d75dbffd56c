#!/usr/bin/env bash
# A rank that never calls AgreeOk / BroadcastBytes: the others return
# DeadlineExceeded within the 2 s timeout + 1 s, then abort the job. Each
# scenario is its own mpirun (deadline_test_main.cc), bounded by `timeout`
# so that nothing waits for Bazel's limit. Each scenario is one test case in
# $XML_OUTPUT_FILE.
#
#   deadline_test.sh MPIRUN_SH DEADLINE_TEST_MAIN
set -uo pipefail
mpirun_sh=$1
binary=$2
work=${TEST_TMPDIR:-$(mktemp -d)}/deadline
abort_code=7

cases_xml=""
passed=0 failed=0
record() {  # record NAME passed|failed [MESSAGE]
  local body=""
  if [[ $2 == passed ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    body="<failure message=\"$3\"/>"
  fi
  cases_xml+="<testcase classname=\"DeadlineTest\" name=\"$1\">$body</testcase>"
  echo "deadline_test: $1: $2${3:+ ($3)}"
}

# scenario NAME NP MODE ABSENT_RANK
scenario() {
  local name=$1 np=$2 mode=$3 absent=$4 out="$work/$1"
  mkdir -p "$out"
  local start=$SECONDS
  timeout 60 "$mpirun_sh" -np "$np" "$binary" "$mode" "$absent" "$out" \
    >"$out/log" 2>&1
  local rc=$?
  local elapsed=$((SECONDS - start))
  if ((rc == 124)); then
    cat "$out/log"
    record "$name" failed "mpirun still running after 60 s"
    return
  fi
  if ((rc != abort_code)); then
    cat "$out/log"
    record "$name" failed "mpirun exited with $rc, want the abort code $abort_code"
    return
  fi
  for ((r = 0; r < np; r++)); do
    ((r == absent)) && continue
    local file="$out/rank-$r.txt"
    if [[ ! -f $file ]]; then
      cat "$out/log"
      record "$name" failed "rank $r wrote no result"
      return
    fi
    local code seconds message
    read -r code seconds message <"$file"
    echo "$name: rank $r: $code after ${seconds}s: $message"
    if [[ $code != DEADLINE_EXCEEDED ]]; then
      record "$name" failed "rank $r returned $code, want DEADLINE_EXCEEDED"
      return
    fi
    if ! awk -v s="$seconds" 'BEGIN { exit !(s >= 2.0 && s < 3.0) }'; then
      record "$name" failed "rank $r returned after ${seconds}s, want 2 to 3 s"
      return
    fi
    if [[ $message != *"within 2s"* || $message != *"MpiSession::Abort"* ]]; then
      record "$name" failed "rank $r: message does not name the timeout and the abort: $message"
      return
    fi
  done
  echo "$name: the job ended in ${elapsed}s"
  record "$name" passed
}

scenario AgreeOkNp2Rank1Absent 2 agree 1
scenario AgreeOkNp3Rank0Absent 3 agree 0
scenario AgreeOkNp3Rank2Absent 3 agree 2
scenario BroadcastBytesNp2RootAbsent 2 broadcast 0
scenario BroadcastBytesNp3RootAbsent 3 broadcast 0

if [[ -n ${XML_OUTPUT_FILE:-} ]]; then
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo "<testsuites><testsuite name=\"DeadlineTest\" tests=\"$((passed + failed))\" failures=\"$failed\">"
    echo "$cases_xml"
    echo '</testsuite></testsuites>'
  } >"$XML_OUTPUT_FILE"
fi
echo "deadline_test: $passed passed, $failed failed"
((failed == 0))
