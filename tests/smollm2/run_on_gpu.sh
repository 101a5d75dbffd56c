#!/usr/bin/env bash
# SmolLM2-135M-Instruct on the GPU machine (tests/smollm2/gpu_check.py):
# the GGUF and the `gguf` wheel travel with the call (the machine has no
# network), the bundle from launch/bundle.sh //loader/cli:df11.
#
#   tests/smollm2/run_on_gpu.sh GGUF_FILE GGUF_WHEEL
#
# Writes logs to $OUT (or ./out) and prints gpu_check.py's lines.
set -euo pipefail
gguf_file=$1
wheel=$2
OUT=${OUT:-out}
mkdir -p "$OUT"
source "${BUNDLE:-.bundle}/env.sh"
want=$(sed -n 's/^GGUF_SHA256=//p' launch/fetch_model.sh)
echo "$want  $gguf_file" | sha256sum -c --quiet
site=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --target "$site" "$wheel"
work=$(mktemp -d)
PYTHONPATH=$site python3 launch/import_gguf.py "$gguf_file" "$work/hf" \
  >"$OUT/import.log" 2>&1
python3 tests/smollm2/gpu_check.py "${BUNDLE:-.bundle}/bin/df11" "$work/hf" \
  "$work" 2>&1 | tee "$OUT/smollm2_gpu.log"
