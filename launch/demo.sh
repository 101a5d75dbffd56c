#!/usr/bin/env bash
# The demo behind `./launch/df11 demo`: the codec on LLM-like and adversarial
# tensors, then a whole checkpoint through synth -> compress (TP=2) ->
# inspect -> verify -> decompress -> byte-identical check.
set -euo pipefail
df11=$1
shift
work=$(mktemp -d /tmp/df11-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }

step "1. DF11 codec on a Llama-like layer and adversarial tensors"
"$df11" demo "$@"

step "2. synthesize a small Llama checkpoint (BF16, HF layout)"
"$df11" synth "$work/hf" --preset=small --max_file_gb=0.02
ls -l "$work/hf"

step "3. compress it for tensor parallelism over 2 GPUs"
"$df11" compress "$work/hf" "$work/df11" --tp=2
ls -l "$work/df11"

step "4. inspect the DF11 model directory"
"$df11" inspect "$work/df11" | tail -n 12

step "5. verify: decode every shard on the CPU, check checksums and every bit"
"$df11" verify "$work/df11" --against="$work/hf"

step "6. decompress back to a BF16 checkpoint and compare byte for byte"
"$df11" decompress "$work/df11" "$work/back"
for f in "$work"/hf/*; do
  cmp "$f" "$work/back/$(basename "$f")"
done
echo "all $(ls "$work/hf" | wc -l) files of the decompressed checkpoint are byte-identical to the original"
