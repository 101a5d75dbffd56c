#!/usr/bin/env bash
# End-to-end compression throughput against the codec's own encode speed,
# measured in the same run, plus peak memory, on a multi-GB synthetic
# Llama 3.1 8B-shaped checkpoint.
#
#   loader/format/run_compress_bench.sh [LAYERS]     (default 6: 4.7 GB BF16)
#
# Runs DF11_BENCH_ROUNDS (default 3) rounds, prints a table and writes JSON
# to $DF11_BENCH_DIR/compress_bench.json.
# With DF11_BIN_DIR set (e.g. .bundle/bin on a machine without Bazel), uses
# the df11 and codec_bench binaries found there instead of building them.
# DF11_BENCH_OUT puts the compressed output elsewhere (e.g. /dev/shm, to take
# the disk out of the measurement).
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
rounds=${DF11_BENCH_ROUNDS:-3}

hf="$work/hf-8b-${layers}layers"
if [[ ! -d $hf ]]; then
  echo "== synthesizing $hf"
  "$work/df11" synth "$hf" --preset=8b --layers="$layers"
fi
bytes=$(python3 -c "import json; m=json.load(open('$hf/model.safetensors.index.json')); \
print(m['metadata']['total_size'])" 2>/dev/null || du -cb "$hf"/*.safetensors | tail -1 | cut -f1)

# Rounds of (codec baseline, compress --tp=1, compress --tp=8): each ratio is
# against the codec speed of its own round, because a VM's speed drifts.
results="$work/rounds.txt"
: >"$results"
for round in $(seq 1 "$rounds"); do
  echo "== round $round/$rounds: codec baseline, multi-threaded encode of an 8B-shaped layer in memory"
  "$work/codec_bench" --hidden=4096 --ffn=14336 --repeats=3 \
    --json_out="$work/codec.json" | grep -E "encode|decode"
  codec=$(python3 -c "import json; print(json.load(open('$work/codec.json'))[0]['encode_mb_s_nt'])")
  line_out="$round $codec"
  for tp in 1 8; do
    out="${DF11_BENCH_OUT:-$work}/df11-tp$tp"
    rm -rf "$out"
    sync
    line=$("$work/df11" compress "$hf" "$out" --tp="$tp" 2>/dev/null | tail -n 1)
    echo "   compress --tp=$tp: $line"
    secs=$(sed -E 's/.* in ([0-9.]+) s,.*/\1/' <<<"$line")
    rss=$(sed -E 's/.*peak RSS ([0-9.]+) ([KMG])B.*/\1\2/' <<<"$line")
    line_out+=" $secs $rss"
    rm -rf "$out"
  done
  echo "$line_out" >>"$results"
done

python3 - "$results" "$bytes" "$threads" "$work/compress_bench.json" <<'PY'
import json, statistics, sys
path, total, threads, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = []
for line in open(path):
    r, codec, s1, rss1, s8, rss8 = line.split()
    rows.append(dict(codec=float(codec), tp1=total / 1e6 / float(s1),
                     tp8=total / 1e6 / float(s8), rss1=rss1, rss8=rss8))
print(f"\n{total / 1e9:.2f} GB of BF16, {threads} threads; MB/s of BF16 in, "
      f"and the ratio to the same round's codec encode")
print(f"{'round':>5} {'codec encode':>13} {'compress tp=1':>19} {'compress tp=8':>19} {'peak RSS tp=1/8':>17}")
for i, r in enumerate(rows, 1):
    print(f"{i:>5} {r['codec']:13.0f} {r['tp1']:11.0f} ({r['tp1'] / r['codec']:.2f})"
          f" {r['tp8']:11.0f} ({r['tp8'] / r['codec']:.2f}) {r['rss1']:>8}/{r['rss8']}")
med = lambda k: statistics.median(r[k] for r in rows)
ratio = lambda k: statistics.median(r[k] / r['codec'] for r in rows)
print(f"median {med('codec'):12.0f} {med('tp1'):11.0f} ({ratio('tp1'):.2f}) "
      f"{med('tp8'):11.0f} ({ratio('tp8'):.2f})")
per_thread = med('tp8') / threads
est = 812e9 / (per_thread * 1e6 * 64)
print(f"\nper thread at tp=8: {per_thread:.0f} MB/s; Llama 3.1 405B (812 GB) on "
      f"64 cores, CPU-bound estimate: {est:.0f} s ({est / 60:.1f} min)")
print(f"published DF11: ~2133 s per transformer block on one thread, "
      f"126 blocks = {2133 * 126 / 3600:.0f} h; here one 405B block "
      f"(6.4 GB BF16) on one thread: ~{6.4e9 / (per_thread * 1e6):.0f} s")
json.dump({"rounds": rows, "threads": threads, "bf16_bytes": total,
           "median_ratio_tp1": ratio('tp1'), "median_ratio_tp8": ratio('tp8'),
           "estimate_405b_64_cores_s": est}, open(out, "w"), indent=1)
PY
