#!/usr/bin/env bash
# df11d on GPUs: one rank per GPU of this node, or of every node of a
# hostfile, on the CUDA backend. Each rank uses the GPU of its local rank
# (WorldConfig::device, from Open MPI's OMPI_COMM_WORLD_LOCAL_RANK), so
# ranks are placed node by node, one per GPU.
#
#   launch/serve_gpu_node.sh --model DIR [df11d flags]
#       all GPUs of this node (nvidia-smi -L counts them)
#   launch/serve_gpu_node.sh --hostfile launch/hostfile.example --model DIR
#       every slot of the hostfile (one per GPU; see that file)
#
# DF11D picks the binary (default bazel-bin/loader/serve/df11d; on a GPU
# machine without Bazel, the one launch/bundle.sh copied). MPI carries only
# the step plan and error agreement (self,vader on one node; tcp between
# nodes); the tensors go over NCCL. LD_LIBRARY_PATH and NCCL_* variables are
# passed to every rank. Signals and exit status: launch/serve.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
df11d=${DF11D:-$here/../bazel-bin/loader/serve/df11d}
hostfile=
args=()
while (($#)); do
  case "$1" in
    --hostfile) hostfile=$2; shift 2 ;;
    --hostfile=*) hostfile=${1#--hostfile=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

flags=(-x LD_LIBRARY_PATH -x "NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}")
for var in $(compgen -e | grep '^NCCL_' | grep -v '^NCCL_NVLS_ENABLE$' || true); do
  flags+=(-x "$var")
done
if [[ -n $hostfile ]]; then
  # One rank per slot, filling each node before the next.
  np=$(awk '!/^[[:space:]]*(#|$)/ { n = 1; for (i = 2; i <= NF; i++)
         if ($i ~ /^slots=/) { sub("slots=", "", $i); n = $i } t += n }
         END { print t }' "$hostfile")
  flags+=(--hostfile "$hostfile" --map-by slot)
  export DF11_MPI_BTL=${DF11_MPI_BTL:-self,vader,tcp}
else
  command -v nvidia-smi >/dev/null || {
    echo "serve_gpu_node: nvidia-smi not found: no GPU here?" >&2
    exit 1
  }
  np=$(nvidia-smi -L | grep -c '^GPU ')
fi
((np > 0)) || { echo "serve_gpu_node: no GPU slots" >&2; exit 1; }

export DF11_MPIRUN_FLAGS="${DF11_MPIRUN_FLAGS:-} ${flags[*]}"
echo "serve_gpu_node: $np rank(s), one per GPU" >&2
exec "$here/serve.sh" -np "$np" "$df11d" --backend=cuda "${args[@]}"
