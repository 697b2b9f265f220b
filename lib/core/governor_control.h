// The governor's parts that need no registry: the latency histogram the
// request path writes, the controller that turns a period's figures into a
// level, and the mapping of that level onto tiers (see degrade/governor.h
// for the contract). Pure and unit-tested with synthetic latencies. Not
// installed.
#ifndef DEGRADE_LIB_CORE_GOVERNOR_CONTROL_H_
#define DEGRADE_LIB_CORE_GOVERNOR_CONTROL_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "degrade/governor.h"

namespace degrade::internal {

// Latencies in nanoseconds, counted in log-linear buckets: everything under
// 1 us in one, then 16 buckets per power of two up to about 18 minutes (the
// last bucket takes anything longer). A bucket spans at most 1/16 of its
// lower bound, so a percentile read back is within about 6% of the truth.
// Record is one relaxed atomic increment; Drain takes the counts and zeroes
// them, atomically per bucket, so nothing recorded meanwhile is lost (it
// counts in the next drain).
class LatencyHistogram {
 public:
  static constexpr int kSubBuckets = 16;
  static constexpr int kOctaves = 30;  // 2^10 ns .. 2^40 ns
  static constexpr size_t kBuckets = 1 + kOctaves * kSubBuckets;
  using Counts = std::array<uint64_t, kBuckets>;

  static size_t BucketOf(int64_t ns) noexcept;
  // [lower, upper) of bucket `i`, in ns.
  static double BucketLower(size_t i) noexcept;
  static double BucketUpper(size_t i) noexcept;

  void Record(int64_t ns) noexcept {
    counts_[BucketOf(ns)].fetch_add(1, std::memory_order_relaxed);
  }
  // Moves the counts into `out` and returns their sum.
  uint64_t Drain(Counts& out) noexcept;

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
};

// The latency at quantile `q` (in (0, 1)) of `counts` (summing to `total`
// > 0), in ns, interpolated linearly within its bucket.
double QuantileOf(const LatencyHistogram::Counts& counts, uint64_t total, double q) noexcept;

// One period's figures, as the controller sees them.
struct PeriodFigures {
  std::optional<double> measured_ns;  // the percentile; nullopt: too few samples
  uint64_t samples = 0;
  int64_t in_flight = 0;              // at the period's end
};

// The controller's state between periods.
struct ControllerState {
  double served = 1.0;  // in [0, 1]
  int64_t prev_in_flight = 0;
  // The share served when latency last went over target (0: none known,
  // or passed since): recovery slows down just below it.
  double peak = 0.0;
  bool over = false;  // the last period was over target
};

// Moves `state.served` by one period (degrade/governor.h states the rules)
// and returns the latency it acted on (nullopt when it held for lack of
// samples). `period_ns` is the period's actual length.
std::optional<double> StepController(const GovernorOptions& options, double period_ns,
                                     const PeriodFigures& figures, ControllerState& state);

// The allow the governor imposes on each tier in use, for `served`:
// `tiers` are the distinct tiers in use the governor may touch, highest
// first; the result is parallel to it. Allows are multiples of kAllowStep
// (rounded down), so 1 means untouched and 0 off.
inline constexpr double kAllowStep = 0.05;
std::vector<double> TierAllows(double served, const std::vector<int>& tiers);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CORE_GOVERNOR_CONTROL_H_
