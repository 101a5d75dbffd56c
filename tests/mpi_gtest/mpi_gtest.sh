#!/usr/bin/env bash
# Runs a gtest binary on N MPI ranks (default 2) through launch/mpirun.sh.
# Rank 0 writes the XML report Bazel reads ($XML_OUTPUT_FILE), so each test
# case counts; the binary's main folds every rank's failures into rank 0's
# report.
#
#   mpi_gtest.sh [-np N] MPIRUN_SH BINARY [GTEST_ARGS...]
set -euo pipefail
np=2
if [[ "${1:-}" == "-np" ]]; then
  np=$2
  shift 2
fi
mpirun_sh=$1
binary=$2
shift 2
exec "$mpirun_sh" -np "$np" "$binary" \
  ${XML_OUTPUT_FILE:+--gtest_output=xml:$XML_OUTPUT_FILE} "$@"
