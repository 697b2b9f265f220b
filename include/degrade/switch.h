// degrade/switch.h: a named guard around one non-essential dependency.
//
//   DEGRADE_SWITCH(kRecs, "recommendations",
//                  "Personalized recs; the page renders without them.");
//
//   if (kRecs.enabled()) { ... call the recommendations service ... }
//
// A switch is defined once, at namespace scope with DEGRADE_SWITCH (it then
// lives in Registry::Global() for the life of the process), or at run time
// with Registry::Define. Its effective state is decided by the registry's
// layers (see degrade/registry.h) and mirrored into one atomic word that
// enabled() loads.
//
// To use a switch from several translation units, define it in one .cc and
// declare it in a header with DEGRADE_DECLARE_SWITCH(kRecs).
#ifndef DEGRADE_SWITCH_H_
#define DEGRADE_SWITCH_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/optimization.h"
#include "degrade/breaker.h"
#include "degrade/export.h"
#include "degrade/internal/word.h"
#include "degrade/state.h"

namespace degrade {

class Registry;
class Switch;

// Criticality tiers (SwitchSpec::tier): 0 = no tier, 1 = shed last ...
// kMaxTier = shed first.
inline constexpr int kMaxTier = 9;

namespace internal {
struct SwitchData;
class RegistryAccess;
// Slow path of enabled(): rolls the per-thread generator against a dimmed
// word's threshold. Never allocates, locks or blocks.
DEGRADE_EXPORT bool RollDimmed(int64_t word) noexcept;
// Slow path of enabled(key): the key's sticky point against the threshold.
DEGRADE_EXPORT bool StickyDimmed(const Switch& sw, int64_t word, std::string_view key) noexcept;
}  // namespace internal

// Where `key` falls for the switch named `switch_name`, in [0, 2^32): with a
// fractional allow, Switch::enabled(key) lets the key through exactly when
// StickyPoint(name, key) < allow * 2^32. A fixed hash (docs/dimming.md),
// never seeded per process: the same in every thread, process, restart and
// host, so one user gets one answer everywhere and stays in as allow grows.
DEGRADE_EXPORT uint32_t StickyPoint(std::string_view switch_name, std::string_view key) noexcept;

// The declaration of a switch.
// Every member has a default, so designated initializers may name any subset:
//   registry.Define({.name = "recs", .description = "...", .groups = {"tier2"}});
struct SwitchSpec {
  // 1-128 characters of [a-z0-9._-], starting with [a-z0-9]. Must map to an
  // environment variable no other switch (and no DEGRADE_* setting) uses.
  std::string name = {};
  // What the dependency is and what users lose without it. Shown in every
  // listing and in the incident console; write it for the on-call engineer.
  std::string description = {};
  // Team or person to page. Optional.
  std::string owner = {};
  // Groups, names of the same alphabet as switches. A layer's setting for a
  // group applies to every member (see Registry for precedence).
  std::vector<std::string> groups = {};
  // The default layer. Default: on, allow 1.
  State default_state = State::kOn;
  double default_allow = 1.0;
  // A circuit breaker for the default layer (see degrade/breaker.h); higher
  // layers may replace it with their own policy or "breaker": "off".
  // Default: none.
  std::optional<BreakerPolicy> breaker = {};
  // Criticality tier, for shedding under overload (Defcon-style): 0 = no
  // tier (the default; never shed by tier), 1 = shed last ... 9 = shed
  // first. Anything else fails the definition. Shown in every listing, the
  // inventory, the console and the metrics.
  int tier = 0;
};

class DEGRADE_EXPORT Switch {
 public:
  // Defines a switch in Registry::Global(); this is what DEGRADE_SWITCH
  // expands to. The environment layer (DEGRADE_<NAME>, DEGRADE_GROUP_<G>,
  // DEGRADE_ALL) is read here. An invalid spec or a duplicate name does not
  // crash the program: the error is logged (stderr by default), recorded in
  // Registry::Global().errors(), and this switch is left detached: it keeps
  // its default and environment state but no layer above can reach it, and
  // registered() returns false.
  explicit Switch(SwitchSpec spec) noexcept;
  ~Switch();

  Switch(const Switch&) = delete;
  Switch& operator=(const Switch&) = delete;

  // ---------------------------------------------------------------- hot path
  // True when the dependency should be called. One relaxed atomic load and a
  // predictable branch when the switch is plainly on or off: no lock, no
  // allocation, no string work, no virtual call; never blocks or throws; any
  // thread. Measured on a 2-core Debian 12 VM (bench/hot_path_benchmark.cc):
  // see README "Performance" for the figures of the last run. With a
  // fractional allow it also draws from a per-thread generator (still no
  // allocation), so successive calls answer differently by design.
  bool enabled() const noexcept {
    const int64_t word = word_.load(std::memory_order_relaxed);
    if (ABSL_PREDICT_TRUE(word > 0)) return true;
    if (ABSL_PREDICT_TRUE(word == internal::kWordOff)) return false;
    return internal::RollDimmed(word);
  }

  // Sticky dimming: like enabled(), but a fractional allow is decided by the
  // key (a user, session or tenant id) instead of a per-call draw: the same
  // key gets the same answer in every thread and process at the same allow,
  // and a key that is in stays in as allow grows (see StickyPoint). Plainly
  // on or off: exactly enabled(), one load and a branch. Dimmed: a hash of
  // the key (bench/hot_path_benchmark: 15 ns of CPU for a 36-byte key, 3.2 ns
  // for enabled()'s per-call draw, on a loaded 2-core VM). Never allocates, locks,
  // blocks or throws; any key, the empty one included.
  bool enabled(std::string_view key) const noexcept {
    const int64_t word = word_.load(std::memory_order_relaxed);
    if (ABSL_PREDICT_TRUE(word > 0)) return true;
    if (ABSL_PREDICT_TRUE(word == internal::kWordOff)) return false;
    return internal::StickyDimmed(*this, word, key);
  }
  // ------------------------------------------------------------ end hot path

  std::string_view name() const noexcept;
  std::string_view description() const noexcept;
  std::string_view owner() const noexcept;
  const std::vector<std::string>& groups() const noexcept;
  // SwitchSpec::tier: 0 (no tier), or 1 (shed last) to 9 (shed first).
  int tier() const noexcept;

  // False when the definition failed (see the constructor).
  bool registered() const noexcept;

  // The registry that decides this switch's state (Registry::Global() for
  // DEGRADE_SWITCH), or null when detached.
  Registry* registry() const noexcept;

  // The effective state the hot path acts on. Takes no lock; cheap, but not
  // a hot-path call.
  EffectiveState state() const noexcept;

 private:
  friend class internal::RegistryAccess;
  template <typename P, typename F>
  friend auto Call(const Switch&, P&&, F&&);
  template <typename P, typename F>
  friend auto Call(const Switch&, std::string_view, P&&, F&&);

  struct RegistryOwned {};
  DEGRADE_NO_EXPORT Switch(RegistryOwned, std::unique_ptr<internal::SwitchData> data) noexcept;

  static_assert(std::atomic<int64_t>::is_always_lock_free);
  std::atomic<int64_t> word_{internal::kWordOn};
  std::atomic<uint64_t> fault_{0};  // internal::MakeFaultWord, read by Call only
  uint32_t id_ = 0;                 // counter slot, see internal/counters.h
  std::unique_ptr<internal::SwitchData> data_;
};

}  // namespace degrade

// Defines `var` as a degrade::Switch in Registry::Global(). Namespace scope.
#define DEGRADE_SWITCH(var, name, description) \
  ::degrade::Switch var(::degrade::SwitchSpec{(name), (description)})

// Like DEGRADE_SWITCH with a full spec:
//   DEGRADE_SWITCH_SPEC(kRecs, {.name = "recommendations", .description = "...",
//                               .owner = "recs-team", .groups = {"tier2"}});
#define DEGRADE_SWITCH_SPEC(var, ...) ::degrade::Switch var(::degrade::SwitchSpec __VA_ARGS__)

// Declares a switch defined (with DEGRADE_SWITCH) in another translation unit.
#define DEGRADE_DECLARE_SWITCH(var) extern ::degrade::Switch var

#endif  // DEGRADE_SWITCH_H_
