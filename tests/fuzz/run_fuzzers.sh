#!/usr/bin/env bash
# Builds each libFuzzer target with clang (Bazel's toolchain is gcc) and runs
# it for a bounded time on its committed seed corpus; fails on any crash,
# leak, sanitizer report or timeout. Skips, with a notice, where clang++ or
# libFuzzer is missing.
#
#   tests/fuzz/run_fuzzers.sh [NAME...]       from the repository root
#   FUZZ_SECONDS=60 tests/fuzz/run_fuzzers.sh safetensors_header
#
# Also runs as //tests/fuzz:fuzz_test; under Bazel it writes one test case
# per fuzzer to $XML_OUTPUT_FILE, so the test command counts each fuzzer.
#
# To add a fuzzer: add one line to FUZZERS (its seeds go in
# tests/fuzz/corpus/NAME/) and its sources to the data of //tests/fuzz:fuzz_test.
set -uo pipefail

# name | sources, relative to the repository root | libraries
FUZZERS=(
  "safetensors_header|tests/fuzz/safetensors_header_fuzzer.cc loader/base/dtype.cc loader/base/strict_json.cc loader/format/safetensors_reader.cc loader/format/safetensors_writer.cc loader/format/block_writer.cc loader/format/checksum.cc|-labsl_statusor -labsl_status -labsl_cord -labsl_str_format_internal -labsl_strings -labsl_int128 -labsl_raw_logging_internal"
  "manifest|tests/fuzz/manifest_fuzzer.cc loader/base/dtype.cc loader/base/strict_json.cc loader/format/df11_manifest.cc loader/format/safetensors_reader.cc loader/format/safetensors_writer.cc loader/format/block_writer.cc loader/format/checksum.cc loader/shard/llama_split.cc loader/codec/encoded_tensor.cc loader/codec/huffman_code.cc|-labsl_statusor -labsl_status -labsl_cord -labsl_str_format_internal -labsl_strings -labsl_int128 -labsl_throw_delegate -labsl_raw_logging_internal"
)

CXX=${FUZZ_CXX:-clang++}
SECONDS_EACH=${FUZZ_SECONDS:-20}
WORK=${TEST_TMPDIR:-$(mktemp -d)}/fuzz
ARTIFACTS=${TEST_UNDECLARED_OUTPUTS_DIR:-$WORK}/
XML=${XML_OUTPUT_FILE:-}
CXXFLAGS=(-std=c++17 -g -O1 -I. -fno-omit-frame-pointer
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
mkdir -p "$WORK"

cases_xml=""
passed=0 failed=0 skipped=0
record() {  # record NAME passed|failed|skipped [MESSAGE]
  local body=""
  case $2 in
    passed) passed=$((passed + 1)) ;;
    failed) failed=$((failed + 1)); body="<failure message=\"$3\"/>" ;;
    skipped) skipped=$((skipped + 1)); body="<skipped message=\"$3\"/>" ;;
  esac
  cases_xml+="<testcase classname=\"Fuzz\" name=\"$1\">$body</testcase>"
  echo "fuzz: $1: $2${3:+ ($3)}"
}

have_libfuzzer() {
  command -v "$CXX" >/dev/null 2>&1 || return 1
  echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, long) { return 0; }' |
    "$CXX" -x c++ -fsanitize=fuzzer - -o "$WORK/probe" 2>/dev/null
}

run_one() {  # run_one NAME SOURCES LIBS
  local name=$1 bin="$WORK/$1" log="$WORK/$1.log"
  local -a srcs libs
  read -r -a srcs <<<"$2"
  read -r -a libs <<<"$3"
  if ! "$CXX" "${CXXFLAGS[@]}" "${srcs[@]}" "${libs[@]}" -o "$bin" \
    >"$log" 2>&1; then
    cat "$log"
    record "$name" failed "build failed"
    return
  fi
  local seeds="tests/fuzz/corpus/$name"
  mkdir -p "$WORK/$name.corpus"
  # New inputs go to the scratch corpus (first); the committed seeds stay.
  if "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$ARTIFACTS$name-" -print_final_stats=1 \
    "$WORK/$name.corpus" "$seeds" >"$log" 2>&1; then
    record "$name" passed
    tail -n 3 "$log"
  else
    tail -n 60 "$log"
    record "$name" failed "crash or sanitizer report; see the log above"
  fi
}

wanted=("$@")
libfuzzer=1
have_libfuzzer || libfuzzer=0
if ((libfuzzer == 0)); then
  echo "notice: $CXX with libFuzzer (-fsanitize=fuzzer) not found: skipping fuzzers"
fi
for entry in "${FUZZERS[@]}"; do
  IFS='|' read -r name srcs libs <<<"$entry"
  if ((${#wanted[@]} > 0)) && [[ " ${wanted[*]} " != *" $name "* ]]; then
    continue
  fi
  if ((libfuzzer == 0)); then
    record "$name" skipped "no clang++ with libFuzzer"
    continue
  fi
  run_one "$name" "$srcs" "$libs"
done

if [[ -n $XML ]]; then
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo "<testsuites><testsuite name=\"Fuzz\" tests=\"$((passed + failed + skipped))\" failures=\"$failed\" skipped=\"$skipped\">"
    echo "$cases_xml"
    echo '</testsuite></testsuites>'
  } >"$XML"
fi
echo "fuzz: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
