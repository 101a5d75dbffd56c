#!/usr/bin/env bash
# `df11 plan` and `df11 bench` end to end on this machine (no GPU): the
# 405B TP=8 plan fits in DF11 and not in BF16; the bench harness runs on the
# CPU backend with a synthetic tiny model at TP=1 and TP=2 (under
# launch/mpirun.sh) and writes every field, with positive tokens/s and DF11
# logits bitwise equal to BF16's. A benchmark is not a test; this keeps the
# harness from rotting.
#
#   plan_bench_test.sh DF11_BINARY MPIRUN_SH
set -euo pipefail
df11=$1
mpirun_sh=$2
tmp=${TEST_TMPDIR:-$(mktemp -d)}

"$df11" plan --preset 405b --tp 8 --gpu_memory_gb 80 | tee "$tmp/plan.txt"
grep -q "^fits  *yes  *NO  *yes" "$tmp/plan.txt"
"$df11" plan --preset 405b --tp 8 --gpu_memory_gb 80 --json >"$tmp/plan.json"
python3 - "$tmp/plan.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
r = p["residency"]
assert r["df11"]["fits"] and r["df11"]["kv_capacity_tokens"] > 0, r["df11"]
assert not r["bf16"]["fits"] and r["bf16"]["kv_capacity_tokens"] == 0, r["bf16"]
assert p["kv_bytes_per_token"] == 64512, p["kv_bytes_per_token"]
assert p["model"]["num_hidden_layers"] == 126
PY
if "$df11" plan --preset 405b --tp 3 2>"$tmp/err.txt"; then
  echo "FAIL: a TP the heads do not divide was planned" >&2
  exit 1
fi
grep -q "not divisible" "$tmp/err.txt"

check_bench() {
  python3 - "$1" "$2" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
tp = int(sys.argv[2])
for key in ["command", "date_utc", "backend", "model", "tp", "prompt_tokens",
            "batches", "warmup_steps", "timed_steps", "profile_steps",
            "engine_options", "hf_reference", "memory_bandwidth", "modes",
            "results", "host_max_rss_bytes", "threads_per_rank"]:
    assert key in j, key
assert j["tp"] == tp and j["backend"] == "cpu"
assert j["memory_bandwidth"]["bytes_per_s"] > 0
assert j["modes"]["df11"]["available"] and j["modes"]["bf16"]["available"]
assert j["modes"]["bf16"]["logits_bitwise_equal_to_first_mode"] is True
assert j["modes"]["offload"]["available"] is False, j["modes"]["offload"]
for mode in ["df11", "bf16"]:
    m = j["modes"][mode]
    for key in ["load_s", "memory", "plan"]:
        assert key in m, (mode, key)
    for key in ["weights_stored", "weights_original", "decode_buffers",
                "kv_cache", "activations", "workspace", "total"]:
        assert m["memory"][key] >= 0, (mode, key)
    # The plan's exact parts are the engine's (CPU: FP32 activations).
    assert m["plan"]["activations"] == m["memory"]["activations"], mode
    assert m["plan"]["decode_buffers"] == m["memory"]["decode_buffers"], mode
    assert m["plan"]["kv_cache"] == m["memory"]["kv_cache"], mode
rows = j["results"]
assert [(r["mode"], r["batch"]) for r in rows] == [
    (m, b) for m in ["df11", "bf16"] for b in [1, 3]], rows
for r in rows:
    for key in ["prefill_tokens", "prefill_steps", "prefill_s",
                "prefill_tokens_per_s", "decode_step_ms",
                "decode_step_ms_median", "decode_tokens_per_s", "split_ms",
                "peak_memory_bytes", "peak_memory_source",
                "host_max_rss_bytes", "plan_total_bytes",
                "plan_kv_capacity_tokens_at_budget", "weight_read_limit",
                "ratio_to_hf"]:
        assert key in r, key
    assert r["prefill_tokens_per_s"] > 0 and r["decode_tokens_per_s"] > 0, r
    assert len(r["decode_step_ms"]) == j["timed_steps"]
    s = r["split_ms"]
    for key in ["decode_weights", "gemm", "attention", "communication",
                "other", "sum", "profiled_step_ms_median"]:
        assert s[key] >= 0, (key, s)
    assert s["gemm"] > 0
    if r["mode"] == "df11":
        assert s["decode_weights"] > 0, s
    if tp > 1:
        assert s["communication"] > 0, s
    w = r["weight_read_limit"]
    assert w["bf16_tokens_per_s"] > 0 and w["ratio_to_bf16_limit"] > 0, w
    assert all(v is None for v in r["ratio_to_hf"].values())
    assert r["peak_memory_bytes"] > 0
PY
}

bench=(bench --backend cpu --synthetic tiny --batch 1,3 --prompt_tokens 5
  --warmup_steps 1 --timed_steps 3 --profile_steps 2 --threads 1)
"$df11" "${bench[@]}" --json "$tmp/tp1.json" | tee "$tmp/tp1.txt"
grep -q "^df11 .* 3 " "$tmp/tp1.txt"
check_bench "$tmp/tp1.json" 1

"$mpirun_sh" -np 2 "$df11" "${bench[@]}" --json "$tmp/tp2.json"
check_bench "$tmp/tp2.json" 2
echo "PASS"
