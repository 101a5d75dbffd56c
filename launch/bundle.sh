#!/usr/bin/env bash
# Builds Bazel targets here and gathers them, with the shared libraries the
# GPU machine lacks, into .bundle/ (git-ignored) for the device tool's `carry`.
#
#   ./launch/bundle.sh //kernels:decode_df11_test //kernels:decode_bench
#   # on the GPU machine:
#   source .bundle/env.sh && .bundle/bin/decode_bench
#
# Project code is linked statically (--config=bundle). System libraries that
# the GPU machine (Ubuntu 24.04, CUDA 13) already has are left out: glibc,
# libstdc++, libgcc and the CUDA libraries; everything else that ldd names
# (abseil, gRPC, protobuf, upb, gpr, c-ares, re2, gtest, ...) is copied.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ $# -eq 0 ]]; then
  echo "usage: $0 //package:target ..." >&2
  exit 2
fi

bazel build --config=bundle --noshow_progress "$@"
BIN=$(bazel info --config=bundle bazel-bin 2>/dev/null)

OUT="$ROOT/.bundle"
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib"

# Present on the GPU machine, or part of its driver and toolkit.
SKIP='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt|libnccl|libnvidia-[a-z-]*)\.so'

for target in "$@"; do
  # //pkg:name -> pkg/name
  path="${target#//}"
  path="${path/://}"
  src="$BIN/$path"
  if [[ ! -f "$src" ]]; then
    echo "no binary at $src (is $target a cc_binary or cc_test?)" >&2
    exit 1
  fi
  cp -f "$src" "$OUT/bin/"
  chmod u+w "$OUT/bin/$(basename "$src")"
  ldd "$src" | awk '/=> \// {print $1, $3}' | while read -r name file; do
    if [[ ! "$name" =~ $SKIP ]]; then
      cp -Lf "$file" "$OUT/lib/$name"
    fi
  done
done

cat >"$OUT/env.sh" <<'ENV'
# Source on the GPU machine from the repository root.
_b="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export LD_LIBRARY_PATH="$_b/lib:/usr/local/cuda/lib64:/opt/torch/.venv/lib/python3.12/site-packages/nvidia/nccl/lib:/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset _b
ENV

echo "bundle: $(ls "$OUT/bin" | wc -l) binaries, $(ls "$OUT/lib" | wc -l) libraries, $(du -sh "$OUT" | cut -f1) in $OUT"

# The device tool carries at most 64 MiB: with BUNDLE_PACK=1 the bundle is
# also stripped and packed into .bundlexz/bundle.tar.xz (carry .bundlexz;
# on the GPU machine: mkdir -p .bundle && tar -xJf .bundlexz/bundle.tar.xz).
if [[ "${BUNDLE_PACK:-0}" == 1 ]]; then
  strip --strip-unneeded "$OUT"/bin/* "$OUT"/lib/* 2>/dev/null || true
  mkdir -p "$ROOT/.bundlexz"
  tar -C "$ROOT" -cf - .bundle | xz -T0 -6 >"$ROOT/.bundlexz/bundle.tar.xz"
  echo "bundle: packed $(du -h "$ROOT/.bundlexz/bundle.tar.xz" | cut -f1) in .bundlexz/bundle.tar.xz"
fi
