#!/usr/bin/env bash
# The demo behind `./launch/df11 demo`: the codec on LLM-like and adversarial
# tensors, then a whole checkpoint through synth -> compress (TP=2) ->
# inspect -> verify -> decompress -> byte-identical check, then a real model
# (SmolLM2-135M-Instruct, fetched by launch/fetch_model.sh): compress,
# tensor-parallel generation from a text prompt, text out; and last the
# daemon: df11d serving it under mpirun, one streamed Generate, a clean
# shutdown.
set -euo pipefail
df11=$1
shift
launch=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
df11d=$(dirname "$df11")/../serve/df11d
work=$(mktemp -d /tmp/df11-demo.XXXXXX)
serve_pid=
cleanup() {
  if [[ -n $serve_pid ]] && kill -0 "$serve_pid" 2>/dev/null; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    sleep 3
    pkill -KILL -P "$serve_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

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

step "7. a real model: SmolLM2-135M-Instruct, compressed, text in, text out"
model=$("$launch/fetch_model.sh" smollm2)
# TP=2 where the heads and FFN divide by 2, else TP=3 (SmolLM2: 9 heads).
tp=$(python3 - "$model/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
sizes = [c["num_attention_heads"], c["intermediate_size"]]
print(2 if all(s % 2 == 0 for s in sizes) else 3)
PY
)
"$df11" compress "$model" "$work/smollm2" --tp="$tp" | tail -n 6
prompt="The planets of the solar system are Mercury, Venus,"
echo
echo "TP=$tp, $tp MPI ranks, CPU backend, greedy; the prompt, then what the model writes:"
printf '%s' "$prompt"
"$launch/mpirun.sh" -np "$tp" "$df11" run --model "$work/smollm2" \
  --prompt "$prompt" --max_new 32

step "8. serve it: df11d on $tp ranks (mpirun), one streamed Generate, shutdown"
prompt="The three primary colors are"
"$launch/serve.sh" -np "$tp" "$df11d" --model="$work/smollm2" --port=0 \
  --port_file="$work/ports" --threads=$(( $(nproc) > tp ? $(nproc) / tp : 1 )) \
  2>"$work/df11d.log" &
serve_pid=$!
for _ in $(seq 600); do
  [[ -s $work/ports ]] && break
  sleep 0.1
done
server=127.0.0.1:$(sed -n 's/^grpc_port=//p' "$work/ports")
# The port opens while the model loads; Generate answers UNAVAILABLE until
# health says SERVING.
for _ in $(seq 600); do
  "$df11" generate --server="$server" --tokens=1 --max_new=1 >/dev/null \
    2>&1 && break
  sleep 0.1
done
head -n 3 "$work/df11d.log"
echo "prompt: $prompt"
"$df11" generate --server="$server" --max_new=32 "$prompt"
kill -TERM "$serve_pid"
status=0
wait "$serve_pid" || status=$?
serve_pid=
tail -n 1 "$work/df11d.log"
if ((status != 0)); then
  echo "df11d exited with status $status" >&2
  exit 1
fi
echo "df11d drained and every rank exited 0"
