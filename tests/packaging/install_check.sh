#!/usr/bin/env bash
# degrade installed into a custom prefix (suite 'packaging').
#
#   tests/packaging/install_check.sh SOURCE_ROOT BUILD_ROOT
#
# Configures a small build of its own (library, degradectl, the C API and,
# when available, the Python package; no tests, benchmarks or demos;
# --buildtype=plain and a unity build of 16 sources a unit, which takes a
# quarter of the CPU time of separate sources: what is checked here is what
# gets installed, not how it was compiled. A name that two .cc files both
# define in their anonymous namespaces breaks a unity build: share the
# helper, e.g. in core/str_util.h or tools/ctl_json.h) with
# --prefix=BUILD_ROOT/packaging/install/prefix, runs a real `meson install`
# into that prefix (no DESTDIR: the RUNPATH must name the real prefix), and
# checks, with LD_LIBRARY_PATH unset throughout:
#   - bin/degradectl, libdegrade_c.so and the Python extension carry
#     RUNPATH <prefix>/<libdir>, and degradectl runs;
#   - the installed Python package imports and calls through a switch;
#   - the installed libdegrade.so exports the public API only
#     (symbols_check.sh);
#   - `pkg-config --cflags degrade` has no private define (cpp-httplib's
#     -DCPPHTTPLIB_*), and a C++20 program built with
#     `pkg-config --cflags --libs degrade` runs; so does a C99 program built
#     with `pkg-config --cflags --libs degrade_c`;
#   - a CMake project with find_package(degrade) builds and runs.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 SOURCE_ROOT BUILD_ROOT" >&2
  exit 2
fi
SRC="$(cd "$1" && pwd)"
WORK="$(cd "$2" && pwd)/packaging/install"
PREFIX="$WORK/prefix"
PY=/usr/bin/python3
unset LD_LIBRARY_PATH

fail() { printf 'install_check: FAIL: %s\n' "$*" >&2; exit 1; }
ok() { printf 'install_check: ok: %s\n' "$*"; }

# The build directory is kept between runs (a reconfigure is quick and the
# compiler cache then has every object); the prefix is always fresh.
rm -rf "$PREFIX" "$WORK/consumers"
mkdir -p "$WORK/consumers"
setup_args=(--prefix="$PREFIX" --buildtype=plain -Dunity=on -Dunity_size=16 -Dtests=false -Dbenchmarks=false
            -Dexamples=disabled -Dprometheus=disabled -Dfuzz=disabled)
if [[ -f "$WORK/build/build.ninja" ]]; then
  meson configure "$WORK/build" "${setup_args[@]}" >"$WORK/setup.log" 2>&1 ||
    { cat "$WORK/setup.log" >&2; fail "meson configure failed"; }
else
  rm -rf "$WORK/build"
  meson setup "$WORK/build" "$SRC" "${setup_args[@]}" >"$WORK/setup.log" 2>&1 ||
    { cat "$WORK/setup.log" >&2; fail "meson setup failed (log above)"; }
fi
ninja -C "$WORK/build" >"$WORK/build.log" 2>&1 ||
  { tail -50 "$WORK/build.log" >&2; fail "the build failed (log above)"; }
meson install -C "$WORK/build" --no-rebuild --quiet >"$WORK/install.log" 2>&1 ||
  { cat "$WORK/install.log" >&2; fail "meson install failed (log above)"; }
LIBDIR="$PREFIX/$(meson introspect "$WORK/build" --buildoptions |
  "$PY" -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "libdir"))')"
ok "installed into $PREFIX (libdir $LIBDIR)"

# RUNPATH of what is installed and loads libdegrade (or is a program).
runpath_of() { readelf -d "$1" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p'; }
check_runpath() {
  local file="$1" rp
  [[ -f "$file" ]] || fail "not installed: $file"
  rp="$(runpath_of "$file")"
  [[ "$rp" == "$LIBDIR" ]] || fail "RUNPATH of ${file#"$PREFIX"/} is '$rp', not '$LIBDIR'"
  ok "RUNPATH of ${file#"$PREFIX"/} is <prefix>/${LIBDIR#"$PREFIX"/}"
}
check_runpath "$PREFIX/bin/degradectl"
check_runpath "$LIBDIR/libdegrade_c.so"

"$PREFIX/bin/degradectl" --help >"$WORK/degradectl.out" 2>&1 ||
  { cat "$WORK/degradectl.out" >&2; fail "installed degradectl --help failed without LD_LIBRARY_PATH"; }
ok "installed degradectl runs without LD_LIBRARY_PATH ($(head -1 "$WORK/degradectl.out"))"

# The Python package, when this machine builds it.
ext="$(find "$PREFIX" -name '_degrade*.so' -print -quit)"
if [[ -n "$ext" ]]; then
  check_runpath "$ext"
  pkgdir="$(dirname "$(dirname "$ext")")"
  out="$(cd "$WORK" && PYTHONPATH="$pkgdir" "$PY" -c '
import degrade
sw = degrade.switch("install.check", "install check")
print("degrade", degrade.__version__, "from", degrade.__file__, "enabled:", sw.enabled)
')" || fail "the installed Python package does not import (PYTHONPATH=$pkgdir, no LD_LIBRARY_PATH)"
  [[ "$out" == *"from $pkgdir/"*"enabled: True" ]] || fail "unexpected Python result: $out"
  ok "installed Python package: $out"
elif grep -Eq "Python +: +(True|YES)" "$WORK/setup.log"; then
  fail "the Python package was configured but not installed"
else
  echo "install_check: note: the Python package is not built on this machine; not checked"
fi

# The ABI.
bash "$SRC/tests/packaging/symbols_check.sh" "$LIBDIR/libdegrade.so" ||
  fail "the installed libdegrade.so exports internals or misses public API (above)"

# pkg-config.
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
cflags="$(pkg-config --cflags degrade)" || fail "pkg-config --cflags degrade failed"
echo "    pkg-config --cflags degrade: $cflags"
[[ "$cflags" != *CPPHTTPLIB* ]] || fail "pkg-config Cflags carry cpp-httplib's private defines: $cflags"
[[ " $cflags " == *" -I$PREFIX/include "* ]] || fail "pkg-config Cflags lack -I$PREFIX/include: $cflags"
# Everything else must come from the public Requires (Abseil, whose headers
# the public headers include; Debian's absl .pc files add -DNOMINMAX).
requires="$(pkg-config --print-requires degrade | awk '{print $1}' | tr '\n' ' ')"
read -r -a requires_arr <<<"$requires"
theirs=" $(pkg-config --cflags "${requires_arr[@]}") "
for flag in $cflags; do
  [[ "$flag" == "-I$PREFIX/include" || "$theirs" == *" $flag "* ]] ||
    fail "pkg-config Cflags: $flag is neither degrade's include directory nor a flag of its public Requires ($requires)"
done
ok "pkg-config Cflags: the include directory and the public Requires' flags only ($requires)"

CONSUMER_SRC='#include <degrade/degrade.h>

DEGRADE_SWITCH(kDemo, "demo", "install check");

int main() { return kDemo.enabled() ? 0 : 1; }
'
printf '%s' "$CONSUMER_SRC" >"$WORK/consumers/main.cc"
read -r -a flags <<<"$(pkg-config --cflags --libs degrade)"
g++ -std=c++20 -o "$WORK/consumers/pkgconfig_app" "$WORK/consumers/main.cc" "${flags[@]}" \
  "-Wl,-rpath,$LIBDIR" || fail "the pkg-config consumer failed to compile or link"
"$WORK/consumers/pkgconfig_app" || fail "the pkg-config consumer exited non-zero"
ok "a C++20 program built with pkg-config --cflags --libs degrade runs"

cat >"$WORK/consumers/c_app.c" <<'CSRC'
#include <degrade/degrade_c.h>
#include <stdio.h>

int main(void) {
  degrade_switch_t* sw = NULL;
  char* err = NULL;
  if (degrade_switch_define("install.check", "install check", "", NULL, 1, 1.0, &sw, &err) != 0) {
    fprintf(stderr, "degrade_switch_define: %s\n", err ? err : "?");
    degrade_free(err);
    return 1;
  }
  printf("degrade %s: enabled %d\n", degrade_version(), (int)degrade_enabled(sw));
  return degrade_enabled(sw) ? 0 : 1;
}
CSRC
read -r -a cflags_c <<<"$(pkg-config --cflags --libs degrade_c)"
gcc -std=c99 -Wall -Werror -pedantic -o "$WORK/consumers/c_app" "$WORK/consumers/c_app.c" \
  "${cflags_c[@]}" "-Wl,-rpath,$LIBDIR" || fail "the C consumer failed to compile or link"
"$WORK/consumers/c_app" >/dev/null || fail "the C consumer exited non-zero"
ok "a C99 program built with pkg-config --cflags --libs degrade_c runs"

# CMake.
mkdir -p "$WORK/consumers/cmake"
cp "$WORK/consumers/main.cc" "$WORK/consumers/cmake/main.cc"
cat >"$WORK/consumers/cmake/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(degrade_install_check CXX)
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
find_package(degrade REQUIRED)
add_executable(app main.cc)
target_link_libraries(app PRIVATE degrade::degrade)
CMAKE
cmake -S "$WORK/consumers/cmake" -B "$WORK/consumers/cmake/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$PREFIX" >"$WORK/cmake.log" 2>&1 ||
  { cat "$WORK/cmake.log" >&2; fail "cmake configure with find_package(degrade) failed"; }
cmake --build "$WORK/consumers/cmake/build" >>"$WORK/cmake.log" 2>&1 ||
  { cat "$WORK/cmake.log" >&2; fail "the CMake consumer failed to compile or link"; }
"$WORK/consumers/cmake/build/app" || fail "the CMake consumer exited non-zero"
ok "a CMake project with find_package(degrade) builds and runs"

rm -rf "$PREFIX" "$WORK/consumers"
