#!/usr/bin/env bash
# `df11 <command> --help` for every command `df11 help` lists: exit 0, the
# command's usage, and each of its flags with the default absl reports for
# it (`--helpfull` groups every flag by the file that defines it; a command's
# own flags live in loader/cli/<command>_command.cc).
set -euo pipefail
df11=$1

commands=$("$df11" help | sed -n 's/^  \([a-z]*\) .*/\1/p')
[[ $(wc -w <<<"$commands") -ge 8 ]] || {
  echo "FAIL: df11 help lists too few commands: $commands" >&2
  exit 1
}
"$df11" --helpfull >all.txt || true  # absl exits 1 after --helpfull
for c in $commands; do
  for form in --help -h; do
    if ! "$df11" "$c" "$form" >help.txt 2>err.txt; then
      echo "FAIL: df11 $c $form exits $?: $(cat err.txt)" >&2
      exit 1
    fi
    grep -q "^usage: df11 $c" help.txt || {
      echo "FAIL: df11 $c $form: no usage line" >&2
      exit 1
    }
  done
  # Every flag of loader/cli/<command>_command.cc, with its default.
  python3 - "$c" all.txt help.txt <<'PY'
import re, sys
command, all_path, help_path = sys.argv[1:]
# Sections "  Flags from FILE:", entries "    --name (help); default: D;"
# (absl wraps long ones onto indented lines).
flags = {}
for section in re.split(r"^  Flags from ", open(all_path).read(), flags=re.M):
    if not section.startswith(f"loader/cli/{command}_command.cc:"):
        continue
    section = section.split("\n\n")[0]  # the rest is absl's closing hint
    for entry in re.split(r"^    --", section, flags=re.M)[1:]:
        entry = " ".join(entry.split())
        m = re.match(r"(\w+) \(.*\); default: (.*);$", entry)
        flags[m.group(1)] = m.group(2).strip('"')
text = open(help_path).read()
for name, default in flags.items():
    m = re.search(rf"^  --{name} .*\(default: \"?(.*?)\"?\)$", text, re.M)
    if m is None:
        sys.exit(f"FAIL: df11 {command} --help does not list --{name}")
    if m.group(1) != default:
        sys.exit(f"FAIL: df11 {command} --help: --{name} default "
                 f"{m.group(1)!r}, absl says {default!r}")
print(f"df11 {command} --help: {len(flags)} flags")
PY
done
"$df11" help run | grep -q -- "--prompt"
echo PASS
