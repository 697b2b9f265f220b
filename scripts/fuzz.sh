#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, ASan and UBSan in
# build-fuzz/, and runs each for a bounded time as one meson test (suite
# "fuzz"; results in <builddir>/meson-logs/testlog-fuzz.json), so
# scripts/summarize_tests.py counts one passed or failed test per target.
# See docs/fuzzing.md for longer runs by hand.
#
#   scripts/fuzz.sh [--seconds N] [--builddir DIR] [--configured]
#                   [--build-only] [TARGET...]
#
#   --seconds N    how long each target runs (default 20)
#   --build-only   configure and build the targets, run nothing
#   --builddir D   the build directory (default build-fuzz)
#   --configured   D is already configured with clang, -Dfuzz=enabled and
#                  the sanitizers (scripts/test.sh's build-asan/): build and
#                  run there, without configuring it again
#   TARGET...      run only these targets (e.g. snapshot_fuzz)
#
# Exit status: 0 when every target ran its time without a finding; 1 on a
# finding (the input is saved under <builddir>/fuzz-work/<target>/artifacts/),
# a build failure, or when clang / libFuzzer is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

seconds=20
builddir=build-fuzz
targets=()
build_only=0
configured=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-only) build_only=1; shift ;;
    --configured) configured=1; shift ;;
    --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
    --seconds=*) seconds="${1#--seconds=}"; shift ;;
    --builddir) builddir="${2:?--builddir needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) printf 'fuzz.sh: unknown option %s\n' "$1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  printf 'fuzz.sh: --seconds %s is not a positive whole number of seconds\n' "$seconds" >&2
  exit 2
fi
for tool in clang clang++; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    printf 'fuzz.sh: %s not found; install clang and libclang-rt-14-dev (scripts/install-deps.sh does)\n' "$tool" >&2
    exit 1
  fi
done

# Stale results must never count: a failed build leaves no testlog.
rm -f "$builddir/meson-logs/testlog-fuzz.json"

opts=(
  -Dfuzz=enabled -Dtests=false -Dbenchmarks=false -Dpython=disabled
  # Warnings are errors in CI; not a project default (packagers' compilers).
  -Dwerror=true
  # -O1 and line tables (like scripts/test.sh's sanitizer builds): quicker
  # to build than -O2 -g; reports still name file and line.
  -Doptimization=1 -Ddebug=false
  -Db_sanitize=address,undefined -Db_lundef=false
  "-Dcpp_args=['-g1','-fno-sanitize-recover=all']" "-Dc_args=['-g1','-fno-sanitize-recover=all']"
)
if [[ "$configured" -eq 1 ]]; then
  if [[ ! -f "$builddir/meson-private/coredata.dat" ]]; then
    printf 'fuzz.sh: --configured, but %s is not a configured build directory\n' "$builddir" >&2
    exit 1
  fi
elif [[ -f "$builddir/meson-private/coredata.dat" ]]; then
  meson setup --reconfigure "$builddir" "${opts[@]}" >/dev/null ||
    CC=clang CXX=clang++ meson setup --wipe "$builddir" "${opts[@]}"
else
  CC=clang CXX=clang++ meson setup "$builddir" "${opts[@]}"
fi

# Build only the fuzz targets (not the tools, examples, bindings).
mapfile -t all_targets < <(meson introspect "$builddir" --tests |
  /usr/bin/python3 -c 'import json,sys; print("\n".join(t["name"] for t in json.load(sys.stdin) if "fuzz" in t["suite"] or any(s.endswith(":fuzz") for s in t["suite"])))')
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=("${all_targets[@]}")
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  printf 'fuzz.sh: no fuzz target configured in %s (it needs clang and -Dfuzz=enabled)\n' "$builddir" >&2
  exit 1
fi
ninja_targets=()
for t in "${targets[@]}"; do ninja_targets+=("fuzz/$t"); done
ninja -C "$builddir" -j2 "${ninja_targets[@]}"
if [[ "$build_only" -eq 1 ]]; then
  exit 0
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
rc=0
# Two at a time: each target is one single-threaded process (CI has two
# cores); DEGRADE_FUZZ_JOBS changes that.
DEGRADE_FUZZ_SECONDS="$seconds" meson test -C "$builddir" --no-rebuild --print-errorlogs \
  --num-processes "${DEGRADE_FUZZ_JOBS:-2}" --logbase testlog-fuzz --suite fuzz "${targets[@]}" || rc=$?

printf '\n==== fuzz figures (%ss per target) ====\n' "$seconds"
for t in "${targets[@]}"; do
  cat "$builddir/fuzz-work/$t/summary.txt" 2>/dev/null || printf '%-20s no result\n' "$t"
done
exit "$rc"
