#!/usr/bin/env bash
# End to end through the `df11` binary: synth -> compress -> inspect ->
# verify -> decompress -> identical files; then a corrupted payload byte must
# make verify and inspect fail and name the file and the tensor.
set -euo pipefail
df11=$1
work=${TEST_TMPDIR:-$(mktemp -d)}/model_dir
rm -rf "$work"

"$df11" synth "$work/hf" --preset=tiny --max_file_gb=0.0001
[[ -f $work/hf/model.safetensors.index.json ]]

"$df11" compress "$work/hf" "$work/df11" --tp=2 >"$work/compress.txt"
grep -q "DF11-encoded shards" "$work/compress.txt"
ls "$work/df11/rank-00.safetensors" "$work/df11/rank-01.safetensors" \
  "$work/df11/df11.json" "$work/df11/config.json" >/dev/null
if ls -d "$work"/df11.tmp-* 2>/dev/null; then
  echo "temporary directory left behind" >&2
  exit 1
fi

"$df11" inspect "$work/df11" | grep -q "all payload checksums ok"
"$df11" verify "$work/df11" --against="$work/hf" | grep -q "^OK: "
"$df11" decompress "$work/df11" "$work/back"
for f in "$work"/hf/*; do cmp "$f" "$work/back/$(basename "$f")"; done

# Compressing onto an existing directory fails and leaves it alone.
if "$df11" compress "$work/hf" "$work/df11" --tp=2 2>"$work/err.txt"; then
  echo "compress over an existing directory succeeded" >&2
  exit 1
fi
grep -q "already exists" "$work/err.txt"

# Flip one byte inside the sign/mantissa array of one tensor in rank 1.
tensor=model.layers.1.mlp.down_proj.weight
offset=$(python3 - "$work/df11/rank-01.safetensors" "$tensor.df11.sign_mantissa" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
print(8 + n + header[sys.argv[2]]["data_offsets"][0] + 5)
PY
)
printf '\xff' | dd of="$work/df11/rank-01.safetensors" bs=1 seek="$offset" \
  conv=notrunc status=none

if "$df11" verify "$work/df11" 2>"$work/verify_err.txt"; then
  echo "verify passed a corrupted model" >&2
  exit 1
fi
grep -q "rank-01.safetensors" "$work/verify_err.txt"
grep -q "$tensor" "$work/verify_err.txt"
grep -q "checksum" "$work/verify_err.txt"

if "$df11" inspect "$work/df11" >"$work/inspect.txt"; then
  echo "inspect passed a corrupted model" >&2
  exit 1
fi
grep "$tensor" "$work/inspect.txt" | grep -q "BAD rank 1"
echo "PASS"
