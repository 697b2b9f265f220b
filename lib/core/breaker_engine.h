// The circuit breaker engine behind the breaker layer (see degrade/breaker.h for
// the policy and states). Not installed.
//
// Two sides, two sets of rules:
//   - the hot side (Admit, Record) runs on the threads calling degrade::Call:
//     atomics only, no lock, no allocation, no clock read unless the policy
//     times calls;
//   - the evaluator side (everything else) runs with the registry's mutex
//     held, on the registry's breaker thread (ProcessBreakers) or on the
//     thread applying a layer that changes the policy.
// Calls and failures are not counted here: Call already counts every
// outcome in per-thread counters (internal/counters.h), and the evaluator
// reads their totals once per tick. Only what Call does not count lives
// here: slow calls and half-open probes.
#ifndef DEGRADE_LIB_CORE_BREAKER_ENGINE_H_
#define DEGRADE_LIB_CORE_BREAKER_ENGINE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/time/time.h"
#include "degrade/breaker.h"
#include "degrade/clock.h"
#include "degrade/internal/counters.h"
#include "degrade/state.h"

namespace degrade::internal {

// Outcome counts of a stretch of calls.
struct WindowCounts {
  uint64_t calls = 0;
  uint64_t failures = 0;
  uint64_t slow = 0;
};

// The closed state's sliding window, fed once per evaluator tick with the
// counts that arrived since the last tick (so outcomes are placed to within
// one tick). Evaluator side only.
class BreakerWindow {
 public:
  void Configure(BreakerPolicy::Window kind, uint32_t size);
  void Clear();
  void Add(int64_t now_ns, const WindowCounts& delta);
  // The window as of `now_ns`. Counts are fractional only for a count
  // window whose oldest tick straddles its edge (see breaker_engine.cc).
  struct Stats {
    double calls = 0;
    double failures = 0;
    double slow = 0;
  };
  Stats Sum(int64_t now_ns) const;

 private:
  // A time window is kBuckets buckets of window_size / kBuckets each: it
  // covers between (1 - 1/kBuckets) and 1 times window_size.
  static constexpr int kBuckets = 100;
  struct Bucket {
    int64_t index = -1;  // now_ns / bucket_ns_ when filled
    WindowCounts counts;
  };

  BreakerPolicy::Window kind_ = BreakerPolicy::Window::kTime;
  uint32_t size_ = 0;
  int64_t bucket_ns_ = 1;
  std::vector<Bucket> buckets_;     // time window
  std::deque<WindowCounts> ticks_;  // count window: non-empty ticks, oldest first
  WindowCounts ticks_total_;
};

class Breaker {
 public:
  // What Admit returns besides a start stamp (> kReportUntimed).
  static constexpr int64_t kRefuse = -1;        // skip: fallback, counted as skipped
  static constexpr int64_t kNoReport = 0;       // run; Record is not called
  static constexpr int64_t kReportUntimed = 1;  // run; Record, no duration

  // `fake_clock` null: real time (CLOCK_MONOTONIC for windows and the open
  // period, CLOCK_MONOTONIC_COARSE to time calls). Otherwise every instant
  // comes from that clock, so tests drive windows, open periods and slow
  // calls (a primary that advances the clock) deterministically.
  explicit Breaker(const Clock* fake_clock) noexcept;

  Breaker(const Breaker&) = delete;
  Breaker& operator=(const Breaker&) = delete;

  // --------------------------------------------------------------- hot side
  // Both run on the thread calling degrade::Call (a switch whose word
  // carries kFlagObserve), and never allocate, lock or block.
  //
  // Before the primary (and before a fault is rolled). Returns one of the
  // constants above, or a start stamp for timing the call; Call passes any
  // value but kRefuse and kNoReport back to Record. Inline for the common
  // case, closed and untimed: two loads.
  int64_t Admit() noexcept {
    if (ABSL_PREDICT_TRUE(hot_state_.load(std::memory_order_acquire) ==
                          static_cast<uint8_t>(BreakerState::kClosed)) &&
        slow_ns_.load(std::memory_order_relaxed) == 0) {
      return kNoReport;
    }
    return AdmitSlow();
  }
  // After the primary returned or threw, or after an injected error fault.
  void Record(bool ok, int64_t start) noexcept;

  // ---------------------------------------------------------- evaluator side
  // The breaker's "now" (nanoseconds of the clock described above).
  int64_t NowNs() const noexcept;

  bool attached() const noexcept { return attached_; }
  const BreakerPolicy& policy() const noexcept { return policy_; }
  // Starts watching with `policy` (closed, empty window); `totals` are the
  // switch's counters now, the baseline for the first tick.
  void Attach(const BreakerPolicy& policy, Layer layer, const OutcomeTotals& totals,
              int64_t now_ns);
  // A new policy while attached: the state is kept; the window is kept when
  // its kind and size did not change, else restarted.
  void Reconfigure(const BreakerPolicy& policy, Layer layer);
  // Stops watching: closed, nothing held in the breaker layer.
  void Detach();

  // True while open: the breaker layer then holds open_entry() ("off") for
  // the switch.
  bool holds_off() const noexcept { return state_ == BreakerState::kOpen; }
  const SwitchValue& open_entry() const noexcept { return open_entry_; }

  // Whether a layer above the breaker decides the state and lets calls
  // through (an admin "on"): then open and half-open refuse nothing.
  void SetOverridden(bool overridden) noexcept;

  // One evaluation: takes the counters' totals, ages the window, and moves
  // the state machine. Returns the transition made, if any.
  struct Transition {
    BreakerState from;
    BreakerState to;
    std::string reason;   // for the breaker layer entry and change events
    std::string message;  // the log line (without the switch name)
  };
  std::optional<Transition> Evaluate(const OutcomeTotals& totals, int64_t now_ns, absl::Time wall,
                                     std::string_view name);

  // For listings. `wall` and `now_ns` are the same instant on both clocks.
  BreakerInfo Info(absl::Time wall, int64_t now_ns) const;

 private:
  static constexpr int kStripes = 8;
  struct alignas(64) Stripe {
    std::atomic<uint64_t> slow{0};
  };

  int64_t AdmitSlow() noexcept;
  int64_t HotNowNs() const noexcept;
  uint64_t SlowTotal() const noexcept;
  void PublishHotState() noexcept;
  void Open(int64_t now_ns, absl::Time wall, std::string reason);

  const Clock* const fake_clock_;

  // Hot side.
  std::atomic<uint8_t> hot_state_{static_cast<uint8_t>(BreakerState::kClosed)};
  std::atomic<bool> overridden_{false};
  std::atomic<int64_t> slow_ns_{0};  // 0: calls are not timed
  std::atomic<int32_t> probe_permits_{0};
  std::atomic<uint32_t> probes_ok_{0};
  std::atomic<uint32_t> probes_failed_{0};
  std::array<Stripe, kStripes> slow_stripes_;

  // Evaluator side (registry mutex).
  bool attached_ = false;
  BreakerPolicy policy_;
  Layer policy_layer_ = Layer::kDefault;
  BreakerState state_ = BreakerState::kClosed;
  BreakerWindow window_;
  BreakerWindow::Stats last_stats_;
  WindowCounts seen_;             // counter totals at the last evaluation
  int64_t open_until_ns_ = 0;     // open: when to go half-open
  int64_t half_open_since_ns_ = 0;
  uint64_t transitions_ = 0;
  uint64_t times_opened_ = 0;
  std::optional<absl::Time> last_transition_;
  std::string last_reason_;
  SwitchValue open_entry_;  // the breaker layer's "off" while open
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CORE_BREAKER_ENGINE_H_
