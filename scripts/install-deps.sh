#!/usr/bin/env bash
# Installs the Debian 12 packages degrade needs to build, test and install.
# Idempotent: when every package is already installed it does nothing (no
# apt-get update, no network) and returns in well under a second.
set -euo pipefail

PACKAGES=(
  meson ninja-build pkg-config g++
  libabsl-dev nlohmann-json3-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  pybind11-dev python3-dev python3-pytest
  etcd-server etcd-client libssl-dev
  valgrind cmake
  clang libclang-rt-14-dev clang-tidy
)

log() { printf 'install-deps: %s\n' "$*"; }

if ! command -v dpkg-query >/dev/null 2>&1; then
  log "dpkg-query not found: this script supports Debian 12 (and derivatives) only." >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all ${#PACKAGES[@]} packages already installed."
  exit 0
fi

log "missing ${#missing[@]} package(s): ${missing[*]}"

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    log "not root and sudo is not available; install as root:" >&2
    log "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
log "running apt-get update"
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update; then
  log "apt-get update failed (network or apt sources?)" >&2
  exit 1
fi
log "running apt-get install -y --no-install-recommends ${missing[*]}"
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"; then
  log "apt-get install failed for: ${missing[*]}" >&2
  exit 1
fi
log "installed ${#missing[@]} package(s)."
