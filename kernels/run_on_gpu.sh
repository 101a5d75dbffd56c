#!/usr/bin/env bash
# Everything the kernels need checked on the GPU machine, in one device call:
#
#   ./launch/bundle.sh //kernels:decode_df11_test //kernels:decode_bench
#   # device tool: run(command="kernels/run_on_gpu.sh", carry=[".bundle"])
#
# Writes logs to $OUT (or ./out) and prints a summary last.
set -uo pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
source .bundle/env.sh
B=.bundle/bin

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu \
  --format=csv >"$OUT/gpu.txt" 2>&1

"$B/decode_df11_test" >"$OUT/test.log" 2>&1
test_rc=$?

# A corrupted index or stream must never touch memory outside its arrays.
compute-sanitizer --tool memcheck --error-exitcode 3 "$B/decode_df11_test" \
  --gtest_filter='*Corruption*:*FullestBlocks*:*Batched*:*Gaussian02_n300007*:*OneExponent_n300007*:*DenseChunks*' \
  >"$OUT/sanitizer.log" 2>&1
memcheck_rc=$?
compute-sanitizer --tool racecheck --error-exitcode 3 "$B/decode_df11_test" \
  --gtest_filter='*Gaussian02_n300007_off3*:*FullestBlocks*:*DenseChunks*' \
  >>"$OUT/sanitizer.log" 2>&1
racecheck_rc=$?

"$B/decode_bench" --runs=30 --json="$OUT/decode_bench.json" >"$OUT/bench.log" 2>&1
bench_rc=$?

if [[ "${PROFILE:-1}" == 1 ]] && command -v ncu >/dev/null; then
  timeout 180 ncu --clock-control none -k regex:DecodeDf11 --launch-skip 2 \
    --launch-count 1 --section SpeedOfLight --section Occupancy \
    --section LaunchStats --section MemoryWorkloadAnalysis \
    --section WarpStateStats --section SchedulerStats \
    "$B/decode_bench" --case=53248 --runs=3 >"$OUT/ncu.txt" 2>&1
fi

command -v cuobjdump >/dev/null &&
  cuobjdump -sass "$B/decode_bench" | awk '/code for sm_90/,0' >"$OUT/sass.txt" 2>&1

echo "== $(tail -1 "$OUT/gpu.txt")"
echo "== tests (rc $test_rc)"
grep -E '^\[  (PASSED|FAILED|SKIPPED) |tests? ran|error flags' "$OUT/test.log" | tail -20
echo "== compute-sanitizer memcheck rc $memcheck_rc, racecheck rc $racecheck_rc"
grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer.log"
echo "== bench (rc $bench_rc)"
cat "$OUT/bench.log"
[[ -f "$OUT/ncu.txt" ]] && grep -E 'Duration|Memory Throughput|DRAM Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Issue Slots Busy|No Eligible|L1/TEX Hit|L2 Hit|Warp Cycles Per Issued' "$OUT/ncu.txt" | head -30
exit 0
