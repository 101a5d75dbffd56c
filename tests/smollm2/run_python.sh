#!/usr/bin/env bash
# Runs a Python test with the interpreter ./launch/df11 test names in
# DF11_PYTHON (the venv of launch/cache.sh, which has gguf and numpy), else
# python3.
#
#   run_python.sh SCRIPT [ARGS...]
exec "${DF11_PYTHON:-python3}" "$@"
