// degrade/breaker.h: a circuit breaker that turns a switch off by itself
// when its dependency fails, and probes it back on.
//
//   DEGRADE_SWITCH_SPEC(kRecs, {.name = "recommendations", .description = "...",
//                               .breaker = degrade::BreakerPolicy{}});
//
// or, from any layer's snapshot (so SREs can tune it remotely):
//
//   "recommendations": {"breaker": {"window": "time", "window_size": 10,
//                       "min_calls": 20, "failure_ratio": 0.5,
//                       "slow_call_ms": 1000, "slow_call_ratio": 1.0,
//                       "open_s": 30, "half_open_calls": 5}}
//
// The policy is decided like the fault: the highest layer whose entry has a
// `breaker` field decides it, whole (fields are not merged across layers);
// "breaker": "off" hides lower layers' policies, so the switch has none.
//
// States (the names and semantics of resilience4j's CircuitBreaker and
// Sentinel's DegradeRule, see docs/breakers.md for the comparison):
//
//   closed     every call runs. The outcomes of degrade::Call on the switch
//              fill a sliding window. When the window holds at least
//              `min_calls` calls and failures / calls >= failure_ratio, or
//              slow / calls >= slow_call_ratio, the breaker opens.
//   open       the breaker layer holds "off" for the switch (actor "breaker",
//              reason with the window figures): unless a higher layer (admin)
//              decides otherwise, every Call runs the fallback. After
//              `open_s` seconds it goes half-open.
//   half_open  the breaker's entry is removed; Call lets `half_open_calls`
//              probe calls through and skips the others (counted as skipped).
//              Any failed or slow probe opens it again (at the next
//              evaluation, without waiting for the other probes); once all
//              probes succeeded it closes, with an empty window.
//
// Failures are what Call sees: a non-OK absl::Status/StatusOr, an exception,
// an injected `error` fault; a call is slow when it took longer than
// slow_call_ms (injected `delay` faults included). `enabled()` alone records
// nothing: only degrade::Call feeds a breaker.
//
// An admin `on` override beats the breaker (the admin layer is higher): calls
// run, outcomes are still recorded and the breaker keeps its state machine
// going, so it is closed again when the operator lets go if the dependency
// recovered.
//
// Cost: a switch with a breaker takes Call's out-of-line path: about 7 ns of
// CPU (27 instructions) more per call than without one while closed, on 1 or
// 2 threads (bench/breaker_benchmark.cc); no lock, no allocation: calls and
// failures are the per-thread counters Call keeps anyway. With
// slow_call_ms > 0 add two reads of CLOCK_MONOTONIC_COARSE (a few ns with the
// vDSO, ~15 ns of CPU on the benchmark VM; resolution: the kernel tick, 1-4
// ms, see clock_getres(2)), so durations are known to within one tick. A
// registry thread evaluates every breaker every 25 ms: it opens within about
// 30 ms of its window crossing the threshold (measured: window + 20-28 ms for
// a dependency failing every call with failure_ratio 1).
//
// Thread safety: these are plain value types.
#ifndef DEGRADE_BREAKER_H_
#define DEGRADE_BREAKER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "degrade/export.h"

namespace degrade {

// Defined in degrade/state.h (which includes this header for SwitchValue).
enum class Layer : uint8_t;

// A breaker's configuration. Every member has a default, so designated
// initializers may name any subset: BreakerPolicy{.failure_ratio = 0.3}.
struct BreakerPolicy {
  enum class Window : uint8_t {
    kCount,  // the last `window_size` calls
    kTime,   // the calls of the last `window_size` seconds
  };
  // Default: time. A time window forgets old outcomes however little
  // traffic there is, and bounds how long detection takes.
  Window window = Window::kTime;
  // Seconds (time window, 1-3600) or calls (count window, 1-10000).
  // Default: 10 (seconds; for a count window pick a size, e.g. 100).
  uint32_t window_size = 10;
  // The breaker never opens while the window holds fewer calls than this
  // (1-1000000). For a count window, at most window_size is required.
  // Default: 20.
  uint32_t min_calls = 20;
  // Opens when failures / calls >= failure_ratio, in (0, 1]. Default: 0.5.
  double failure_ratio = 0.5;
  // A call slower than this many milliseconds is slow (0-600000; 0 = do not
  // time calls, and slow_call_ratio is unused). Default: 0.
  uint32_t slow_call_ms = 0;
  // Opens when slow / calls >= slow_call_ratio, in (0, 1]. Default: 1.
  double slow_call_ratio = 1.0;
  // Seconds to stay open before probing, in (0, 86400]; fractions allowed.
  // Default: 30.
  double open_s = 30.0;
  // Probe calls let through in half-open (1-1000). Default: 5.
  uint32_t half_open_calls = 5;

  friend bool operator==(const BreakerPolicy&, const BreakerPolicy&) = default;
};

// Limits of the fields above (also in the parser's messages).
inline constexpr uint32_t kMaxBreakerWindowSeconds = 3600;
inline constexpr uint32_t kMaxBreakerWindowCalls = 10'000;
inline constexpr uint32_t kMaxBreakerMinCalls = 1'000'000;
inline constexpr uint32_t kMaxBreakerSlowCallMs = 600'000;
inline constexpr double kMaxBreakerOpenSeconds = 86'400.0;
inline constexpr uint32_t kMaxBreakerHalfOpenCalls = 1000;

// "count" / "time".
DEGRADE_EXPORT std::string_view BreakerWindowName(BreakerPolicy::Window window) noexcept;

enum class BreakerState : uint8_t {
  kClosed,
  kOpen,
  kHalfOpen,
};

// "closed", "open", "half_open".
DEGRADE_EXPORT std::string_view BreakerStateName(BreakerState state) noexcept;

// A breaker as a listing shows it (SwitchInfo::breaker).
struct BreakerInfo {
  BreakerPolicy policy;
  Layer policy_layer{};  // the layer that decided the policy (0 = default)
  BreakerState state = BreakerState::kClosed;

  // The closed state's window, as of the last evaluation. Empty (zeros)
  // while open or half-open; a new window starts when the breaker closes.
  uint64_t window_calls = 0;
  uint64_t window_failures = 0;
  uint64_t window_slow_calls = 0;
  double window_failure_ratio = 0.0;  // failures / calls; 0 without calls
  double window_slow_ratio = 0.0;     // slow / calls; 0 without calls

  // Half-open: probes let through, and how many came back ok or failed.
  uint32_t probes_admitted = 0;
  uint32_t probes_ok = 0;
  uint32_t probes_failed = 0;

  // Transitions since the policy was attached, and when/why the last was.
  uint64_t transitions = 0;
  uint64_t times_opened = 0;
  std::optional<absl::Time> last_transition;
  std::string last_reason;
  // Open: when it will go half-open and probe.
  std::optional<absl::Time> next_probe_at;
};

}  // namespace degrade

#endif  // DEGRADE_BREAKER_H_
