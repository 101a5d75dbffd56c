#!/usr/bin/env bash
# Writes the interop fixture with our SafetensorsWriter and has the reference
# Python safetensors package read and check it. Skipped, with a notice and a
# "skipped" test case, where python3 or the package is missing.
#
#   python_reads_df11_test.sh WRITER SCRIPT RECIPE
set -euo pipefail
writer=$1 script=$2 recipe=$3
xml=${XML_OUTPUT_FILE:-/dev/null}

report() {  # report STATUS [MESSAGE]
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<testsuites><testsuite name="PythonReadsDf11" tests="1">'
    echo -n '<testcase classname="PythonReadsDf11" name="ReferenceReaderAcceptsOurFile">'
    case $1 in
      skipped) echo -n "<skipped message=\"$2\"/>" ;;
      failed) echo -n "<failure message=\"$2\"/>" ;;
    esac
    echo '</testcase></testsuite></testsuites>'
  } >"$xml"
}

if ! python3 -c 'import numpy, safetensors' 2>/dev/null; then
  msg="python3 with safetensors and numpy not found"
  echo "notice: $msg: skipping the live check (the committed fixture" \
    "df11_written.safetensors was verified by the package; see" \
    "safetensors_interop_test)"
  report skipped "$msg"
  exit 0
fi
out="${TEST_TMPDIR:-/tmp}/df11_written.safetensors"
"$writer" "$recipe" "$out"
if python3 "$script" verify "$out" "$recipe"; then
  report passed
else
  report failed "the reference reader rejected or misread our file"
  exit 1
fi
