#!/usr/bin/env bash
# `df11 run` end to end: greedy tokens from the CLI at TP=1 (BF16 checkpoint)
# and TP=2 (DF11 directory, under launch/mpirun.sh) equal transformers'.
#
#   run_cli_test.sh DF11_BINARY MPIRUN_SH
set -euo pipefail
df11=$1
mpirun_sh=$2
model=tests/engine/testdata/gqa_llama3
tmp=${TEST_TMPDIR:-$(mktemp -d)}

read -r prompt want < <(python3 - "$model/golden.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
print(",".join(map(str, g["prompts"][2])), json.dumps({"tokens": g["greedy"][2]}, separators=(",", ":")))
PY
)

"$df11" compress "$model" "$tmp/tp2" --tp 2 >/dev/null
got1=$("$df11" run --model "$model" --tokens "$prompt" --max_new 20 --ignore_eos --json --threads 1)
got2=$("$mpirun_sh" -np 2 "$df11" run --model "$tmp/tp2" --tokens "$prompt" --max_new 20 --ignore_eos --json --threads 1)
for got in "$got1" "$got2"; do
  if [[ "$got" != "$want" ]]; then
    echo "FAIL: got $got, want $want" >&2
    exit 1
  fi
done
echo "PASS: TP=1 and TP=2 greedy tokens match transformers: $want"
