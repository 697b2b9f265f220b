#!/usr/bin/env bash
# The README's first command: builds degrade, runs the quick-start demo, then
# the service demo: a shop whose checkout calls three optional dependencies;
# one of them fails, then turns slow; degradectl turns its switch off; the
# checkout recovers; the switch is cleared; everything stops. Last, the
# governor: bench/overload --quick drives a service at 2x its capacity with and
# without it (about 40 s).
#
#   bash scripts/demo.sh
#
# Environment (all optional):
#   DEMO_BUILD_DIR      build directory (default: build-demo, configured here
#                       with tests and benchmarks off; a developer's build/
#                       is left alone). An existing configured directory is
#                       reused as it is.
#   DEMO_SKIP_INSTALL=1 do not run scripts/install-deps.sh --demo
#   DEMO_SKIP_BUILD=1   use DEMO_BUILD_DIR as it is (tests)
#   DEMO_PHASE_S        seconds of load per phase (default 4)
#   DEMO_OVERLOAD=0     skip part 3 (bench/overload --quick, about 40 s;
#                       tests/demo_test.sh skips it)
# Everything listens on 127.0.0.1, on ports the kernel picks. The run after
# the build is bounded (a watchdog ends it after 150 s); every process it
# starts is stopped on exit, also on Ctrl-C.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${DEMO_BUILD_DIR:-build-demo}"
PHASE_S="${DEMO_PHASE_S:-4}"
RATE=100          # checkout requests per second
SLOW_MS=2000      # how slow the sick dependency gets

say() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
indent() { sed -u 's/^/    /'; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# --- build --------------------------------------------------------------------
# The demo runs six programs; only they (and the library) are built.
DEMO_TARGETS=(examples/basic_demo examples/shop_service examples/fake_dependency
              examples/loadgen tools/degradectl bench/overload)
if [[ "${DEMO_SKIP_BUILD:-0}" != 1 ]]; then
  if [[ "${DEMO_SKIP_INSTALL:-0}" != 1 && -f scripts/install-deps.sh ]]; then
    say "Installing what the demo needs (once; skipped when present)"
    bash scripts/install-deps.sh --demo
  fi
  if [[ ! -f "$BUILD/build.ninja" ]]; then
    say "Configuring $BUILD/ (library, degradectl and the demo programs only)"
    meson setup "$BUILD" -Dtests=false -Dbenchmarks=false -Dpython=disabled \
      -Dcapi=disabled -Dprometheus=disabled >"${TMPDIR:-/tmp}/degrade-demo-setup.log" 2>&1 ||
      { tail -n 30 "${TMPDIR:-/tmp}/degrade-demo-setup.log" >&2
        die "meson setup $BUILD failed (its output above)"; }
  fi
  say "Building ${#DEMO_TARGETS[@]} programs into $BUILD/ (the first build takes a few minutes)"
  # ninja prints one status line per step ([done/total] and what it builds).
  ninja -C "$BUILD" "${DEMO_TARGETS[@]}" | grep --line-buffered -v '^ninja: ' | indent ||
    die "the build failed: run 'ninja -C $BUILD ${DEMO_TARGETS[*]}' to see why"
  note "built $BUILD/examples/*, $BUILD/tools/degradectl and $BUILD/bench/overload"
fi
BIN="$BUILD/examples"
DEGRADECTL="$BUILD/tools/degradectl"
OVERLOAD="$BUILD/bench/overload"
RUN_OVERLOAD="${DEMO_OVERLOAD:-1}"
for exe in "$BIN/basic_demo" "$BIN/shop_service" "$BIN/fake_dependency" "$BIN/loadgen" \
           "$DEGRADECTL" $([[ "$RUN_OVERLOAD" == 0 ]] || echo "$OVERLOAD"); do
  [[ -x "$exe" ]] || die "$exe is missing: build with 'ninja -C $BUILD'"
done

# --- processes, cleanup, watchdog --------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/degrade-demo.XXXXXX")"
PIDS=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# The watchdog kills its sleep when it is stopped, so no orphan holds the
# output open after the demo ends.
(
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  sleep 150 </dev/null >/dev/null 2>&1 &
  sleeper=$!
  wait "$sleeper"
  echo "demo: took longer than 150 s; stopping" >&2
  kill -TERM $$
) &
PIDS+=($!)

# Starts a program in the background with its output in $WORK/<log>.
start() {
  local log="$1"; shift
  "$@" >"$WORK/$log.out" 2>"$WORK/$log.err" &
  PIDS+=($!)
}
# Waits for "<what> on http://127.0.0.1:PORT" in a log; prints PORT.
port_of() {
  local log="$1" what="$2" port=""
  for _ in $(seq 100); do
    port="$(sed -n "s|.*$what on http://127.0.0.1:\([0-9]*\).*|\1|p" "$WORK/$log.out" | head -1)"
    [[ -n "$port" ]] && { echo "$port"; return 0; }
    sleep 0.05
  done
  return 1
}
control() {  # control DEP MODE [DELAY_MS]
  curl -sf -d '' "http://127.0.0.1:${DEP_PORT[$1]}/control?mode=$2&delay_ms=${3:-0}" >/dev/null \
    || die "cannot reach the fake $1 dependency"
}
load() {  # load LABEL
  "$BIN/loadgen" --url "http://127.0.0.1:$SHOP_PORT/checkout" --rate "$RATE" \
    --concurrency 16 --timeout-ms 1000 --duration-s "$PHASE_S" --label "$1" | indent
}
ctl() {  # runs degradectl, showing the command line as one would type it
  local shown="" arg
  for arg in --admin "http://127.0.0.1:$ADMIN_PORT" "$@"; do
    [[ "$arg" =~ [[:space:]] ]] && arg="\"$arg\""
    shown+=" $arg"
  done
  printf '    $ %s%s\n' "$DEGRADECTL" "$shown"
  "$DEGRADECTL" --admin "http://127.0.0.1:$ADMIN_PORT" "$@" 2>&1 | indent
}

# --- 1. the quick start -------------------------------------------------------
say "Part 1: one switch, its fallback, environment and config file ($BIN/basic_demo)"
"$BIN/basic_demo" | indent

# --- 2. the service demo ------------------------------------------------------
say "Part 2: a shop service with three optional dependencies"
declare -A DEP_PORT
for dep in recommendations reviews analytics; do
  start "$dep" "$BIN/fake_dependency" --name "$dep"
done
for dep in recommendations reviews analytics; do
  DEP_PORT[$dep]="$(port_of "$dep" listening)" || die "fake $dep did not start"
done
note "fake dependencies: recommendations :${DEP_PORT[recommendations]}," \
     "reviews :${DEP_PORT[reviews]}, analytics :${DEP_PORT[analytics]}"

# The admin token: random per run, in the environment only (never an argument).
DEGRADE_ADMIN_TOKEN="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export DEGRADE_ADMIN_TOKEN
start shop env DEGRADE_ADMIN_ADDR=127.0.0.1:0 "$BIN/shop_service" --threads 4 \
  --recommendations "http://127.0.0.1:${DEP_PORT[recommendations]}" \
  --reviews "http://127.0.0.1:${DEP_PORT[reviews]}" \
  --analytics "http://127.0.0.1:${DEP_PORT[analytics]}"
SHOP_PORT="$(port_of shop listening)" || die "shop_service did not start: $(cat "$WORK/shop.err")"
# Printed with the line above: read it once.
ADMIN_PORT="$(sed -n 's|.*admin endpoint on http://127.0.0.1:\([0-9]*\).*|\1|p' "$WORK/shop.out")"
[[ -n "$ADMIN_PORT" ]] || die "shop_service started without its admin endpoint" \
  "(DEGRADE_ADMIN_ADDR ignored?): $(cat "$WORK/shop.out" "$WORK/shop.err")"
note "shop_service: GET http://127.0.0.1:$SHOP_PORT/checkout, 4 worker threads;" \
     "each dependency call times out after 300 ms"
note "its admin endpoint: http://127.0.0.1:$ADMIN_PORT (DEGRADE_ADMIN_ADDR=127.0.0.1:0," \
     "token in DEGRADE_ADMIN_TOKEN)"
note "one answer: $(curl -sf "http://127.0.0.1:$SHOP_PORT/checkout")"

say "Steady state: $RATE checkouts/s, a user gives up after 1 s"
load baseline

say "recommendations starts failing fast (HTTP 503): the fallback absorbs it"
control recommendations fail
load recs-503
note "checkout still works; answers leave recommendations out (\"degraded\")"

say "recommendations turns slow ($SLOW_MS ms): every checkout waits for its 300 ms timeout"
control recommendations slow "$SLOW_MS"
load recs-slow
note "the 4 workers spend their time waiting on a dependency checkout does not need;"
note "checkouts queue behind them and users give up: the essential path is down"

say "The on-call turns the recommendations switch off"
ctl off recommendations --reason "demo: vendor down" --ttl 10m
load recs-off
note "checkout is back to normal while the vendor is still down; only recommendations are missing"

say "What every switch looks like now"
ctl list

say "The vendor recovers; the on-call clears the override"
control recommendations ok
ctl clear recommendations
load restored

say "The service logged every change of a switch (its audit trail)"
grep '"event":"change"' "$WORK/shop.err" | indent || note "(none)"

say "Stopping"
for pid in "${PIDS[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]:1}"; do wait "$pid" 2>/dev/null || true; done
cat "$WORK/shop.out" "$WORK"/recommendations.out | grep stopped | indent

# --- 3. the governor under overload -------------------------------------------
if [[ "$RUN_OVERLOAD" != 0 ]]; then
  say "Part 3: automatic brownout ($OVERLOAD --quick, about 40 s)"
  note "a service process with 8 workers; each request: 4 ms of essential work and 4 optional"
  note "switches of tiers 9, 7, 5, 3 (4 ms each); open-loop load at 0.5x, 2x, 0.5x of its"
  note "capacity against: everything on, the best static shed level, the best fixed allow"
  note "(the oracle), the governor (target p95 50 ms)"
  "$OVERLOAD" --quick | indent || die "bench/overload --quick failed"
fi

kill -TERM "${PIDS[0]}" 2>/dev/null || true  # the watchdog
wait "${PIDS[0]}" 2>/dev/null || true
PIDS=()
note "all processes stopped"
echo
echo "demo: done"
