#!/usr/bin/env bash
# shellcheck disable=SC2317  # stage functions are called indirectly, through run_stage
# degrade's test command (what CI runs through .ci/run, on a 2-core machine,
# in a fresh clone; the whole run must stay under 30 minutes there).
#
# Stages, in order (their wall times are printed at the end):
#   1. install-deps   scripts/install-deps.sh: Debian packages, chromium,
#                     tests/browser/node_modules (npm ci). A no-op when present.
#   2. normal         build/ (debugoptimized, werror, gcc): everything,
#                     benchmarks and examples included (so they keep
#                     compiling), then every meson test, the browser test
#                     among them.
#   3. ASan+UBSan     build-asan/ (clang): every test except the suites in
#                     ASAN_SKIP_SUITES; builds only what those tests need
#                     (no benchmarks, no header checks, no Python module).
#   4. TSan           build-tsan/ (gcc): every test except the suites in
#                     TSAN_SKIP_SUITES; builds only what those tests need.
#   5. install check  `meson install` of build/ into a temporary DESTDIR, then
#                     a tiny consumer built with pkg-config and one with CMake
#                     find_package.
#   6. clang-tidy     scripts/tidy.sh over lib/, include/, tools/ (.clang-tidy;
#                     any warning fails; one case in the summary).
#   7. fuzz           scripts/fuzz.sh: each libFuzzer target (clang, ASan +
#                     UBSan) for DEGRADE_TEST_FUZZ_SECONDS (default 20).
#   8. summary        scripts/summarize_tests.py over every stage; its last
#                     line is exactly "N passed, N failed" (real results).
# Overlap: while one stage's tests run, the next build runs in the background
# at nice 19 (the ASan build during the normal tests, the TSan build during
# the ASan tests, clang-tidy and the fuzz build during the TSan tests); its
# output is printed when its stage comes. Tests mostly wait on servers and
# timeouts, so this uses idle CPU without taking it from them.
# A failing stage does not stop the later ones (so the counts are complete),
# but the script exits non-zero if anything failed or nothing ran. Each stage
# deletes its stale <builddir>/test-results/*.xml and meson-logs/testlog.json
# first, so a crash or a failed build can never be counted from an old run.
#
# Options:
#   --quick    normal build and its tests only (for developers): no
#              sanitizers, install check, clang-tidy or fuzz
#   --no-asan  skip the ASan+UBSan build
#   --no-tsan  skip the TSan build
set -euo pipefail

usage() {
  sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON=/usr/bin/python3
JOBS=2

# ---- which tests run under the sanitizers ------------------------------------
# Suites (tests/meson.build, bindings/): unit, integration, concurrency, http,
# etcd, drill, soak, browser, python.
#
# ASan+UBSan runs every suite except:
#   python  an ASan-built extension needs libasan preloaded into the Python
#           interpreter; the module is not built in sanitizer builds. The C
#           API's tests (c_api_test, conformance) do run.
ASAN_SKIP_SUITES=(python)
#
# TSan runs every suite except:
#   python  as for ASan.
#   drill   drill_test checks the times a drill measures against the demo
#           service's own log; TSan slows the service several-fold, so the
#           check would be about TSan, not the drill. The drill's code is
#           also run by demo_test (integration), which TSan runs.
TSAN_SKIP_SUITES=(python drill)
#
# The soak test runs DEGRADE_SOAK_SECONDS per source (its default is 60; a
# longer soak is a manual run, docs/fault-matrix.md): NORMAL_SOAK_SECONDS in
# the normal build and SANITIZER_SOAK_SECONDS under the sanitizers, to keep
# the whole run inside CI's budget.
SANITIZER_SOAK_SECONDS=15
NORMAL_SOAK_SECONDS=30

# Sanitizer builds check run-time behaviour; warnings are enforced (werror)
# by the normal build. gcc 12 raises false warnings under -fsanitize=...
# (e.g. -Wmismatched-new-delete on a test's replacement operator new), which
# must not hide the sanitizer results. -O1 and line tables only (-g1): much
# quicker to compile than -O2 -g, and reports still name file and line.
# (No --buildtype here: with meson 1.0 it would override -Doptimization and
# -Ddebug, and the sanitizer builds used to be -O2 -g that way.)
# The ASan+UBSan build uses clang (Debian's clang 14 and its sanitizer
# runtimes, libclang-rt-14-dev): it compiles the test programs about twice as
# fast as gcc under -fsanitize (degradectl_test.cc with ASan+UBSan at -O0:
# 24.1 s with g++ 12, 11.5 s with clang++ 14), which keeps CI inside its
# budget; the normal and TSan builds cover gcc. (TSan stays on gcc: clang
# links its TSan runtime statically, with its own operator new, which
# collides with the counting operator new of alloc_test and memory_test.)
# ASAN_CXX=g++ ASAN_CC=gcc use gcc instead.
ASAN_CC="${ASAN_CC:-clang}"
ASAN_CXX="${ASAN_CXX:-clang++}"
SANITIZER_COMMON="-Doptimization=1 -Ddebug=false -Db_lundef=false -Dbenchmarks=false -Dpython=disabled -Dwerror=false"
SANITIZER_FLAGS="'-g1'"

quick=0
run_asan=1
run_tsan=1
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --no-asan) run_asan=0 ;;
    --no-tsan) run_tsan=0 ;;
    -h|--help) usage; exit 0 ;;
    *) printf 'test.sh: unknown option %s\n\n' "$arg" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ "$quick" -eq 1 ]]; then
  run_asan=0
  run_tsan=0
fi

failed_stages=()
built_dirs=()   # build directories whose (selected) targets compiled
timings=()
extras=()
summary_dirs=()

banner() { printf '\n==== %s ====\n' "$*"; }
note() { printf 'test.sh: %s\n' "$*"; }

# run_stage NAME COMMAND...: runs one stage, records its wall time and result.
run_stage() {
  local name="$1"
  shift
  local start end rc=0
  banner "$name"
  start="$(date +%s)"
  "$@" || rc=$?
  end="$(date +%s)"
  local secs=$((end - start))
  local verdict=ok
  if [[ "$rc" -ne 0 ]]; then
    verdict="FAILED (exit $rc)"
    failed_stages+=("$name")
  fi
  timings+=("$(printf '%-28s %5ds  %s' "$name" "$secs" "$verdict")")
  printf -- '---- %s: %s in %ds\n' "$name" "$verdict" "$secs"
  return 0
}

# setup_builddir DIR MESON_OPTIONS...: configures DIR, or reconfigures it with
# the same options if it is already a meson build directory.
setup_builddir() {
  local dir="$1"
  shift
  if [[ -f "$dir/meson-private/coredata.dat" && -n "${BUILD_CXX:-}" ]]; then
    # meson keeps a build directory's compiler: start afresh if it differs.
    local have
    have="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["host"]["cpp"]["exelist"][0])' \
      "$dir/meson-info/intro-compilers.json" 2>/dev/null || true)"
    if [[ "$(basename "$have")" != "$BUILD_CXX" ]]; then
      note "$dir was configured with '${have:-an unknown compiler}', not $BUILD_CXX: wiping it"
      rm -rf "$dir"
    fi
  fi
  if [[ -n "${BUILD_CXX:-}" ]]; then
    local -x CC="$BUILD_CC" CXX="$BUILD_CXX"
  fi
  if [[ -f "$dir/meson-private/coredata.dat" ]]; then
    if meson setup --reconfigure "$dir" "$@"; then
      return 0
    fi
    note "reconfigure of $dir failed; wiping it and configuring from scratch"
    meson setup --wipe "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
}

# suite_targets DIR SUITE...: prints the ninja targets the tests of the given
# suites depend on (what `meson test --suite` would rebuild), one per line.
suite_targets() {
  "$PYTHON" - "$@" <<'PY'
import json, os, sys
build, suites = sys.argv[1], set(sys.argv[2:])
info = os.path.join(build, "meson-info")
with open(os.path.join(info, "intro-tests.json")) as f:
    tests = json.load(f)
with open(os.path.join(info, "intro-targets.json")) as f:
    files = {t["id"]: t["filename"] for t in json.load(f)}
wanted = set()
for t in tests:
    if any(s.split(":", 1)[-1] in suites for s in t.get("suite", [])):
        for dep in t.get("depends", []):
            for fn in files.get(dep, []):
                wanted.add(os.path.relpath(fn, build))
print("\n".join(sorted(wanted)))
PY
}

# all_suites_except DIR SUITE...: prints the suites of DIR's tests other than
# the given ones, space-separated.
all_suites_except() {
  "$PYTHON" - "$@" <<'PY'
import json, os, sys
build, skip = sys.argv[1], set(sys.argv[2:])
with open(os.path.join(build, "meson-info", "intro-tests.json")) as f:
    tests = json.load(f)
suites = {s.split(":", 1)[-1] for t in tests for s in t.get("suite", [])}
print(" ".join(sorted(suites - skip)))
PY
}

# build_only DIR "MESON_OPTIONS" "SUITES": configures DIR and builds what
# the chosen tests need. SUITES empty: everything, and every test will run;
# "all-except:A,B": the tests of every suite but A and B; else just those
# suites. On success the chosen suites are written to DIR/.test-suites, which
# test_only reads. Stale per-case results, the old test log and the old
# choice are deleted first, so a build that fails, or a test binary that
# crashes, can never reuse an old pass.
build_only() {
  local dir="$1" opts_str="$2" suites_str="$3"
  local -a opts=() suites=() targets=()
  read -r -a opts <<<"$opts_str"
  read -r -a suites <<<"$suites_str"

  rm -f "$dir"/test-results/*.xml "$dir/meson-logs/testlog.json" "$dir/.test-suites"

  setup_builddir "$dir" "${opts[@]}" || { note "meson setup of $dir failed"; return 1; }
  if [[ ${#suites[@]} -eq 1 && "${suites[0]}" == all-except:* ]]; then
    local skip_list chosen
    IFS=, read -r -a skip_list <<<"${suites[0]#all-except:}"
    chosen="$(all_suites_except "$dir" "${skip_list[@]}")" ||
      { note "could not list the suites of $dir"; return 1; }
    read -r -a suites <<<"$chosen"
    note "suites: ${suites[*]} (skipped: ${skip_list[*]})"
    if [[ ${#suites[@]} -eq 0 ]]; then
      note "no test suites left in $dir"
      return 1
    fi
  fi
  if [[ ${#suites[@]} -gt 0 ]]; then
    local list
    list="$(suite_targets "$dir" "${suites[@]}")" ||
      { note "could not list the targets of suites ${suites[*]} in $dir"; return 1; }
    if [[ -n "$list" ]]; then
      mapfile -t targets <<<"$list"
    else
      note "no test in suites ${suites[*]} in $dir"
    fi
    note "building ${#targets[@]} target(s) for suites ${suites[*]}"
  fi
  if [[ ${#suites[@]} -eq 0 || ${#targets[@]} -gt 0 ]]; then
    ninja -C "$dir" -j"$JOBS" "${targets[@]}" || { note "build in $dir failed"; return 1; }
  fi
  if [[ ${#suites[@]} -gt 0 ]]; then
    printf '%s\n' "${suites[@]}" >"$dir/.test-suites"
  else
    : >"$dir/.test-suites"
  fi
}

# test_only DIR "ENV_ASSIGNMENTS": runs the tests build_only chose for DIR.
test_only() {
  local dir="$1" env_str="$2"
  local -a envs=() suites=() suite_args=()
  if [[ ! -f "$dir/.test-suites" ]]; then
    note "$dir did not build in this run: its tests cannot run"
    return 1
  fi
  read -r -a envs <<<"$env_str"
  mapfile -t suites <"$dir/.test-suites"
  local s
  for s in "${suites[@]}"; do
    if [[ -n "$s" ]]; then suite_args+=(--suite "$s"); fi
  done
  mkdir -p "$dir/test-results"
  env "${envs[@]}" meson test -C "$dir" --no-rebuild --print-errorlogs \
    --num-processes "$JOBS" "${suite_args[@]}"
}

# ---- background jobs ---------------------------------------------------------
# A stage's tests mostly wait (on servers, etcd, timeouts): about a quarter of
# the two cores is busy while they run. So the next build (and clang-tidy)
# runs meanwhile, in the background at the lowest CPU priority (nice 19), so
# that the tests still get the CPU whenever they want it.
BG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/degrade-test.XXXXXX")"
trap 'rm -rf "$BG_DIR"' EXIT
declare -A bg_pid=()

# start_bg NAME FUNCTION ARGS...: runs it in the background, output to a log.
start_bg() {
  local name="$1"
  shift
  (
    renice -n 19 -p "$BASHPID" >/dev/null 2>&1 || true
    start="$(date +%s)"
    rc=0
    "$@" || rc=$?
    echo "$(($(date +%s) - start))" >"$BG_DIR/$name.secs"
    exit "$rc"
  ) >"$BG_DIR/$name.log" 2>&1 &
  bg_pid[$name]=$!
  note "started $name in the background (nice 19)"
}

# finish_bg NAME: waits for it, prints its output and returns its status.
finish_bg() {
  local name="$1" rc=0 secs
  if [[ -z "${bg_pid[$name]:-}" ]]; then
    note "$name was never started"
    return 1
  fi
  wait "${bg_pid[$name]}" || rc=$?
  cat "$BG_DIR/$name.log"
  secs="$(cat "$BG_DIR/$name.secs" 2>/dev/null || echo 0)"
  timings+=("$(printf '%-28s %5ds  %s' "  ($name, background)" "$secs" "")")
  note "$name ran ${secs}s in the background; exit status $rc"
  return "$rc"
}

stage_deps() {
  bash "$ROOT/scripts/install-deps.sh"
}

build_normal() {
  build_only build "--buildtype=debugoptimized" "" || return 1
  built_dirs+=(build)
}

test_normal() {
  test_only build "DEGRADE_SOAK_SECONDS=$NORMAL_SOAK_SECONDS"
}

build_asan() {
  local skip
  skip="$(IFS=,; printf '%s' "${ASAN_SKIP_SUITES[*]}")"
  BUILD_CC="$ASAN_CC" BUILD_CXX="$ASAN_CXX" build_only build-asan \
    "$SANITIZER_COMMON -Db_sanitize=address,undefined -Dcpp_args=[$SANITIZER_FLAGS,'-fno-sanitize-recover=all'] -Dc_args=[$SANITIZER_FLAGS,'-fno-sanitize-recover=all']" \
    "all-except:$skip"
}

test_asan() {
  test_only build-asan \
    "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 DEGRADE_SOAK_SECONDS=$SANITIZER_SOAK_SECONDS"
}

build_tsan() {
  local skip
  skip="$(IFS=,; printf '%s' "${TSAN_SKIP_SUITES[*]}")"
  BUILD_CC=gcc BUILD_CXX=g++ build_only build-tsan \
    "$SANITIZER_COMMON -Db_sanitize=thread -Dcpp_args=[$SANITIZER_FLAGS] -Dc_args=[$SANITIZER_FLAGS]" \
    "all-except:$skip"
}

test_tsan() {
  # No suppressions: the one false positive cpp-httplib (uninstrumented)
  # caused is prevented at its source (docs/security.md, "The TSan report").
  test_only build-tsan \
    "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 DEGRADE_SOAK_SECONDS=$SANITIZER_SOAK_SECONDS"
}

# ---- install check ---------------------------------------------------------

CONSUMER_SRC='#include <degrade/degrade.h>

DEGRADE_SWITCH(kDemo, "demo", "install check");

int main() { return kDemo.enabled() ? 0 : 1; }
'

install_dir=""
pc_dir=""
lib_dir=""

# Installs build/ into a fresh DESTDIR and finds the pkg-config and library dirs.
install_into_destdir() {
  install_dir="$(mktemp -d "${TMPDIR:-/tmp}/degrade-install.XXXXXX")"
  meson install -C build --no-rebuild --destdir "$install_dir" --quiet ||
    { note "meson install failed"; return 1; }
  local pc
  pc="$(find "$install_dir" -name degrade.pc -print -quit)"
  if [[ -z "$pc" ]]; then
    note "no degrade.pc installed under $install_dir"
    return 1
  fi
  pc_dir="$(dirname "$pc")"
  lib_dir="$(dirname "$pc_dir")"
  note "installed into $install_dir (pkg-config dir: ${pc_dir#"$install_dir"})"
}

# Builds and runs the consumer through pkg-config.
consumer_pkgconfig() {
  local work="$install_dir/consumer-pkgconfig"
  mkdir -p "$work"
  printf '%s' "$CONSUMER_SRC" >"$work/main.cc"
  local pc_out
  local -a flags=()
  # The .pc file says prefix=/usr/local; the sysroot maps it into DESTDIR.
  pc_out="$(PKG_CONFIG_PATH="$pc_dir" PKG_CONFIG_SYSROOT_DIR="$install_dir" \
    pkg-config --cflags --libs degrade)" ||
    { note "pkg-config --cflags --libs degrade failed"; return 1; }
  read -r -a flags <<<"$pc_out"
  note "pkg-config flags: ${flags[*]}"
  g++ -std=c++20 -o "$work/app" "$work/main.cc" "${flags[@]}" ||
    { note "pkg-config consumer failed to compile/link"; return 1; }
  LD_LIBRARY_PATH="$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/app" ||
    { note "pkg-config consumer exited non-zero"; return 1; }
  note "pkg-config consumer ran: kDemo.enabled() is true"
}

# Builds and runs the consumer through CMake find_package(degrade).
consumer_cmake() {
  local work="$install_dir/consumer-cmake"
  mkdir -p "$work/src"
  printf '%s' "$CONSUMER_SRC" >"$work/src/main.cc"
  cat >"$work/src/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(degrade_install_check CXX)
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
find_package(degrade REQUIRED)
add_executable(app main.cc)
target_link_libraries(app PRIVATE degrade::degrade)
EOF
  cmake -S "$work/src" -B "$work/build" -G Ninja \
    -DCMAKE_PREFIX_PATH="$install_dir/usr/local" ||
    { note "cmake configure (find_package(degrade)) failed"; return 1; }
  cmake --build "$work/build" -j "$JOBS" ||
    { note "CMake consumer failed to compile/link"; return 1; }
  LD_LIBRARY_PATH="$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/build/app" ||
    { note "CMake consumer exited non-zero"; return 1; }
  note "CMake consumer ran: kDemo.enabled() is true"
}

stage_install() {
  local rc=0 pc_result=failed cmake_result=failed
  if [[ " ${built_dirs[*]} " != *" build "* ]]; then
    # Never install (and pass with) what an earlier run left in build/.
    note "the normal build did not compile in this run: install check fails"
    rc=1
  elif install_into_destdir; then
    if consumer_pkgconfig; then pc_result=passed; else rc=1; fi
    if consumer_cmake; then cmake_result=passed; else rc=1; fi
  else
    rc=1
  fi
  extras+=(--extra "install-check: pkg-config consumer=$pc_result")
  extras+=(--extra "install-check: CMake find_package consumer=$cmake_result")
  if [[ -n "$install_dir" && -d "$install_dir" ]]; then
    rm -rf "$install_dir"
  fi
  return "$rc"
}

# ---- fuzz (issue 7) ---------------------------------------------------------
# Builds fuzz/ with clang + ASan + UBSan in build-fuzz/ and runs each libFuzzer
# target for DEGRADE_TEST_FUZZ_SECONDS (default 20) as one meson test, so the
# summary counts one case per target (scripts/fuzz.sh, docs/fuzzing.md).
# Skipped by --quick.
fuzz_build() {
  bash "$ROOT/scripts/fuzz.sh" --build-only
}

stage_fuzz() {
  summary_dirs+=(build-fuzz)
  finish_bg build-fuzz || return 1
  bash "$ROOT/scripts/fuzz.sh" --seconds "${DEGRADE_TEST_FUZZ_SECONDS:-20}"
}

# ---- clang-tidy (issue 7) ---------------------------------------------------
# scripts/tidy.sh over lib/, include/ and tools/ with build/compile_commands.json
# (.clang-tidy; any warning fails). Counted as one case. Skipped by --quick.
tidy_run() {
  bash "$ROOT/scripts/tidy.sh" --builddir build
}

stage_tidy() {
  local rc=0
  finish_bg clang-tidy || rc=$?
  extras+=(--extra "static-checks: clang-tidy=$([[ "$rc" -eq 0 ]] && echo passed || echo failed)")
  return "$rc"
}

# ---- main ------------------------------------------------------------------

total_start="$(date +%s)"

run_stage "install-deps" stage_deps
if [[ " ${failed_stages[*]} " == *" install-deps "* ]]; then
  extras+=(--extra "install-deps.sh=failed")
fi

run_stage "build (normal)" build_normal
summary_dirs+=(build)
if [[ "$run_asan" -eq 1 ]]; then
  start_bg build-asan build_asan
elif [[ "$run_tsan" -eq 1 ]]; then
  start_bg build-tsan build_tsan
fi
run_stage "tests (normal)" test_normal

if [[ "$run_asan" -eq 1 ]]; then
  run_stage "build-asan (ASan+UBSan)" finish_bg build-asan
  if [[ "$run_tsan" -eq 1 ]]; then start_bg build-tsan build_tsan; fi
  run_stage "tests-asan (ASan+UBSan)" test_asan
  summary_dirs+=(build-asan)
fi

if [[ "$run_tsan" -eq 1 ]]; then
  run_stage "build-tsan (TSan)" finish_bg build-tsan
fi
if [[ "$quick" -eq 0 ]]; then
  start_bg clang-tidy tidy_run
  start_bg build-fuzz fuzz_build
fi
if [[ "$run_tsan" -eq 1 ]]; then
  run_stage "tests-tsan (TSan)" test_tsan
  summary_dirs+=(build-tsan)
fi

if [[ "$quick" -eq 0 ]]; then
  run_stage "install check" stage_install
  run_stage "clang-tidy" stage_tidy
  run_stage "fuzz (libFuzzer, clang)" stage_fuzz
fi

total_end="$(date +%s)"

banner "stage timings"
for t in "${timings[@]}"; do
  printf '%s\n' "$t"
done
printf '%-28s %5ds\n' "total" "$((total_end - total_start))"
if [[ ${#failed_stages[@]} -gt 0 ]]; then
  printf 'failed stages: %s\n' "$(IFS=,; printf '%s' "${failed_stages[*]}")"
fi
printf '\n'

summary_rc=0
"$PYTHON" "$ROOT/scripts/summarize_tests.py" "${summary_dirs[@]}" "${extras[@]}" || summary_rc=$?

if [[ "$summary_rc" -ne 0 || ${#failed_stages[@]} -gt 0 ]]; then
  exit 1
fi
exit 0
