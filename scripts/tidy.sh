#!/usr/bin/env bash
# Runs clang-tidy (configuration: .clang-tidy) over every source file of
# lib/ and tools/ in build/compile_commands.json; the headers of include/,
# lib/ and tools/ are checked through them (HeaderFilterRegex). Any warning
# fails (WarningsAsErrors: '*').
#
#   scripts/tidy.sh [--builddir DIR] [FILE...]
#
#   --builddir D   where compile_commands.json is (default build; configured
#                  with `meson setup` first if missing)
#   FILE...        check only these files (e.g. lib/core/env.cc)
#
# Output: clang-tidy's diagnostics, then one line "tidy: N files, N with
# warnings, Ns". Exit status 0 iff no file has a warning or error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

builddir=build
files=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --builddir) builddir="${2:?--builddir needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) printf 'tidy.sh: unknown option %s\n' "$1" >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
  esac
done

TIDY="$(command -v clang-tidy-14 || command -v clang-tidy || true)"
if [[ -z "$TIDY" ]]; then
  printf 'tidy.sh: clang-tidy not found; install clang-tidy (scripts/install-deps.sh does)\n' >&2
  exit 1
fi
if [[ ! -f "$builddir/compile_commands.json" ]]; then
  meson setup "$builddir" >/dev/null
fi

if [[ ${#files[@]} -eq 0 ]]; then
  mapfile -t files < <(/usr/bin/python3 - "$builddir" <<'PY'
import json, os, sys
build = sys.argv[1]
root = os.getcwd()
seen = set()
for entry in json.load(open(os.path.join(build, "compile_commands.json"))):
    path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
    rel = os.path.relpath(path, root)
    if rel.startswith(("lib/", "tools/")) and rel.endswith(".cc") and rel not in seen:
        seen.add(rel)
        print(rel)
PY
  )
fi
if [[ ${#files[@]} -eq 0 ]]; then
  printf 'tidy.sh: no lib/ or tools/ source in %s/compile_commands.json\n' "$builddir" >&2
  exit 1
fi

start="$(date +%s)"
logdir="$(mktemp -d "${TMPDIR:-/tmp}/degrade-tidy.XXXXXX")"
trap 'rm -rf "$logdir"' EXIT
# Two at a time (the machine has two cores); each file's output is printed
# whole, not interleaved.
printf '%s\n' "${files[@]}" |
  xargs -P 2 -I{} sh -c '
    out="$1/$(printf "%s" "$2" | tr "/" "_").log"
    if "$0" -p "$3" --quiet "$2" >"$out" 2>&1; then : ; else echo "$2" >>"$1/failed"; fi
  ' "$TIDY" "$logdir" {} "$builddir"
failed=0
for f in "${files[@]}"; do
  log="$logdir/$(printf '%s' "$f" | tr '/' '_').log"
  # clang-tidy prints "N warnings generated." for suppressed system-header
  # warnings too; only diagnostics in our files matter.
  if grep -qE '(warning|error):' "$log"; then
    printf '==== %s\n' "$f"
    grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^Use -system-headers' "$log" || true
  fi
done
if [[ -f "$logdir/failed" ]]; then
  failed="$(sort -u "$logdir/failed" | wc -l)"
fi
end="$(date +%s)"
printf 'tidy: %d files, %d with warnings, %ds\n' "${#files[@]}" "$failed" "$((end - start))"
[[ "$failed" -eq 0 ]]
