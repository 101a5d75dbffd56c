#!/usr/bin/env bash
# Everything the CUDA backend needs checked on the GPU machine, in one device
# call: per-op tests against the CPU backend, the golden tests on the HF
# fixtures, compute-sanitizer memcheck on short runs, `df11 run --backend
# cuda`, and the decode bench with a load-speed check against dd.
#
#   ./launch/bundle.sh //loader/backend/cuda:cuda_ops_test \
#       //loader/backend/cuda:cuda_golden_test \
#       //loader/backend/cuda:cuda_backend_conformance_test \
#       //loader/backend/cuda:cuda_bench //loader/cli:df11
#   # device tool: run(command="bash loader/backend/cuda/run_on_gpu.sh",
#   #                  carry=[".bundle"])
#
# Env: BUNDLE (default .bundle), BENCH_LAYERS (8; 0 skips the bench),
# SANITIZE (1). Logs go to $OUT (or ./out); a summary is printed last.
set -uo pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
BUNDLE=${BUNDLE:-.bundle}
source "$BUNDLE/env.sh"
B=$BUNDLE/bin
export NCCL_NVLS_ENABLE=0
T0=$(date +%s)

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem \
  --format=csv >"$OUT/gpu.txt" 2>&1
date -u +%FT%TZ >>"$OUT/gpu.txt"

"$B/cuda_ops_test" >"$OUT/ops.log" 2>&1
ops_rc=$?
"$B/cuda_golden_test" >"$OUT/golden.log" 2>&1
golden_rc=$?
conformance_rc=skipped
if [[ -x "$B/cuda_backend_conformance_test" ]]; then
  "$B/cuda_backend_conformance_test" >"$OUT/conformance.log" 2>&1
  conformance_rc=$?
fi

memcheck_rc=skipped
if [[ "${SANITIZE:-1}" == 1 ]]; then
  timeout ${SANITIZE_S:-90} compute-sanitizer --tool memcheck --print-limit 20 --error-exitcode 3 \
    "$B/cuda_ops_test" --gtest_filter='*PagedAttention*:*Sample*:*Embed*:*RmsNorm*' \
    >"$OUT/sanitizer.log" 2>&1
  memcheck_rc=$?
  timeout ${SANITIZE_S:-90} compute-sanitizer --tool memcheck --print-limit 20 --error-exitcode 3 \
    "$B/cuda_golden_test" --gtest_filter='*Bitwise*/0:*GreedyMatches*/0' \
    >>"$OUT/sanitizer.log" 2>&1
  memcheck_rc="$memcheck_rc,$?"
fi

# The CLI on a fixture (BF16 checkpoint), default backend.
"$B/df11" run --model tests/engine/testdata/gqa_llama3 --tokens 95,27,219 \
  --max_new 8 >"$OUT/cli.log" 2>&1
cli_rc=$?

timeout 120 "$B/cuda_bench" --attention >"$OUT/attention.log" 2>&1
attention_rc=$?

bench_rc=skipped
LAYERS=${BENCH_LAYERS:-8}
if [[ "$LAYERS" != 0 ]]; then
  M=/tmp/df11_bench
  rm -rf "$M" && mkdir -p "$M"
  {
    "$B/df11" synth "$M/bf16" --preset 8b --layers "$LAYERS" &&
      "$B/df11" compress "$M/bf16" "$M/df11" --tp 1 &&
      ls -la "$M/df11" &&
      echo "== dd (page cache)" &&
      dd if="$M/df11/rank-00.safetensors" of=/dev/null bs=64M 2>&1 | tail -1 &&
      echo "== dd (O_DIRECT)" &&
      dd if="$M/df11/rank-00.safetensors" of=/dev/null bs=64M iflag=direct 2>&1 | tail -1
  } >"$OUT/bench_setup.log" 2>&1
  timeout ${BENCH_S:-150} "$B/cuda_bench" --model "$M/df11" --batches 1,8,64 --steps 32 \
    --weights df11,bf16,offload --json /tmp/bench.json >"$OUT/bench.log" 2>&1
  bench_rc=$?
  # The same without CUDA graphs: how launch-bound an eager step is.
  echo "== without CUDA graphs" >>"$OUT/bench.log"
  timeout ${BENCH_S:-150} "$B/cuda_bench" --model "$M/df11" --batches 1,64 \
    --steps 16 --weights df11,bf16 --graphs=false >>"$OUT/bench.log" 2>&1
  bench_rc="$bench_rc,$?"
fi

echo "== $(sed -n 2p "$OUT/gpu.txt") $(tail -1 "$OUT/gpu.txt") ($(($(date +%s) - T0)) s)"
echo "== ops test rc $ops_rc"
grep -E '^\[  (PASSED|FAILED) |tests? ran|Failure|error' "$OUT/ops.log" | head -20
echo "== golden test rc $golden_rc"
grep -E '^\[  (PASSED|FAILED) |tests? ran|BF16-ACT|GREEDY|Failure' "$OUT/golden.log" | head -60
echo "== conformance test rc $conformance_rc"
grep -E '^\[  (PASSED|FAILED) |tests? ran|Failure' "$OUT/conformance.log" 2>/dev/null | head -20
echo "== memcheck rc $memcheck_rc"
grep -E 'ERROR SUMMARY' "$OUT/sanitizer.log" 2>/dev/null
echo "== cli rc $cli_rc"
tail -12 "$OUT/cli.log"
echo "== attention (decode rows; ours vs FlashInfer) rc $attention_rc"
cat "$OUT/attention.log"
echo "== bench rc $bench_rc"
grep -E 'dd|copied|rank-00' "$OUT/bench_setup.log" 2>/dev/null | tail -6
grep -E "tokens/s|loaded in|rror|without" "$OUT/bench.log" 2>/dev/null | tail -24
exit 0
