#!/usr/bin/env bash
# End-to-end compression throughput against the codec's own encode speed,
# measured in the same run, plus peak memory, on a multi-GB synthetic
# Llama 3.1 8B-shaped checkpoint.
#
#   loader/format/run_compress_bench.sh [LAYERS]     (default 6: 4.7 GB BF16)
#
# Prints a table and writes JSON to $DF11_BENCH_DIR/compress_bench.json.
# With DF11_BIN_DIR set (e.g. .bundle/bin on a machine without Bazel), uses
# the df11 and codec_bench binaries found there instead of building them.
set -euo pipefail
cd "$(dirname "$0")/../.."
layers=${1:-6}
work=${DF11_BENCH_DIR:-/tmp/df11-compress-bench}
mkdir -p "$work"

if [[ -n ${DF11_BIN_DIR:-} ]]; then
  cp "$DF11_BIN_DIR/df11" "$DF11_BIN_DIR/codec_bench" "$work/"
else
  bazel build --noshow_progress --ui_event_filters=-info --show_result=0 \
    //loader/cli:df11 //loader/codec:codec_bench
  # Private copies: another build may repoint bazel-bin meanwhile.
  cp bazel-bin/loader/cli/df11 bazel-bin/loader/codec/codec_bench "$work/"
fi
threads=$(nproc)

echo "== codec baseline: multi-threaded encode of an 8B-shaped layer in memory"
"$work/codec_bench" --hidden=4096 --ffn=14336 --repeats=3 \
  --json_out="$work/codec.json" | tee "$work/codec.txt"
codec_mbs=$(python3 -c "import json; print(json.load(open('$work/codec.json'))[0]['encode_mb_s_nt'])")

hf="$work/hf-8b-${layers}layers"
if [[ ! -d $hf ]]; then
  echo "== synthesizing $hf"
  "$work/df11" synth "$hf" --preset=8b --layers="$layers"
fi

declare -A mbs rss secs
for tp in 1 8; do
  out="$work/df11-tp$tp"
  rm -rf "$out"
  sync
  echo "== df11 compress --tp=$tp"
  line=$("$work/df11" compress "$hf" "$out" --tp="$tp" 2>/dev/null | tail -n 1)
  echo "$line"
  secs[$tp]=$(sed -E 's/.* in ([0-9.]+) s,.*/\1/' <<<"$line")
  rss[$tp]=$(sed -E 's/.*peak RSS ([0-9.]+ [KMG]B).*/\1/' <<<"$line")
  bytes=$(python3 -c "import json,sys; m=json.load(open('$out/df11.json')); \
import math; print(sum(math.prod(t['shape'])*2 for t in m['tensors']))")
  mbs[$tp]=$(python3 -c "print(round($bytes/1e6/${secs[$tp]}, 1))")
  rm -rf "$out"
done

python3 - "$codec_mbs" "${mbs[1]}" "${mbs[8]}" "${rss[1]}" "${rss[8]}" \
  "$threads" "$work/compress_bench.json" <<'PY'
import json, sys
codec, tp1, tp8, rss1, rss8, threads, out = sys.argv[1:]
codec, tp1, tp8, threads = float(codec), float(tp1), float(tp8), int(threads)
print(f"\n{'':28} {'MB/s BF16 in':>13} {'vs codec':>9} {'peak RSS':>10}")
print(f"{'codec encode, in memory':28} {codec:13.0f} {'1.00':>9} {'':>10}")
for name, v, r in (("df11 compress --tp=1", tp1, rss1), ("df11 compress --tp=8", tp8, rss8)):
    print(f"{name:28} {v:13.0f} {v / codec:9.2f} {r:>10}")
best = max(tp1, tp8)
per_thread = tp8 / threads
est = 812e9 / (per_thread * 1e6 * 64)
print(f"\nper thread at tp=8: {per_thread:.0f} MB/s; Llama 3.1 405B (812 GB) on "
      f"64 cores, CPU-bound estimate: {est:.0f} s ({est / 60:.1f} min)")
print(f"published DF11: ~2133 s per transformer block on one thread, "
      f"126 blocks = {2133 * 126 / 3600:.0f} h; here one 405B block "
      f"(6.4 GB BF16) on one thread: ~{6.4e9 / (per_thread * 1e6):.0f} s")
json.dump({"codec_encode_mb_s": codec, "compress_tp1_mb_s": tp1,
           "compress_tp8_mb_s": tp8, "peak_rss_tp1": rss1, "peak_rss_tp8": rss8,
           "threads": threads, "estimate_405b_64_cores_s": est},
          open(out, "w"), indent=1)
PY
