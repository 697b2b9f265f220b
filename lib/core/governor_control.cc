// The controller's reasoning, beyond the rules degrade/governor.h states.
//
// The plant is a queue in front of a fixed set of workers. Under overload
// the latency the governor sees is mostly waiting time, and waiting time is
// itself the integral of the excess load: a controller that only integrates
// the latency error (served += gain * r) integrates an integral, and swings.
// Three things damp it, each measured against alternatives on a simulated
// queue and then on bench/overload (docs/governor.md has the figures):
//   - Gains scale with the share served (Klein et al.'s brownout controller
//     divides by an estimate of latency per unit of dimmer, which grows as
//     the dimmer falls): near the few tenths an overloaded service can
//     afford, a step is a few hundredths, not a tenth.
//   - The queue's growth is the excess load itself, seen a period before
//     the percentile shows it: while requests in flight grow and latency is
//     above target, served shrinks by the share the queue grew.
//   - Recovery waits until latency is well below target (recover_below) and
//     the queue no longer grows: the hold band between that and the target
//     is where it settles, instead of probing past capacity every period.
//     It remembers the share served when latency last went over target
//     (about where capacity ends) and creeps just below it, as TCP CUBIC
//     does below its last window: fast back to near capacity, slow across
//     it, fast again once past it (the load fell). On bench/overload this
//     took full recovery after a 2x -> 0.5x step from 17 periods to fewer
//     than 10 (README, "Overload").
#include "core/governor_control.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace degrade::internal {
namespace {

// Below this share the down gain stops shrinking, so that a governor that
// dimmed nearly everything still moves.
constexpr double kDownFloor = 0.1;
// Growth of requests in flight up to this many is noise.
constexpr int64_t kGrowthNoise = 4;
// Recovery creeps (at kPeakCreep of its speed) from kPeakZone of the share
// served when latency last went over target up to it, and forgets it
// kPeakForget above it.
constexpr double kPeakZone = 0.85;
constexpr double kPeakCreep = 0.25;
constexpr double kPeakForget = 0.05;

constexpr int kFirstShift = 10;  // bucket 0 is [0, 2^10) ns

}  // namespace

size_t LatencyHistogram::BucketOf(int64_t ns) noexcept {
  if (ns < (int64_t{1} << kFirstShift)) return 0;
  const auto v = static_cast<uint64_t>(ns);
  const int msb = 63 - std::countl_zero(v);
  const int octave = msb - kFirstShift;
  if (octave >= kOctaves) return kBuckets - 1;
  const auto sub = static_cast<size_t>((v >> (msb - 4)) & (kSubBuckets - 1));
  return 1 + static_cast<size_t>(octave) * kSubBuckets + sub;
}

double LatencyHistogram::BucketLower(size_t i) noexcept {
  if (i == 0) return 0.0;
  const size_t octave = (i - 1) / kSubBuckets;
  const size_t sub = (i - 1) % kSubBuckets;
  return std::ldexp(static_cast<double>(kSubBuckets + sub),
                    static_cast<int>(octave) + kFirstShift - 4);
}

double LatencyHistogram::BucketUpper(size_t i) noexcept {
  if (i == 0) return std::ldexp(1.0, kFirstShift);
  const size_t octave = (i - 1) / kSubBuckets;
  const size_t sub = (i - 1) % kSubBuckets;
  return std::ldexp(static_cast<double>(kSubBuckets + sub + 1),
                    static_cast<int>(octave) + kFirstShift - 4);
}

uint64_t LatencyHistogram::Drain(Counts& out) noexcept {
  uint64_t total = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    out[i] = counts_[i].exchange(0, std::memory_order_relaxed);
    total += out[i];
  }
  return total;
}

double QuantileOf(const LatencyHistogram::Counts& counts, uint64_t total, double q) noexcept {
  // The rank of the quantile among `total` ordered samples, 1-based.
  const double rank = std::max(1.0, std::ceil(q * static_cast<double>(total)));
  double below = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const auto c = static_cast<double>(counts[i]);
    if (c == 0) continue;
    if (below + c >= rank) {
      const double lo = LatencyHistogram::BucketLower(i);
      const double hi = LatencyHistogram::BucketUpper(i);
      return lo + (hi - lo) * ((rank - below) / c);
    }
    below += c;
  }
  return LatencyHistogram::BucketUpper(counts.size() - 1);
}

std::optional<double> StepController(const GovernorOptions& options, double period_ns,
                                     const PeriodFigures& figures, ControllerState& state) {
  const double target = absl::ToDoubleNanoseconds(options.target);
  const int64_t growth = figures.in_flight - state.prev_in_flight;
  state.prev_in_flight = figures.in_flight;
  std::optional<double> y = figures.measured_ns;
  if (!y.has_value()) {
    // Requests in flight and none finished for a whole period that is
    // longer than the target: the service is stuck, and each of them is
    // already later than that.
    if (figures.samples == 0 && figures.in_flight > 0 && period_ns >= target) {
      y = period_ns;
    } else {
      return std::nullopt;
    }
  }
  const double r = std::clamp((target - *y) / target, -1.0, 1.0);
  const double hold = 1.0 - options.recover_below;  // r above this recovers
  // A queue that grows by more than noise: a few requests and a quarter of
  // those in flight.
  const bool growing =
      growth > std::max<int64_t>(kGrowthNoise, figures.in_flight / 4);
  double s = state.served;
  if (r < -options.deadband) {
    if (!state.over) state.peak = s;  // where this overload began
    state.over = true;
    s += options.gain_down * std::max(s, kDownFloor) * r;
  } else {
    state.over = false;
    if (r > hold && !growing) {
      double step = options.gain_up * (r - hold);
      // Just below where latency last went over target, creep: that is
      // about where the service's capacity ends. Past it, the load has
      // fallen, and the memory goes.
      if (state.peak > 0 && s < state.peak) {
        const double zone = kPeakZone * state.peak;
        // Not past the zone's start in one step: from there, creep.
        step = s >= zone ? step * kPeakCreep : std::min(step, zone - s);
      }
      s += step;
      if (state.peak > 0 && s > state.peak + kPeakForget) state.peak = 0;
    }
  }
  // A growing queue is the excess load itself: cut in proportion while over
  // target, and also in the hold band once it grows past noise (latency
  // shows it a period or two later).
  if (figures.in_flight > 0 && ((r < 0 && growth > 0) || (r <= hold && growing))) {
    s *= std::max(0.5, 1.0 - static_cast<double>(growth) / static_cast<double>(figures.in_flight));
  }
  state.served = std::clamp(s, 0.0, 1.0);
  return y;
}

std::vector<double> TierAllows(double served, const std::vector<int>& tiers) {
  std::vector<double> allows;
  allows.reserve(tiers.size());
  const double brownout = (1.0 - std::clamp(served, 0.0, 1.0)) * static_cast<double>(tiers.size());
  for (size_t j = 0; j < tiers.size(); ++j) {
    const double a = std::clamp(1.0 - (brownout - static_cast<double>(j)), 0.0, 1.0);
    // Rounded down to a step; the epsilon keeps 0.35 from becoming 0.30
    // through 0.35 / 0.05 = 6.999....
    allows.push_back(std::floor(a / kAllowStep + 1e-9) * kAllowStep);
  }
  return allows;
}

}  // namespace degrade::internal
