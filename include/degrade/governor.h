// degrade/governor.h: automatic brownout under overload.
//
// The governor keeps the essential path's latency at a target by dimming
// optional work, tier by tier (SwitchSpec::tier: 9 is shed first, 1 last, 0
// never). The application reports how long each essential request took
// (LatencyTimer, or Registry::RecordLatency); every period a feedback
// controller turns the last period's latency percentile into one brownout
// level, and the registry's `governor` layer (between breaker and admin)
// dims the switches of the highest tier in use first, down to off, before
// it touches the next one. The layer only ever reduces a switch's allow: it
// never turns on what a lower layer turned off, and an admin entry beats it.
//
// The controller (docs/governor.md has the reasoning and the figures), once
// per period:
//   served   the share of tiered optional work let through, in [0, 1]
//            (1 = nothing dimmed, 0 = every tier the governor may touch off)
//   y        the period's latency percentile; r = (target - y) / target,
//            clamped to [-1, 1]; g = the growth of requests in flight over
//            the period (LatencyTimer counts them)
//   over target (r < -deadband):
//            served += gain_down * max(served, 0.1) * r
//   and while over target and the queue grows (r < 0, g > 0):
//            served *= max(0.5, 1 - g / in_flight)
//   well under target (y < recover_below * target) and the queue not growing
//   (by more than 4 requests and a quarter of those in flight):
//            served += gain_up * (r - (1 - recover_below)), at a quarter of
//            that speed from 85% of the share served when latency last went
//            over target up to it (about where capacity ends)
//   otherwise (the hold band) no change. served is clamped to [0, 1] each
//   period, and that clamped value is all the state there is, so it never
//   winds up past either end. Decreases act on the period they see;
//   increases wait for a clear margin, so that it settles below the target
//   instead of probing past the service's capacity every period.
//   A period with fewer than min_samples latencies keeps the level, unless
//   requests are in flight, none completed and the period is longer than
//   the target (the service is stuck): that counts as y = the period.
// With K tiers in use at or above the cap, the brownout b = (1 - served) * K
// gives the highest tier allow 1 - b (clamped to [0, 1]), the next one
// 1 - (b - 1), and so on. Allows are rounded down to 5% steps, so that the
// layer (and its change events) moves only when a tier's allow moves by a
// step.
//
// Operators turn it off or cap it with a snapshot's "governor" field in any
// layer (degrade/snapshot.h; the admin endpoint's PUT /degrade/v1/governor
// and `degradectl governor off|on|cap N` write the admin layer's): the
// highest layer that says anything decides. Off clears the governor layer at
// once; cap N keeps it away from tiers below N.
//
// Thread safety: every function may be called from any thread.
// RecordLatency and LatencyTimer are lock-free and never allocate.
#ifndef DEGRADE_GOVERNOR_H_
#define DEGRADE_GOVERNOR_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "degrade/export.h"

namespace degrade {

class Registry;

struct GovernorOptions {
  // The latency setpoint for the percentile below: (0, 10 min]. Required.
  absl::Duration target = absl::ZeroDuration();
  // Which latency percentile is held at the target: [0.5, 0.999].
  double percentile = 0.95;
  // How often the controller runs: [10 ms, 60 s].
  absl::Duration period = absl::Seconds(1);
  // Controller gains (see above): each in (0, 1].
  double gain_down = 0.3;
  double gain_up = 0.3;
  // No decrease while latency is within this share above the target:
  // [0, 0.5].
  double deadband = 0.05;
  // Increases only while latency is below this share of the target:
  // [0.1, 1].
  double recover_below = 0.7;
  // A period with fewer completed requests than this keeps the level:
  // [1, 1000000].
  uint32_t min_samples = 20;
};

// What the governor is doing, as listings, metrics and the console show it.
struct GovernorStatus {
  bool configured = false;  // a target is set (ConfigureGovernor / env)
  // Operators' setting (a snapshot's "governor" field): whether it may act,
  // the lowest tier it may touch, and which layer said so (nullopt: no layer
  // says anything; enabled, cap 1).
  bool enabled = true;
  int cap = 1;
  std::optional<std::string> setting_layer;
  std::string setting_actor;
  std::string setting_reason;

  GovernorOptions options;
  // The last period's measured percentile (nullopt: too few samples), its
  // number of completed requests, and the requests in flight at its end.
  std::optional<absl::Duration> measured;
  uint64_t samples = 0;
  int64_t in_flight = 0;
  // The controller's output (see above) and what it imposes: the lowest
  // tier it touches now (0 = none) and that tier's allow (0 when it is off
  // too), and how many tiers are fully off (that one included when off).
  double served = 1.0;
  int tier = 0;
  double tier_allow = 1.0;
  int tiers_off = 0;
  uint64_t periods = 0;  // periods run since configured
  std::optional<absl::Time> last_period;
};

// Validates options: InvalidArgument naming the field, the value and what is
// accepted, e.g. "governor percentile: 1.5 is not in [0.5, 0.999]".
DEGRADE_EXPORT absl::Status ValidateGovernorOptions(const GovernorOptions& options);

// Times one essential request, from construction to destruction (or
// Finish()), and counts it in flight meanwhile. Costs two clock reads and
// three relaxed atomic operations; never allocates.
//   { degrade::LatencyTimer timer; HandleRequest(); }
class DEGRADE_EXPORT LatencyTimer {
 public:
  LatencyTimer() noexcept;  // Registry::Global()
  explicit LatencyTimer(Registry& registry) noexcept;
  ~LatencyTimer() { Finish(); }
  LatencyTimer(const LatencyTimer&) = delete;
  LatencyTimer& operator=(const LatencyTimer&) = delete;

  // Records the latency now; later calls and the destructor do nothing.
  void Finish() noexcept;
  // Leaves the request out (it was not essential after all, or failed fast
  // in a way that says nothing about load); it stops counting in flight.
  void Cancel() noexcept;

 private:
  Registry* registry_;
  int64_t start_ns_;
  bool done_ = false;
};

}  // namespace degrade

#endif  // DEGRADE_GOVERNOR_H_
