#!/usr/bin/env bash
# Installs what degrade needs to build, test and install on Debian 12:
#   1. Debian packages (apt-get), among them Debian's `chromium` for the
#      browser test of the incident console;
#   2. Node.js and npm: the machine image ships Node.js 20 with its npm
#      (NodeSource's `nodejs`, which conflicts with Debian's `npm` package), so
#      Debian's `nodejs` and `npm` are installed only where there is no `node`;
#   3. tests/browser/node_modules and tests/openfeature/node_modules from
#      their package-lock.json (`npm ci`, the npm registry): playwright-core
#      for the browser test; the OpenFeature server SDK, its OFREP provider
#      and flagd-core for the OpenFeature interop tests.
#
#   bash scripts/install-deps.sh          everything (scripts/test.sh)
#   bash scripts/install-deps.sh --demo   only what scripts/demo.sh needs: the
#                                         compiler, meson, the library's own
#                                         dependencies and curl; no test,
#                                         benchmark, browser or npm package
#
# apt-get's output goes to a log file; on success one line says what was
# installed, on failure the log's end is printed.
# Idempotent and fast: when everything is already there it makes no network
# call and returns in well under a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BROWSER_DIR="$ROOT/tests/browser"
OPENFEATURE_DIR="$ROOT/tests/openfeature"

demo=0
case "${1:-}" in
  "") ;;
  --demo) demo=1 ;;
  *) printf 'install-deps: unknown option %s (accepted: --demo)\n' "$1" >&2; exit 2 ;;
esac

PACKAGES=(
  meson ninja-build pkg-config g++
  libabsl-dev nlohmann-json3-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  pybind11-dev python3-dev python3-pytest mypy
  etcd-server etcd-client libssl-dev
  valgrind cmake
  clang libclang-rt-14-dev clang-tidy
  chromium
)
# Only where `node` is missing (see 2. above).
NODE_PACKAGES=(nodejs npm)
# What scripts/demo.sh builds (the library, degradectl, the demo programs;
# no tests or benchmarks) and runs (curl talks to the fake dependencies).
DEMO_PACKAGES=(
  meson ninja-build pkg-config g++
  libabsl-dev nlohmann-json3-dev libcpp-httplib-dev libssl-dev
  curl
)

log() { printf 'install-deps: %s\n' "$*"; }

if ! command -v dpkg-query >/dev/null 2>&1; then
  log "dpkg-query not found: this script supports Debian 12 (and derivatives) only." >&2
  exit 1
fi

if [[ "$demo" -eq 1 ]]; then
  wanted=("${DEMO_PACKAGES[@]}")
else
  wanted=("${PACKAGES[@]}")
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    wanted+=("${NODE_PACKAGES[@]}")
  fi
fi

# One dpkg-query for all: a package it does not know is simply not listed.
declare -A installed=()
while read -r pkg ok; do
  [[ "$ok" == "install ok installed" ]] && installed["$pkg"]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null || true)
missing=()
for pkg in "${wanted[@]}"; do
  [[ -n "${installed[$pkg]:-}" ]] || missing+=("$pkg")
done

SUDO=()
if [[ "$(id -u)" -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all ${#wanted[@]} Debian packages already installed."
else
  log "missing ${#missing[@]} package(s): ${missing[*]}"
  if [[ "$(id -u)" -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
    log "not root and sudo is not available; install as root:" >&2
    log "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  APT_LOG="$(mktemp "${TMPDIR:-/tmp}/degrade-apt.XXXXXX.log")"
  apt_failed() {
    log "$1; the end of apt-get's output ($APT_LOG):" >&2
    tail -n 20 "$APT_LOG" | sed 's/^/    /' >&2
    exit 1
  }
  log "apt-get update and install (output in $APT_LOG) ..."
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q update >>"$APT_LOG" 2>&1 ||
    apt_failed "apt-get update failed (network or apt sources?)"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -q install -y --no-install-recommends "${missing[@]}" >>"$APT_LOG" 2>&1 ||
    apt_failed "apt-get install failed for: ${missing[*]}"
  log "installed ${#missing[@]} package(s) and what they need ($(grep -c '^Setting up ' "$APT_LOG") in all)."
  rm -f "$APT_LOG"
fi

if [[ "$demo" -eq 1 ]]; then
  exit 0
fi

# ---- npm test modules ---------------------------------------------------------
# tests/browser (playwright-core, the browser test) and tests/openfeature
# (the OpenFeature SDK, its OFREP provider and flagd-core, the interop
# tests). Each is up to date when every package in its package-lock.json is
# installed at the locked version (npm ci would change nothing); otherwise
# `npm ci` there.
modules_current() {
  (cd "$1" && node -e '
    const fs = require("fs");
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
    for (const [path, meta] of Object.entries(lock.packages || {})) {
      if (!path.startsWith("node_modules/")) continue;
      let have;
      try { have = JSON.parse(fs.readFileSync(path + "/package.json", "utf8")).version; }
      catch { process.exit(1); }
      if (have !== meta.version) process.exit(1);
    }
  ' 2>/dev/null)
}

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [[ "$node_major" -lt 20 ]]; then
  log "warning: node $(node --version) is older than the npm test modules' engines (>=20)" >&2
fi
for dir in "$BROWSER_DIR" "$OPENFEATURE_DIR"; do
  rel="${dir#"$ROOT"/}"
  if [[ ! -f "$dir/package-lock.json" ]]; then
    log "$rel/package-lock.json is missing: its tests cannot be installed" >&2
    exit 1
  fi
  if modules_current "$dir"; then
    log "$rel/node_modules matches package-lock.json."
    continue
  fi
  log "running npm ci in $rel"
  if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); then
    log "npm ci in $rel failed (is the npm registry reachable?)" >&2
    exit 1
  fi
  if ! modules_current "$dir"; then
    log "npm ci in $rel finished but node_modules does not match package-lock.json" >&2
    exit 1
  fi
  log "installed $rel/node_modules."
done
