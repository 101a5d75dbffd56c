#!/usr/bin/env bash
# End to end: `df11 demo` round-trips every tensor and says so; `df11` with an
# unknown command fails with a usage message.
set -euo pipefail
df11=$1

out=$("$df11" demo --demo_hidden=256 --demo_ffn=768 --threads=2)
echo "$out"
grep -q "all 9 tensors round-trip bit for bit" <<<"$out"
# Every row says yes; none says NO.
[[ $(grep -c " yes$" <<<"$out") -eq 9 ]]
! grep -q "NO" <<<"$out"

if "$df11" no-such-command 2>err.txt; then
  echo "unknown command should fail" >&2
  exit 1
fi
grep -q "unknown command 'no-such-command'" err.txt
