// degrade/state.h: the values a switch can take and the layers that set them.
//
// These are plain value types shared by the registry, snapshots, the runtime
// and the bindings. Nothing here touches the hot path.
#ifndef DEGRADE_STATE_H_
#define DEGRADE_STATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "degrade/breaker.h"
#include "degrade/export.h"

namespace degrade {

// Whether the dependency behind a switch is called.
enum class State : uint8_t {
  kOn,   // call the dependency (possibly only a fraction of calls: `allow`)
  kOff,  // skip it and use the fallback
};

// "on" / "off".
DEGRADE_EXPORT std::string_view StateName(State state) noexcept;

// The layers, lowest precedence first. The highest layer that says anything
// about a field of a switch decides that field (see Registry for details).
enum class Layer : uint8_t {
  kDefault = 0,  // the code's declaration (SwitchSpec)
  kFile = 1,     // DEGRADE_CONFIG_FILE, re-read when it changes
  kEnv = 2,      // DEGRADE_<NAME>, DEGRADE_GROUP_<GROUP>, DEGRADE_ALL
  kRemote = 3,   // HTTP polling or etcd watch
  kBreaker = 4,   // automatic trip: only ever turns a switch off
  kGovernor = 5,  // automatic brownout (degrade/governor.h): only reduces allow
  kAdmin = 6,     // local override through the API or the admin endpoint
};
inline constexpr int kLayerCount = 7;

// "default", "file", "env", "remote", "breaker", "governor", "admin".
DEGRADE_EXPORT std::string_view LayerName(Layer layer) noexcept;

// Parses a LayerName() back (exact, lower case). Returns nullopt for
// anything else.
DEGRADE_EXPORT std::optional<Layer> ParseLayerName(std::string_view name) noexcept;

// A fault injected on purpose (drills). It acts only through degrade::Call.
struct Fault {
  enum class Kind : uint8_t {
    kError,  // the wrapped call fails with an injected error: fallback runs
    kDelay,  // the wrapped call is delayed by `delay_ms`, then runs
  };
  Kind kind = Kind::kError;
  // Fraction of calls affected, in [0, 1].
  double rate = 1.0;
  // For kDelay: the delay. For kError: an optional delay before failing,
  // which is how a slow-then-failing dependency is rehearsed. At most
  // kMaxFaultDelayMs.
  uint32_t delay_ms = 0;

  friend bool operator==(const Fault&, const Fault&) = default;
};
inline constexpr uint32_t kMaxFaultDelayMs = 600'000;  // 10 minutes

// "error" / "delay".
DEGRADE_EXPORT std::string_view FaultKindName(Fault::Kind kind) noexcept;

// What one layer says about a switch (or a group, or `all`): the value of a
// snapshot entry (see degrade/snapshot.h). Every field is optional; an entry
// that sets only `fault` leaves the state to lower layers.
struct SwitchValue {
  std::optional<State> state;
  // Fraction of calls let through while on, in [0, 1]. Setting `allow`
  // without `state` means on with that fraction.
  std::optional<double> allow;
  // A fault to inject. `fault_cleared` = true means "explicitly no fault"
  // (JSON "fault": "off"), which hides faults from lower layers.
  std::optional<Fault> fault;
  bool fault_cleared = false;
  // A breaker policy (see degrade/breaker.h). `breaker_cleared` = true means
  // "explicitly no breaker" (JSON "breaker": "off"), which hides lower
  // layers' policies. Like the fault, decided by the highest layer setting it.
  std::optional<BreakerPolicy> breaker;
  bool breaker_cleared = false;
  std::string reason;
  std::string actor;
  // After this instant the entry is ignored, as if absent.
  std::optional<absl::Time> expires_at;

  // True when the entry decides the state (state or allow present).
  bool SetsState() const noexcept { return state.has_value() || allow.has_value(); }
  // True when the entry decides the fault (a fault or an explicit "off").
  bool SetsFault() const noexcept { return fault.has_value() || fault_cleared; }
  // True when the entry decides the breaker policy (a policy or "off").
  bool SetsBreaker() const noexcept { return breaker.has_value() || breaker_cleared; }

  friend bool operator==(const SwitchValue&, const SwitchValue&) = default;
};

// The state the hot path acts on, after all layers are merged.
struct EffectiveState {
  State state = State::kOn;
  double allow = 1.0;  // 1 when off (meaningless then) or plainly on
  std::optional<Fault> fault;

  // True when calls go through: on, and allow > 0.
  bool calls_pass() const noexcept { return state == State::kOn && allow > 0.0; }

  friend bool operator==(const EffectiveState&, const EffectiveState&) = default;
};

// Human form, short and stable (logs, tables): the state, then " allow=A"
// when on and allow != 1, then " fault=KIND rate=R" and " delay_ms=N" when
// N > 0. Numbers are the shortest text that reads back to the same double
// (0.25, 1, never 0.250000). E.g. "on", "off", "on allow=0.25",
// "on fault=error rate=0.5", "off fault=delay rate=1 delay_ms=200".
DEGRADE_EXPORT std::string DescribeState(const EffectiveState& state);

}  // namespace degrade

#endif  // DEGRADE_STATE_H_
