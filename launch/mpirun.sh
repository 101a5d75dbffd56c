#!/usr/bin/env bash
# Starts a program on N ranks of this machine with Open MPI's mpirun, adding
# the flags it needs here. `df11 run --np N`, the multi-rank tests and the
# daemon's launch all go through this script.
#
#   launch/mpirun.sh -np 2 bazel-bin/loader/cli/df11 run --model DIR ...
#
# Flags added:
#   --allow-run-as-root   when run as root (containers, the GPU machine)
#   --oversubscribe       more ranks than cores is fine (tests on 2 cores)
#   --bind-to none        ranks share cores with their OpenBLAS threads
#   --mca btl self,vader  shared memory between local ranks, no network probing
#                         (DF11_MPI_BTL replaces the list, e.g. self,vader,tcp
#                         for several nodes)
#   btl_vader_single_copy_mechanism none
#                         CMA single-copy needs ptrace rights that
#                         containers withhold
#   orte_tmpdir_base, btl_vader_backing_directory
#                         a private directory per job (under /dev/shm,
#                         removed at exit) for Open MPI's session files and
#                         shared-memory segments. Their default names derive
#                         from mpirun's PID, which repeats across Bazel's
#                         sandboxes (each has its own PID namespace), so
#                         concurrent tests would otherwise share segments
#                         and crash or hang.
# Extra mpirun flags can be given in DF11_MPIRUN_FLAGS (e.g. a hostfile).
#
# SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 sent to this script go on to
# mpirun (which forwards SIGUSR1/2 to every rank: df11d drains on SIGUSR1);
# the exit status is mpirun's.
set -euo pipefail

np=1
if [[ "${1:-}" == "-np" || "${1:-}" == "--np" ]]; then
  np=$2
  shift 2
fi
if (($# == 0)); then
  echo "usage: launch/mpirun.sh -np N PROGRAM [ARGS...]" >&2
  exit 2
fi
command -v mpirun >/dev/null || {
  echo "mpirun not found: run launch/setup.sh (package openmpi-bin)" >&2
  exit 1
}

shm_base=/dev/shm
[[ -d $shm_base && -w $shm_base ]] || shm_base=/tmp
job_dir=$(mktemp -d "$shm_base/df11-mpi.XXXXXX")
trap 'rm -rf "$job_dir"' EXIT

flags=(-np "$np" --oversubscribe --bind-to none
  --mca btl "${DF11_MPI_BTL:-self,vader}"
  --mca btl_vader_single_copy_mechanism none
  --mca orte_tmpdir_base "$job_dir"
  --mca btl_vader_backing_directory "$job_dir")
if [[ $(id -u) -eq 0 ]]; then
  flags+=(--allow-run-as-root)
fi
# shellcheck disable=SC2206
flags+=(${DF11_MPIRUN_FLAGS:-})
mpirun "${flags[@]}" "$@" &
child=$!
for sig in TERM INT HUP USR1 USR2; do
  # shellcheck disable=SC2064
  trap "kill -$sig $child 2>/dev/null || true" "$sig"
done
# wait returns early when a trapped signal arrives; wait again until
# mpirun has ended, then once more for its own status.
while kill -0 "$child" 2>/dev/null; do
  wait "$child" || true
done
status=0
wait "$child" || status=$?
exit "$status"
