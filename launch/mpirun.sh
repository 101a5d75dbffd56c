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
# Extra mpirun flags can be given in DF11_MPIRUN_FLAGS (e.g. a hostfile).
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

flags=(-np "$np" --oversubscribe --bind-to none
  --mca btl "${DF11_MPI_BTL:-self,vader}"
  --mca btl_vader_single_copy_mechanism none)
if [[ $(id -u) -eq 0 ]]; then
  flags+=(--allow-run-as-root)
fi
# shellcheck disable=SC2206
flags+=(${DF11_MPIRUN_FLAGS:-})
exec mpirun "${flags[@]}" "$@"
