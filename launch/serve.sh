#!/usr/bin/env bash
# Runs df11d on N ranks through launch/mpirun.sh and turns this script's
# SIGTERM / SIGINT (Ctrl-C) into a drain: SIGUSR1 to mpirun (through
# mpirun.sh), which forwards it to every rank; rank 0 stops accepting, lets
# running requests finish within --grace_s, then every rank exits 0. A
# second signal cancels what is left at once. (SIGTERM reaching mpirun
# itself would kill the job after Open MPI's one-second grace.)
#
#   launch/serve.sh -np 2 bazel-bin/loader/serve/df11d --model DIR [flags]
#
# The exit status is mpirun's. Extra mpirun flags: DF11_MPIRUN_FLAGS (e.g. a
# hostfile), as for launch/mpirun.sh.
set -euo pipefail

np=1
if [[ "${1:-}" == "-np" || "${1:-}" == "--np" ]]; then
  np=$2
  shift 2
fi
if (($# == 0)); then
  echo "usage: launch/serve.sh -np N DF11D [df11d flags...]" >&2
  exit 2
fi

here=$(dirname "${BASH_SOURCE[0]}")
# mpirun in its own process group, so that a terminal's Ctrl-C reaches only
# this script, which drains instead of letting mpirun kill the job.
set -m
"$here/mpirun.sh" -np "$np" "$@" &
job=$!
set +m
drain() {
  echo "serve: draining df11d (SIGUSR1 to every rank)" >&2
  kill -USR1 "$job" 2>/dev/null || true
}
trap drain TERM INT

while true; do
  status=0
  wait "$job" || status=$?
  # wait returns early (status > 128) when a trapped signal arrives.
  if ! kill -0 "$job" 2>/dev/null; then
    wait "$job" 2>/dev/null || status=$?
    exit "$status"
  fi
done
