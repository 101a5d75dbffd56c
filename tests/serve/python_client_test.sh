#!/usr/bin/env bash
# Python grpcio against df11d: stubs generated from our .proto files by
# grpcio-tools, a df11d job under mpirun -np 2 on a synthetic DF11 model,
# and the offline `df11 run` for the expected tokens (python_client.py).
#
#   python_client_test.sh DF11D DF11 MPIRUN_SH INFERENCE_PROTO HEALTH_PROTO
#                         CLIENT_PY
#
# Python comes from the repository's .venv, which launch/setup.sh makes
# (grpcio, grpcio-tools from PyPI). The daemon is killed after 180 s
# whatever happens, and on any exit of this script.
set -euo pipefail
df11d=$1 df11=$2 mpirun_sh=$3 inference_proto=$4 health_proto=$5 client=$6
work=${TEST_TMPDIR:-$(mktemp -d)}
xml=${XML_OUTPUT_FILE:-$work/report.xml}

# The repository root: this script is a symlink into it.
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
python=$root/.venv/bin/python3
if ! "$python" -c 'import grpc, grpc_tools' 2>/dev/null; then
  echo "error: $python with grpcio and grpcio-tools not found: run" \
    "launch/setup.sh (it makes $root/.venv)" >&2
  exit 1
fi

"$df11" synth "$work/hf" --preset=tiny >/dev/null
"$df11" compress "$work/hf" "$work/model" --tp=2 >/dev/null 2>&1
"$mpirun_sh" -np 2 "$df11" run --model="$work/model" --tokens=1,2,3,4,5 \
  --max_new=12 --temperature=0.8 --top_k=40 --sample_seed=3 --json \
  --threads=2 >"$work/expected.json"

# Stubs: the .proto files at their repository paths, so that the generated
# modules import each other as proto.df11.v1 and tests.serve.
mkdir -p "$work/protos/proto/df11/v1" "$work/protos/tests/serve" "$work/stubs"
cp "$inference_proto" "$work/protos/proto/df11/v1/"
cp "$health_proto" "$work/protos/tests/serve/"
"$python" -m grpc_tools.protoc -I"$work/protos" --python_out="$work/stubs" \
  --grpc_python_out="$work/stubs" proto/df11/v1/inference.proto \
  tests/serve/health.proto

# timeout makes its own process group and, at the limit, kills all of it
# (mpirun.sh, mpirun, the ranks).
timeout -s KILL 180 "$mpirun_sh" -np 2 "$df11d" --model="$work/model" \
  --port=0 --port_file="$work/ports" --threads=2 >"$work/daemon.log" 2>&1 &
job=$!
cleanup() {
  # Drain (mpirun.sh passes SIGUSR1 on to every rank), then kill what is
  # left.
  pkill -USR1 -P "$job" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$job" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- -"$job" 2>/dev/null || true
}
trap cleanup EXIT

for _ in $(seq 600); do
  [[ -s "$work/ports" ]] && break
  kill -0 "$job" 2>/dev/null || break
  sleep 0.1
done
port=$(sed -n 's/^grpc_port=//p' "$work/ports" 2>/dev/null || true)
if [[ -z "$port" ]]; then
  echo "error: df11d did not start:" >&2
  cat "$work/daemon.log" >&2
  exit 1
fi

status=0
"$python" "$client" "$work/stubs" "127.0.0.1:$port" "$work/expected.json" \
  "$xml" || status=$?
if ((status != 0)); then
  echo "--- daemon log" >&2
  cat "$work/daemon.log" >&2
fi
exit "$status"
