#!/usr/bin/env bash
# shellcheck disable=SC2317  # stage functions are called indirectly, through run_stage
# degrade's test command (what CI runs through .ci/run, on a 2-core machine,
# in a fresh clone; the whole run must stay under 30 minutes there).
#
# Which tests run in which build, with what environment, is meson's: the
# test setups of tests/meson.build say what each sanitizer excludes and why;
# one stage by hand is `meson test -C build-tsan --setup=tsan [--suite S]`.
# This script builds, runs the stages in order and counts. Stages:
#   1. install-deps   scripts/install-deps.sh; a no-op when all is present
#   2. normal         build/ (gcc, -Dwerror=true): everything, then --setup=ci
#                     (its packaging suite installs into a custom prefix and
#                     builds pkg-config, CMake and subproject consumers)
#   3. ASan+UBSan     build-asan/ (clang; ASAN_CC/ASAN_CXX): --setup=asan;
#                     the same directory also builds the libFuzzer targets
#                     (-Dfuzz=enabled: coverage on the library only)
#   4. TSan           build-tsan/ (gcc): --setup=tsan
#   5. clang-tidy     scripts/tidy.sh over lib/, include/, tools/ (one case)
#   6. fuzz           scripts/fuzz.sh in build-asan/ (build-fuzz/ with
#                     --no-asan): each libFuzzer target, one case each, two
#                     at a time, DEGRADE_TEST_FUZZ_SECONDS (default 20)
#   7. summary        scripts/summarize_tests.py; its last line is exactly
#                     "N passed, N failed" (real results)
# A sanitizer stage builds only what its setup runs. While one stage's tests
# run (mostly waiting on servers and timeouts), the next build runs in the
# background at nice 19. A failing stage does not stop the later ones; the
# exit status is non-zero if anything failed or nothing ran. A build stage
# first deletes its dir's old results: none is counted from an old run.
#
# Options:
#   --quick              normal build and its tests only (for developers)
#   --no-asan, --no-tsan skip the ASan+UBSan, the TSan build
set -euo pipefail
usage() { sed -n '3,/^set -euo/p' "$ROOT/scripts/test.sh" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }
cd "$(dirname "${BASH_SOURCE[0]}")/.." && ROOT="$PWD"
PYTHON=/usr/bin/python3 JOBS=2
# -Dwerror=true is CI's, not a default option (a packager's newer compiler
# must not fail on a new warning). Sanitizer builds keep -Dwerror=false: gcc
# 12 raises false warnings under -fsanitize (-Wmismatched-new-delete on a
# test's operator new) that must not hide their results. -O1 -g1: quicker to
# compile, reports still name file and line (no --buildtype: meson 1.0 lets
# it override -Doptimization/-Ddebug). ASan+UBSan uses clang 14, twice as
# fast as gcc under -fsanitize (degradectl_test.cc: 11.5 s vs 24.1 s); TSan
# stays on gcc: clang's static TSan runtime has its own operator new, which
# collides with alloc_test's and memory_test's.
ASAN_CC="${ASAN_CC:-clang}" ASAN_CXX="${ASAN_CXX:-clang++}"
NORMAL_OPTS="--buildtype=debugoptimized -Dwerror=true -Dopenfeature_tests=enabled"
SANITIZER_OPTS="-Doptimization=1 -Ddebug=false -Db_lundef=false -Dbenchmarks=false -Dpython=disabled -Dwerror=false"
# The ASan+UBSan build also holds the fuzz targets (their flags are its
# own): one clang compile of the library serves both.
ASAN_OPTS="$SANITIZER_OPTS -Dfuzz=enabled -Db_sanitize=address,undefined -Dcpp_args=['-g1','-fno-sanitize-recover=all'] -Dc_args=['-g1','-fno-sanitize-recover=all']"
TSAN_OPTS="$SANITIZER_OPTS -Db_sanitize=thread -Dcpp_args=['-g1'] -Dc_args=['-g1']"

quick=0 run_asan=1 run_tsan=1
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 run_asan=0 run_tsan=0 ;;
    --no-asan) run_asan=0 ;;
    --no-tsan) run_tsan=0 ;;
    -h|--help) usage; exit 0 ;;
    *) printf 'test.sh: unknown option %s\n\n' "$arg" >&2; usage >&2; exit 2 ;;
  esac
done
failed_stages=() timings=() extras=() summary_dirs=() built_dirs=()
banner() { printf '\n==== %s ====\n' "$*"; }; note() { printf 'test.sh: %s\n' "$*"; }

# run_stage NAME COMMAND...: runs one stage, records its wall time and result.
run_stage() {
  local name="$1" start=$SECONDS rc=0 verdict=ok secs
  shift
  banner "$name"
  "$@" || rc=$?
  secs=$((SECONDS - start))
  if [[ "$rc" -ne 0 ]]; then verdict="FAILED (exit $rc)" && failed_stages+=("$name"); fi
  timings+=("$(printf '%-28s %5ds  %s' "$name" "$secs" "$verdict")")
  printf -- '---- %s: %s in %ds\n' "$name" "$verdict" "$secs"
}

# build_dir DIR CC CXX "MESON_OPTIONS" [SETUP]: (re)configures DIR (with
# CC/CXX if given) and builds everything, or only what `meson test
# --setup=SETUP` runs. Old results and the built-in-this-run mark go first.
build_dir() {
  local dir="$1" cc="$2" cxx="$3" setup="${5:-}" opts=() compilers=()
  read -r -a opts <<<"$4"
  rm -f "$dir"/test-results/*.xml "$dir"/meson-logs/testlog*.json "$dir/.built-by-test.sh"
  [[ -z "$cxx" ]] || compilers=(CC="$cc" CXX="$cxx")
  # meson keeps a build directory's compiler: start afresh if it differs.
  if [[ -n "$cxx" && -f "$dir/meson-logs/meson-log.txt" ]] && ! grep -m1 \
    'C++ compiler for the host machine:' "$dir/meson-logs/meson-log.txt" | grep -qF " $cxx ("; then
    note "$dir was configured with another C++ compiler than $cxx: wiping it" && rm -rf "$dir"
  fi
  if [[ ! -f "$dir/meson-private/coredata.dat" ]]; then
    env "${compilers[@]}" meson setup "$dir" "${opts[@]}" || return 1
  elif ! meson setup --reconfigure "$dir" "${opts[@]}"; then
    note "reconfigure of $dir failed; wiping it and configuring from scratch"
    env "${compilers[@]}" meson setup --wipe "$dir" "${opts[@]}" || return 1
  fi
  # meson 1.0 has no "build what these tests need" command, but `meson test`
  # builds just that before it runs them; with the wrapper `true` the run
  # itself is a no-op (its output and logs, build-only.*, are no results).
  if [[ -z "$setup" ]]; then
    ninja -C "$dir" -j"$JOBS" || return 1
  elif ! meson test -C "$dir" --setup="$setup" --wrapper=true --logbase=build-only \
    >"$BG_DIR/build-$setup.out" 2>&1; then
    cat "$BG_DIR/build-$setup.out" && note "build in $dir for --setup=$setup failed" && return 1
  fi
  rm -f "$dir"/meson-logs/build-only* && touch "$dir/.built-by-test.sh"
}

# test_dir DIR SETUP: runs DIR's tests with the setup if DIR built in this
# run. Meson logs them in testlog-SETUP.json, which the summary reads (and
# counts as one failure if it is missing).
test_dir() {
  summary_dirs+=("$1/meson-logs/testlog-$2.json")
  [[ -f "$1/.built-by-test.sh" ]] || { note "$1 did not build in this run: no tests"; return 1; }
  mkdir -p "$1/test-results" && meson test -C "$1" --no-rebuild --print-errorlogs \
    --num-processes "$JOBS" --setup="$2"
}
build_normal() { build_dir build "" "" "$NORMAL_OPTS" && built_dirs+=(build); }
build_asan() {
  build_dir build-asan "$ASAN_CC" "$ASAN_CXX" "$ASAN_OPTS" asan &&
    bash "$ROOT/scripts/fuzz.sh" --builddir build-asan --configured --build-only
}
build_tsan() { build_dir build-tsan gcc g++ "$TSAN_OPTS" tsan; }
stage_deps() { bash "$ROOT/scripts/install-deps.sh"; }

# start_bg NAME COMMAND...: runs it in the background at nice 19 (the tests
# get the CPU when they want it), output to a log; finish_bg NAME waits for
# it, prints the log and returns its status.
BG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/degrade-test.XXXXXX")"
trap 'rm -rf "$BG_DIR"' EXIT
declare -A bg_pid=()
start_bg() {
  local name="$1"
  shift
  (renice -n 19 -p "$BASHPID" >/dev/null 2>&1 || true
   start="$(date +%s)" rc=0
   "$@" || rc=$?
   echo "$(($(date +%s) - start))" >"$BG_DIR/$name.secs"
   exit "$rc") >"$BG_DIR/$name.log" 2>&1 &
  bg_pid[$name]=$!
  note "started $name in the background (nice 19)"
}
finish_bg() {
  local name="$1" rc=0 secs
  [[ -n "${bg_pid[$name]:-}" ]] || { note "$name was never started"; return 1; }
  wait "${bg_pid[$name]}" || rc=$?
  cat "$BG_DIR/$name.log"
  secs="$(cat "$BG_DIR/$name.secs" 2>/dev/null || echo 0)"
  timings+=("$(printf '%-28s %5ds' "  ($name, background)" "$secs")")
  note "$name ran ${secs}s in the background; exit status $rc"
  return "$rc"
}

# ---- clang-tidy and fuzz (skipped by --quick) ------------------------------
# clang-tidy (build/compile_commands.json) counts as one case; scripts/fuzz.sh
# runs each target as one meson test of build-asan/, where the ASan stage
# built them (build-fuzz/ of its own with --no-asan; docs/fuzzing.md).
stage_tidy() {
  local rc=0 result=passed
  finish_bg clang-tidy || { rc=$? && result=failed; }
  extras+=(--extra "static-checks: clang-tidy=$result") && return "$rc"
}
stage_fuzz() {
  local seconds="${DEGRADE_TEST_FUZZ_SECONDS:-20}"
  if [[ "$run_asan" -eq 1 ]]; then
    summary_dirs+=("fuzz=build-asan/meson-logs/testlog-fuzz.json")
    [[ -f build-asan/.built-by-test.sh ]] || { note "build-asan did not build in this run: no fuzzing"; return 1; }
    bash "$ROOT/scripts/fuzz.sh" --builddir build-asan --configured --seconds "$seconds"
  else
    summary_dirs+=("fuzz=build-fuzz/meson-logs/testlog-fuzz.json")
    finish_bg build-fuzz || return 1
    bash "$ROOT/scripts/fuzz.sh" --seconds "$seconds"
  fi
}

# ---- main ------------------------------------------------------------------
total_start="$(date +%s)"
run_stage "install-deps" stage_deps
[[ " ${failed_stages[*]} " != *" install-deps "* ]] || extras+=(--extra "install-deps.sh=failed")
run_stage "build (normal)" build_normal
if [[ "$run_asan" -eq 1 ]]; then start_bg build-asan build_asan
elif [[ "$run_tsan" -eq 1 ]]; then start_bg build-tsan build_tsan; fi
run_stage "tests (normal)" test_dir build ci
if [[ "$run_asan" -eq 1 ]]; then
  run_stage "build-asan (ASan+UBSan)" finish_bg build-asan
  if [[ "$run_tsan" -eq 1 ]]; then start_bg build-tsan build_tsan; fi
  run_stage "tests-asan (ASan+UBSan)" test_dir build-asan asan
fi
[[ "$run_tsan" -eq 0 ]] || run_stage "build-tsan (TSan)" finish_bg build-tsan
if [[ "$quick" -eq 0 ]]; then
  start_bg clang-tidy bash "$ROOT/scripts/tidy.sh" --builddir build
  [[ "$run_asan" -eq 1 ]] || start_bg build-fuzz bash "$ROOT/scripts/fuzz.sh" --build-only
fi
[[ "$run_tsan" -eq 0 ]] || run_stage "tests-tsan (TSan)" test_dir build-tsan tsan
if [[ "$quick" -eq 0 ]]; then
  run_stage "clang-tidy" stage_tidy
  run_stage "fuzz (libFuzzer, clang)" stage_fuzz
fi
banner "stage timings"
printf '%s\n' "${timings[@]}"
printf '%-28s %5ds\n' "total" "$(($(date +%s) - total_start))"
[[ ${#failed_stages[@]} -eq 0 ]] || printf 'failed stages: %s\n' "$(IFS=,; echo "${failed_stages[*]}")"
printf '\n'
"$PYTHON" "$ROOT/scripts/summarize_tests.py" "${summary_dirs[@]}" "${extras[@]}" &&
  [[ ${#failed_stages[@]} -eq 0 ]]
