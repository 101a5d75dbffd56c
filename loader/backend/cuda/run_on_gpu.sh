#!/usr/bin/env bash
# Everything the CUDA backend needs checked on the GPU machine, in one device
# call: per-op tests against the CPU backend, the conformance suite, the
# golden tests on the HF fixtures, compute-sanitizer memcheck, `df11 run
# --backend cuda`, the attention kernels compared, `df11 bench` on the 8B
# shape (DF11, BF16, offload) and on 405B TP=8 shard shapes, and df11d with
# `df11 loadgen`.
#
#   ./launch/bundle.sh //loader/cli:df11 //loader/serve:df11d \
#       //loader/backend/cuda:cuda_ops_test \
#       //loader/backend/cuda:cuda_golden_test \
#       //loader/backend/cuda:cuda_backend_conformance_test \
#       //loader/backend/cuda:attention_bench
#   # device tool: run(command="bash loader/backend/cuda/run_on_gpu.sh",
#   #                  carry=[".bundle"])
#
# With //kernels:decode_df11_test and //loader/backend/cuda:gemv_bench in the
# bundle too, it runs them (the decode test's row lookups under memcheck).
#
# Env: BUNDLE (default .bundle), SANITIZE (1), BENCH (1), SHARDS (1: the
# 405B shard benches), SERVE (1). Logs and JSON go to $OUT (or ./out); a
# summary is printed last.
set -uo pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
BUNDLE=${BUNDLE:-.bundle}
source "$BUNDLE/env.sh"
B=$BUNDLE/bin
export NCCL_NVLS_ENABLE=0
T0=$(date +%s)
elapsed() { echo "$(($(date +%s) - T0)) s"; }

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem \
  --format=csv >"$OUT/gpu.txt" 2>&1
date -u +%FT%TZ >>"$OUT/gpu.txt"

"$B/cuda_ops_test" >"$OUT/ops.log" 2>&1
ops_rc=$?
"$B/cuda_backend_conformance_test" >"$OUT/conformance.log" 2>&1
conformance_rc=$?
"$B/cuda_golden_test" >"$OUT/golden.log" 2>&1
golden_rc=$?

decode_rc=skipped
if [[ -x $B/decode_df11_test ]]; then
  "$B/decode_df11_test" >"$OUT/decode.log" 2>&1
  decode_rc=$?
fi

memcheck_rc=skipped
if [[ "${SANITIZE:-1}" == 1 ]]; then
  if [[ -x $B/decode_df11_test ]]; then
    timeout 60 compute-sanitizer --tool memcheck --print-limit 20 --error-exitcode 3 \
      "$B/decode_df11_test" --gtest_filter='*Rows*' >>"$OUT/sanitizer.log" 2>&1
    memcheck_rc="rows $?,"
  else
    memcheck_rc=
  fi
  timeout 45 compute-sanitizer --tool memcheck --print-limit 20 --error-exitcode 3 \
    "$B/cuda_ops_test" --gtest_filter='*PagedAttention*:*Sample*:*Embed*:*RmsNorm*' \
    >>"$OUT/sanitizer.log" 2>&1
  memcheck_rc="$memcheck_rc$?"
  timeout 45 compute-sanitizer --tool memcheck --print-limit 20 --error-exitcode 3 \
    "$B/cuda_golden_test" --gtest_filter='*Bitwise*/0:*GreedyMatches*/0' \
    >>"$OUT/sanitizer.log" 2>&1
  memcheck_rc="$memcheck_rc,$?"
  # A short whole run: load, prefill, graph-captured decode steps.
  timeout 60 compute-sanitizer --tool memcheck --print-limit 20 --error-exitcode 3 \
    "$B/df11" run --model tests/engine/testdata/gqa_llama3 --tokens 95,27,219 \
    --max_new 8 >>"$OUT/sanitizer.log" 2>&1
  memcheck_rc="$memcheck_rc,$?"
fi

# The CLI on a fixture (BF16 checkpoint), default backend (cuda here).
"$B/df11" run --model tests/engine/testdata/gqa_llama3 --tokens 95,27,219 \
  --max_new 8 >"$OUT/cli.log" 2>&1
cli_rc=$?

timeout 40 "$B/attention_bench" >"$OUT/attention.log" 2>&1
attention_rc=$?

gemv_rc=skipped
if [[ -x $B/gemv_bench ]]; then
  timeout 90 "$B/gemv_bench" --json="$OUT/gemv.json" >"$OUT/gemv.log" 2>&1
  gemv_rc=$?
fi

bench_rc=skipped
if [[ "${BENCH:-1}" == 1 ]]; then
  "$B/df11" plan --preset 8b --tp 1 --gpu_memory_gb 80 >"$OUT/plan8b.txt" 2>&1
  # (a) DF11 just in time, (b) BF16 resident, (c) BF16 offloaded, one run.
  timeout 200 "$B/df11" bench --backend cuda --synthetic 8b \
    --batch 1,8,32,64,128 --prompt_tokens 128 --modes df11,bf16,offload \
    --gpu_memory_gb 80 --threads 16 --json "$OUT/bench8b.json" \
    >"$OUT/bench8b.log" 2>&1
  bench_rc=$?
  # One GPU with the per-rank shapes of Llama 3.1 405B at TP=8, 2 and 6
  # layers: the difference over 4 is one layer's step time.
  for layers in $([[ "${SHARDS:-1}" == 1 ]] && echo 2 6); do
    timeout 90 "$B/df11" bench --backend cuda --synthetic 405b \
      --layers "$layers" --shard_of 8 --batch 1,8,32,64 --prompt_tokens 128 \
      --modes df11,bf16 --gpu_memory_gb 80 --threads 16 \
      --json "$OUT/bench405b_tp8_shard_${layers}l.json" \
      >"$OUT/bench405b_${layers}l.log" 2>&1
    bench_rc="$bench_rc,$?"
  done
fi

serve_rc=skipped
if [[ "${SERVE:-1}" == 1 ]]; then
  W=$(mktemp -d)
  # One rank needs no mpirun (MpiSession starts MPI only under it).
  "$B/df11d" --backend cuda --synthetic 8b \
    --gpu_memory_gb 80 --port 0 --port_file "$W/ports" --metrics_port 0 \
    --threads 16 >"$OUT/df11d.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 300); do [[ -s $W/ports ]] && break; sleep 0.2; done
  server=127.0.0.1:$(sed -n 's/^grpc_port=//p' "$W/ports")
  metrics=$(sed -n 's/^metrics_port=//p' "$W/ports")
  for _ in $(seq 120); do
    timeout 10 "$B/df11" generate --server "$server" --tokens 1 --max_new 1 \
      >/dev/null 2>&1 && break
    sleep 1
  done
  {
    echo "== one streamed Generate"
    "$B/df11" generate --server "$server" --tokens 128000,791,6864,315 \
      --max_new 32 --json
    for c in 1 8 32; do
      echo "== loadgen concurrency $c"
      "$B/df11" loadgen --server "$server" --concurrency "$c" --duration 15 \
        --prompt_tokens 128 --max_new 128
    done
    echo "== metrics"
    curl -s "127.0.0.1:$metrics/metrics" | grep -E \
      '^df11:(decode_layer_seconds|step_layer_seconds|step_duration_seconds)_(sum|count)'
  } >"$OUT/serve.log" 2>&1
  serve_rc=$?
  kill -TERM "$serve_pid"
  timeout 60 tail --pid="$serve_pid" -f /dev/null || kill -KILL "$serve_pid"
  wait "$serve_pid"
  serve_rc="$serve_rc,$?"
fi

echo "== $(sed -n 2p "$OUT/gpu.txt") $(tail -1 "$OUT/gpu.txt") ($(elapsed))"
echo "== ops test rc $ops_rc"
grep -E '^\[  (PASSED|FAILED) |Failure' "$OUT/ops.log" | head -10
echo "== conformance test rc $conformance_rc"
grep -E '^\[  (PASSED|FAILED) |Failure' "$OUT/conformance.log" | head -10
echo "== golden test rc $golden_rc"
grep -E '^\[  (PASSED|FAILED) |Failure' "$OUT/golden.log" | head -10
echo "== decode test rc $decode_rc"
grep -E '^\[  (PASSED|FAILED) |Failure' "$OUT/decode.log" 2>/dev/null | head -10
echo "== memcheck rc $memcheck_rc"
grep -E 'ERROR SUMMARY' "$OUT/sanitizer.log" 2>/dev/null
echo "== cli rc $cli_rc"
tail -4 "$OUT/cli.log"
echo "== attention rc $attention_rc"
tail -6 "$OUT/attention.log"
echo "== gemv rc $gemv_rc"
tail -30 "$OUT/gemv.log" 2>/dev/null
echo "== bench rc $bench_rc"
grep -E "^(df11|bf16|offload) |loaded in|memory bandwidth|rror" "$OUT/bench8b.log" | head -24
for layers in $([[ "${SHARDS:-1}" == 1 ]] && echo 2 6); do
  grep -E "^(df11|bf16) |rror" "$OUT/bench405b_${layers}l.log" | head -8
done
echo "== serve rc $serve_rc"
grep -E "serving|rror" "$OUT/df11d.log" | head -4
grep -E "throughput|p50|==|df11:|requests" "$OUT/serve.log" | head -60
exit 0
