#!/usr/bin/env bash
# A fire drill against the demo service: starts the fake dependencies, the
# shop service with a breaker on recommendations (examples/shop_breakers.json)
# and a load generator playing the users, then runs
#
#   degradectl drill --switch recommendations --fault delay --delay-ms 800 ...
#
# and stops everything. The report lands in $DRILL_OUT (default: drill-report/).
#
#   bash scripts/drill_demo.sh                      # the README's example
#   bash scripts/drill_demo.sh --fault error        # extra options go to the drill
#                                                   # (later ones win; --fault replaces
#                                                   # the default delay fault)
#
# Environment (all optional):
#   DEMO_BUILD_DIR   build directory with the built examples and degradectl (default: build)
#   DRILL_OUT        report directory (default: drill-report/)
#   DRILL_USERS_RPS  checkout requests per second from the load generator (default 40; 0: none)
# Everything listens on 127.0.0.1 on ports the kernel picks; every process
# started here is stopped on exit, also on Ctrl-C (the drill clears its fault).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${DEMO_BUILD_DIR:-build}"
OUT="${DRILL_OUT:-drill-report/}"
USERS_RPS="${DRILL_USERS_RPS:-40}"
BIN="$BUILD/examples"
DEGRADECTL="$BUILD/tools/degradectl"
for exe in "$BIN/shop_service" "$BIN/fake_dependency" "$BIN/loadgen" "$DEGRADECTL"; do
  [[ -x "$exe" ]] || { echo "drill_demo: $exe is missing: build with 'ninja -C $BUILD'" >&2; exit 1; }
done
mkdir -p "$OUT"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/degrade-drill-demo.XXXXXX")"
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

start() {  # start LOG COMMAND...
  local log="$1"; shift
  "$@" >"$WORK/$log.out" 2>"$WORK/$log.err" &
  PIDS+=($!)
}
port_of() {  # port_of LOG WHAT: the PORT of "WHAT on http://127.0.0.1:PORT"
  local p
  for _ in $(seq 100); do
    p="$(sed -n "s|.*$2 on http://127.0.0.1:\([0-9]*\).*|\1|p" "$WORK/$1.out" | head -1)"
    [[ -n "$p" ]] && { echo "$p"; return 0; }
    sleep 0.05
  done
  echo "drill_demo: $1 did not start: $(cat "$WORK/$1.err")" >&2
  return 1
}

declare -A DEP
for dep in recommendations reviews analytics; do start "$dep" "$BIN/fake_dependency" --name "$dep"; done
for dep in recommendations reviews analytics; do DEP[$dep]="$(port_of "$dep" listening)"; done

DEGRADE_ADMIN_TOKEN="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export DEGRADE_ADMIN_TOKEN
start shop env DEGRADE_ADMIN_ADDR=127.0.0.1:0 DEGRADE_CONFIG_FILE="$ROOT/examples/shop_breakers.json" \
  "$BIN/shop_service" --threads 4 \
  --recommendations "http://127.0.0.1:${DEP[recommendations]}" \
  --reviews "http://127.0.0.1:${DEP[reviews]}" \
  --analytics "http://127.0.0.1:${DEP[analytics]}"
SHOP="$(port_of shop listening)"
ADMIN="$(port_of shop "admin endpoint")"
echo "shop_service: http://127.0.0.1:$SHOP/checkout, admin http://127.0.0.1:$ADMIN," \
     "breakers from examples/shop_breakers.json"

if [[ "$USERS_RPS" != 0 ]]; then
  start users "$BIN/loadgen" --url "http://127.0.0.1:$SHOP/checkout" --rate "$USERS_RPS" \
    --concurrency 16 --timeout-ms 1000 --duration-s 600 --label users
  echo "users: $USERS_RPS checkouts/s from examples/loadgen"
fi

# The default fault, unless the caller names one (then with its own options).
FAULT=(--fault delay --delay-ms 800)
for arg in "$@"; do [[ "$arg" == --fault* ]] && FAULT=(); done
ARGS=(drill --admin "http://127.0.0.1:$ADMIN" --switch recommendations
      "${FAULT[@]}" --probe "http://127.0.0.1:$SHOP/checkout"
      --baseline 5s --duration 20s --out "$OUT"
      --expect-detect-under 5s --expect-success-over 0.9 --expect-recover-under 15s "$@")
echo "\$ degradectl ${ARGS[*]}"
set +e
"$DEGRADECTL" "${ARGS[@]}"
status=$?
set -e
exit "$status"
