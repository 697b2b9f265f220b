#!/usr/bin/env bash
# degrade embedded in another project (suite 'packaging').
#
#   tests/packaging/subproject_check.sh SOURCE_ROOT BUILD_ROOT
#
# Builds tests/packaging/consumer/ -- a tiny meson project that takes
# dependency('degrade') with a subproject fallback -- with degrade's source
# tree as its subprojects/degrade (a symlink), in
# BUILD_ROOT/packaging/subproject/, with the consumer's default options but
# for a unity build (-Dunity=on: meson 1.0 takes it from the main project
# only, and the consumer is one file; install_check.sh says why).
# Fails unless: the program builds and runs; the consumer's
# `meson test --list` holds its own test only (no degrade test, no
# benchmark); degrade adds no targets but its library; nothing but the
# library files would be installed (no degradectl); and no degrade source is
# compiled with -Werror the consumer did not ask for.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 SOURCE_ROOT BUILD_ROOT" >&2
  exit 2
fi
SRC="$(cd "$1" && pwd)"
WORK="$(cd "$2" && pwd)/packaging/subproject"
PY=/usr/bin/python3

fail() { printf 'subproject_check: FAIL: %s\n' "$*" >&2; exit 1; }
ok() { printf 'subproject_check: ok: %s\n' "$*"; }

rm -rf "$WORK"
mkdir -p "$WORK/src/subprojects"
cp "$SRC/tests/packaging/consumer/meson.build" "$SRC/tests/packaging/consumer/main.cc" "$WORK/src/"
ln -s "$SRC" "$WORK/src/subprojects/degrade"

meson setup "$WORK/build" "$WORK/src" -Dunity=on -Dunity_size=16 \
  >"$WORK/setup.log" 2>&1 ||
  { cat "$WORK/setup.log" >&2; fail "meson setup of the consumer failed (log above)"; }
grep -q "^Executing subproject degrade" "$WORK/setup.log" &&
  grep -q "^Dependency degrade found: YES" "$WORK/setup.log" ||
  fail "dependency('degrade') did not come from the subproject (see $WORK/setup.log)"
ok "consumer configured; dependency('degrade') resolved to subprojects/degrade"

# Tests and benchmarks: the consumer's own only.
tests="$(meson test -C "$WORK/build" --list --no-rebuild 2>/dev/null)"
printf '%s\n' "$tests" | sed 's/^/    meson test --list: /'
[[ "$(printf '%s\n' "$tests" | grep -c .)" -eq 1 && "$tests" == *consumer_runs* ]] ||
  fail "the consumer's meson test --list is not exactly its own test: $tests"
benchmarks="$(meson test -C "$WORK/build" --benchmark --list --no-rebuild 2>/dev/null |
  grep -v '^No tests defined\.$' || true)"
[[ -z "$(printf '%s' "$benchmarks" | tr -d '[:space:]')" ]] ||
  fail "degrade registered benchmarks in the consumer: $benchmarks"
ok "meson test --list: only the consumer's test; no benchmark"

# Targets and installed files that degrade adds.
meson introspect "$WORK/build" --targets --installed >"$WORK/introspect.json"
"$PY" - "$WORK/introspect.json" <<'PYEOF' || fail "degrade adds more than its library (see above)"
import json, sys
data = json.load(open(sys.argv[1]))
ours = sorted(t['name'] for t in data['targets'] if t.get('subproject') == 'degrade')
print('    degrade targets:', ', '.join(ours))
extra = [n for n in ours if n not in ('degrade', 'degrade_internal')]
bins = [dst for dst in data['installed'].values() if '/bin/' in dst]
print('    installed programs:', ', '.join(bins) or 'none')
if extra:
    print('    unexpected degrade targets:', ', '.join(extra))
if bins:
    print('    unexpected installed programs:', ', '.join(bins))
sys.exit(1 if extra or bins else 0)
PYEOF
ok "degrade adds its library only (no tools, tests, demos, benchmarks); installs no program"

ninja -C "$WORK/build" >"$WORK/build.log" 2>&1 ||
  { tail -50 "$WORK/build.log" >&2; fail "the consumer's build failed (log above)"; }
if grep -q -- '-Werror' "$WORK/build/compile_commands.json"; then
  fail "a compile command has -Werror although the consumer did not ask for it"
fi
ok "built; no -Werror in any compile command"

out="$("$WORK/build/consumer")" || fail "the consumer program exited non-zero"
printf '    %s\n' "$out"
[[ "$out" == "consumer: with recommendations; switch on"* ]] ||
  fail "the consumer printed something unexpected: $out"
ok "the consumer ran against the subproject's libdegrade"

rm -rf "$WORK"
