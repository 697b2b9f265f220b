#!/usr/bin/env bash
# The ABI of libdegrade.so is the public API only (suite 'packaging').
#
#   tests/packaging/symbols_check.sh LIBDEGRADE_SO
#
# Lists the library's exported symbols (nm -DC --defined-only) and fails when
#   - a symbol of degrade::internal is exported other than those the
#     inline hot path of the public headers reaches (Switch::enabled and
#     degrade::Call, keyed or not: RollDimmed, StickyDimmed, DecideSlow,
#     DecideSlowKeyed, ObserveOutcome, CounterChunkSlow, t_counter_directory);
#   - an internal class is exported (the registry core, the HTTP and etcd
#     clients, the sources, the caches, the admin server, ...), or anything
#     of the libraries inside (cpp-httplib, nlohmann::json);
#   - a part of the public API is missing (one symbol per public header).
# install_check.sh runs it on the installed library; meson runs it on the
# build's.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 LIBDEGRADE_SO" >&2
  exit 2
fi
LIB="$1"
[[ -f "$LIB" ]] || { echo "symbols_check: FAIL: no such file: $LIB" >&2; exit 1; }

# Mangled names, so that the owner of each symbol is unambiguous: weak
# instantiations of the standard library's templates (std::vector<...>,
# std::function's manager for a lambda, ...), which every C++ library emits
# and which name degrade's types only as template arguments, are left out;
# the rest, degrade's own symbols (and its classes' vtables and typeinfo),
# are demangled and checked.
mangled="$(nm -D --defined-only "$LIB" | awk 'NF == 3 {print $3}')"
symbols="$(printf '%s\n' "$mangled" |
  grep -Ev '^_Z(T[VIST]|GV|TT)?N?[rVK]*(St|Sa|Sb|Ss|Si|So|Sd|9__gnu_cxx)' | c++filt |
  sed -E 's/^(vtable|typeinfo|typeinfo name|VTT|guard variable|construction vtable) for //' ||
  true)"
printf 'symbols_check: %s exports %d symbols, %d of them not std:: template instances\n' \
  "$LIB" "$(printf '%s\n' "$mangled" | grep -c .)" "$(printf '%s\n' "$symbols" | grep -c .)"
status=0

# degrade::internal: the hot path's five, nothing else.
allowed_internal='^degrade::internal::(RollDimmed|StickyDimmed|DecideSlow|DecideSlowKeyed|ObserveOutcome|CounterChunkSlow)\(|^degrade::internal::t_counter_directory$'
bad_internal="$(printf '%s\n' "$symbols" | grep -E 'degrade::internal::' |
  grep -Ev "$allowed_internal" || true)"
if [[ -n "$bad_internal" ]]; then
  echo "symbols_check: FAIL: internal symbols exported (give them no DEGRADE_EXPORT):" >&2
  printf '%s\n' "$bad_internal" | head -40 | sed 's/^/    /' >&2
  status=1
fi

# Internal classes and embedded libraries, whatever their namespace.
forbidden='\b(RegistryCore|RegistryAccess|SwitchData|AdminServer|BoundedServer|WorkerPool|EtcdClient|EtcdSource|EtcdWatchParser|HttpSource|FileSource|LkgCacheKeeper|BreakerWindow|RealClock|Runtime::Impl)\b|^(httplib|nlohmann|absl)::'
bad_classes="$(printf '%s\n' "$symbols" | grep -E "$forbidden" || true)"
if [[ -n "$bad_classes" ]]; then
  echo "symbols_check: FAIL: internal classes or embedded libraries exported:" >&2
  printf '%s\n' "$bad_classes" | head -40 | sed 's/^/    /' >&2
  status=1
fi

# The public API is there (one symbol per public header, and the hot path's).
required=(
  'degrade::Registry::Global()'
  'degrade::Registry::Get(std::basic_string_view<char, std::char_traits<char> >) const'
  'degrade::Switch::Switch(degrade::SwitchSpec)'
  'degrade::Runtime::FromEnv(degrade::Registry*)'
  'degrade::Clock::Real()'
  'degrade::DescribeState[abi:cxx11](degrade::EffectiveState const&)'
  'degrade::StderrLogSink()'
  'degrade::ListingToJson[abi:cxx11](degrade::Registry const&)'
  'degrade::InventoryToJson[abi:cxx11]('
  'degrade::EnvVarForSwitch[abi:cxx11]('
  'degrade::ParseSnapshot('
  'degrade::BreakerStateName(degrade::BreakerState)'
  'degrade::testing::FakeClock::Advance('
  'degrade::internal::RollDimmed(long)'
  'degrade::internal::StickyDimmed('
  'degrade::internal::DecideSlowKeyed('
  'degrade::StickyPoint('
  'degrade::internal::DecideSlow('
  'degrade::internal::ObserveOutcome('
  'degrade::internal::CounterChunkSlow(unsigned int)'
  'degrade::internal::t_counter_directory'
)
for sym in "${required[@]}"; do
  # A here-string, not a pipe: grep -q stops at the first match, and with
  # pipefail the writer's SIGPIPE on a long listing would read as "absent".
  if ! grep -qF -- "$sym" <<<"$symbols"; then
    echo "symbols_check: FAIL: public API not exported: $sym" >&2
    status=1
  fi
done

if [[ "$status" -eq 0 ]]; then
  echo "symbols_check: ok: no internal class exported; all ${#required[@]} public API probes present"
fi
exit "$status"
