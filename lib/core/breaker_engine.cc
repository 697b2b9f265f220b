// The circuit breaker engine (core/breaker_engine.h; policy and states: degrade/breaker.h).
//
// Why the state machine looks the way it does:
//   - Thresholds compare with >=, as resilience4j does ("equal or greater"),
//     so failure_ratio 1 means "every call failed", a natural setting.
//   - min_calls keeps a handful of calls from tripping a quiet dependency
//     (resilience4j minimumNumberOfCalls, Sentinel minRequestAmount).
//   - In half-open one failed or slow probe reopens at once (Sentinel's rule,
//     for N probes instead of one): a ratio over five calls says little, and
//     staying open a while longer costs only the fallback, which is the whole
//     point of a non-essential dependency. All N probes must succeed.
//   - Probes that never report (a hung call) would leave half-open stuck, a
//     known resilience4j pitfall; after open_s without a verdict the missing
//     probes are let through again.
#include "core/breaker_engine.h"

#include <time.h>  // NOLINT(modernize-deprecated-headers): clock_gettime and clockid_t are POSIX, declared by <time.h>; <ctime> promises only ISO C

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/str_util.h"

namespace degrade {

std::string_view BreakerWindowName(BreakerPolicy::Window window) noexcept {
  switch (window) {
    case BreakerPolicy::Window::kCount:
      return "count";
    case BreakerPolicy::Window::kTime:
      return "time";
  }
  return "unknown";
}

std::string_view BreakerStateName(BreakerState state) noexcept {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

namespace internal {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kNanosPerMilli = 1'000'000;

int64_t ReadClock(clockid_t id) noexcept {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNanosPerSecond + ts.tv_nsec;
}

// Each thread adds its slow calls to one stripe, picked once per thread, so
// threads rarely share a cache line.
__thread uint32_t t_stripe DEGRADE_TLS_INITIAL_EXEC = 0;  // 0: not picked yet; else stripe + 1
std::atomic<uint32_t> g_next_stripe{0};

uint32_t StripeIndex(uint32_t stripes) noexcept {
  uint32_t s = t_stripe;
  if (ABSL_PREDICT_FALSE(s == 0)) {
    s = g_next_stripe.fetch_add(1, std::memory_order_relaxed) % stripes + 1;
    t_stripe = s;
  }
  return s - 1;
}

int64_t OpenNanos(const BreakerPolicy& p) {
  return static_cast<int64_t>(std::llround(p.open_s * static_cast<double>(kNanosPerSecond)));
}

// "60", "33.3", "0.5": percentages and seconds in messages.
std::string Short(double v) { return absl::StrFormat("%.3g", v); }

std::string WindowText(const BreakerPolicy& p) {
  return p.window == BreakerPolicy::Window::kTime
             ? absl::StrCat("in the last ", p.window_size, "s")
             : absl::StrCat("in the last ", p.window_size, " calls");
}

uint64_t Round(double v) { return v <= 0 ? 0 : static_cast<uint64_t>(std::llround(v)); }

}  // namespace

// ------------------------------------------------------------------ window

void BreakerWindow::Configure(BreakerPolicy::Window kind, uint32_t size) {
  kind_ = kind;
  size_ = std::max<uint32_t>(size, 1);
  bucket_ns_ = std::max<int64_t>(int64_t{size_} * kNanosPerSecond / kBuckets, 1);
  Clear();
}

void BreakerWindow::Clear() {
  if (kind_ == BreakerPolicy::Window::kTime) {
    buckets_.assign(kBuckets, Bucket{});
  } else {
    buckets_.clear();
  }
  ticks_.clear();
  ticks_total_ = {};
}

void BreakerWindow::Add(int64_t now_ns, const WindowCounts& delta) {
  if (delta.calls == 0 && delta.failures == 0 && delta.slow == 0) return;
  if (kind_ == BreakerPolicy::Window::kTime) {
    const int64_t index = now_ns / bucket_ns_;
    Bucket& b = buckets_[static_cast<size_t>(index % kBuckets)];
    if (b.index != index) {
      b.index = index;
      b.counts = {};
    }
    b.counts.calls += delta.calls;
    b.counts.failures += delta.failures;
    b.counts.slow += delta.slow;
    return;
  }
  ticks_.push_back(delta);
  ticks_total_.calls += delta.calls;
  ticks_total_.failures += delta.failures;
  ticks_total_.slow += delta.slow;
  // Keep the fewest newest ticks that hold at least size_ calls: at most
  // size_ entries, since each holds a call (or only late slow counts).
  while (ticks_.size() > 1 && ticks_total_.calls - ticks_.front().calls >= size_) {
    const WindowCounts& old = ticks_.front();
    ticks_total_.calls -= old.calls;
    ticks_total_.failures -= old.failures;
    ticks_total_.slow -= old.slow;
    ticks_.pop_front();
  }
}

BreakerWindow::Stats BreakerWindow::Sum(int64_t now_ns) const {
  Stats s;
  if (kind_ == BreakerPolicy::Window::kTime) {
    const int64_t index = now_ns / bucket_ns_;
    for (const Bucket& b : buckets_) {
      if (b.index > index - kBuckets && b.index <= index) {
        s.calls += static_cast<double>(b.counts.calls);
        s.failures += static_cast<double>(b.counts.failures);
        s.slow += static_cast<double>(b.counts.slow);
      }
    }
    return s;
  }
  s.calls = static_cast<double>(ticks_total_.calls);
  s.failures = static_cast<double>(ticks_total_.failures);
  s.slow = static_cast<double>(ticks_total_.slow);
  if (ticks_total_.calls > size_ && !ticks_.empty() && ticks_.front().calls > 0) {
    // The oldest tick straddles the edge: keep the share of it that is
    // inside, at that tick's own ratios (its calls' order is unknown).
    const WindowCounts& old = ticks_.front();
    const double outside = static_cast<double>(ticks_total_.calls - size_) /
                           static_cast<double>(old.calls);
    s.calls = size_;
    s.failures -= static_cast<double>(old.failures) * outside;
    s.slow -= static_cast<double>(old.slow) * outside;
  }
  return s;
}

// ------------------------------------------------------------------ breaker

Breaker::Breaker(const Clock* fake_clock) noexcept : fake_clock_(fake_clock) {}

int64_t Breaker::HotNowNs() const noexcept {
  if (ABSL_PREDICT_TRUE(fake_clock_ == nullptr)) return ReadClock(CLOCK_MONOTONIC_COARSE);
  return absl::ToUnixNanos(fake_clock_->Now());
}

int64_t Breaker::NowNs() const noexcept {
  if (fake_clock_ == nullptr) return ReadClock(CLOCK_MONOTONIC);
  return absl::ToUnixNanos(fake_clock_->Now());
}

int64_t Breaker::AdmitSlow() noexcept {
  const auto state = static_cast<BreakerState>(hot_state_.load(std::memory_order_acquire));
  bool report = false;
  if (ABSL_PREDICT_FALSE(state != BreakerState::kClosed)) {
    if (!overridden_.load(std::memory_order_relaxed)) {
      // Open: only reached by a call that loaded the word just before it
      // turned off. Half-open: one permit per probe.
      if (state == BreakerState::kOpen) return kRefuse;
      int32_t permits = probe_permits_.load(std::memory_order_relaxed);
      do {
        if (permits <= 0) return kRefuse;
      } while (!probe_permits_.compare_exchange_weak(permits, permits - 1,
                                                     std::memory_order_relaxed));
    }
    // A probe's outcome decides half-open (also under an admin override).
    report = state == BreakerState::kHalfOpen;
  }
  // Closed and untimed, the common case: Call reports nothing; the counters
  // it keeps anyway are the window's input.
  if (slow_ns_.load(std::memory_order_relaxed) == 0) return report ? kReportUntimed : kNoReport;
  return std::max<int64_t>(HotNowNs(), kReportUntimed + 1);
}

void Breaker::Record(bool ok, int64_t start) noexcept {
  bool slow = false;
  if (start > kReportUntimed) {
    const int64_t limit = slow_ns_.load(std::memory_order_relaxed);
    slow = limit > 0 && HotNowNs() - start > limit;
    if (slow) slow_stripes_[StripeIndex(kStripes)].slow.fetch_add(1, std::memory_order_relaxed);
  }
  if (ABSL_PREDICT_FALSE(hot_state_.load(std::memory_order_acquire) ==
                         static_cast<uint8_t>(BreakerState::kHalfOpen))) {
    (ok && !slow ? probes_ok_ : probes_failed_).fetch_add(1, std::memory_order_relaxed);
  }
}

uint64_t Breaker::SlowTotal() const noexcept {
  uint64_t total = 0;
  for (const Stripe& s : slow_stripes_) total += s.slow.load(std::memory_order_relaxed);
  return total;
}

void Breaker::PublishHotState() noexcept {
  hot_state_.store(static_cast<uint8_t>(state_), std::memory_order_release);
}

void Breaker::SetOverridden(bool overridden) noexcept {
  overridden_.store(overridden, std::memory_order_relaxed);
}

void Breaker::Attach(const BreakerPolicy& policy, Layer layer, const OutcomeTotals& totals,
                     int64_t now_ns) {
  (void)now_ns;
  attached_ = true;
  policy_ = policy;
  policy_layer_ = layer;
  state_ = BreakerState::kClosed;
  window_.Configure(policy.window, policy.window_size);
  seen_.calls = totals.by_outcome[kOutcomeOk] + totals.by_outcome[kOutcomeFailed] +
                totals.by_outcome[kOutcomeFaultError];
  seen_.failures = totals.by_outcome[kOutcomeFailed] + totals.by_outcome[kOutcomeFaultError];
  seen_.slow = SlowTotal();
  transitions_ = 0;
  times_opened_ = 0;
  last_transition_.reset();
  last_reason_.clear();
  slow_ns_.store(int64_t{policy.slow_call_ms} * kNanosPerMilli, std::memory_order_relaxed);
  PublishHotState();
}

void Breaker::Reconfigure(const BreakerPolicy& policy, Layer layer) {
  const bool same_window =
      policy.window == policy_.window && policy.window_size == policy_.window_size;
  policy_ = policy;
  policy_layer_ = layer;
  if (!same_window) window_.Configure(policy.window, policy.window_size);
  slow_ns_.store(int64_t{policy.slow_call_ms} * kNanosPerMilli, std::memory_order_relaxed);
}

void Breaker::Detach() {
  attached_ = false;
  state_ = BreakerState::kClosed;
  slow_ns_.store(0, std::memory_order_relaxed);
  overridden_.store(false, std::memory_order_relaxed);
  PublishHotState();
}

void Breaker::Open(int64_t now_ns, absl::Time wall, std::string reason) {
  state_ = BreakerState::kOpen;
  open_until_ns_ = now_ns + OpenNanos(policy_);
  ++times_opened_;
  ++transitions_;
  last_transition_ = wall;
  last_reason_ = reason;
  open_entry_ = SwitchValue{};
  open_entry_.state = State::kOff;
  open_entry_.actor = "breaker";
  open_entry_.reason = std::move(reason);
  window_.Clear();
  PublishHotState();
}

std::optional<Breaker::Transition> Breaker::Evaluate(const OutcomeTotals& totals, int64_t now_ns,
                                                     absl::Time wall, std::string_view name) {
  WindowCounts now;
  now.calls = totals.by_outcome[kOutcomeOk] + totals.by_outcome[kOutcomeFailed] +
              totals.by_outcome[kOutcomeFaultError];
  now.failures = totals.by_outcome[kOutcomeFailed] + totals.by_outcome[kOutcomeFaultError];
  now.slow = SlowTotal();
  // Totals only grow while the switch lives; guard anyway.
  auto since = [](uint64_t a, uint64_t b) { return a >= b ? a - b : 0; };
  const WindowCounts delta{since(now.calls, seen_.calls), since(now.failures, seen_.failures),
                           since(now.slow, seen_.slow)};
  seen_ = now;
  const std::string open_for = Short(policy_.open_s);

  switch (state_) {
    case BreakerState::kClosed: {
      window_.Add(now_ns, delta);
      const BreakerWindow::Stats s = window_.Sum(now_ns);
      const double min_calls = policy_.window == BreakerPolicy::Window::kCount
                                   ? std::min(policy_.min_calls, policy_.window_size)
                                   : policy_.min_calls;
      if (s.calls <= 0 || s.calls < min_calls) return std::nullopt;
      const double failure_ratio = s.failures / s.calls;
      const double slow_ratio = s.slow / s.calls;
      const bool failing = failure_ratio >= policy_.failure_ratio;
      const bool slow = policy_.slow_call_ms > 0 && slow_ratio >= policy_.slow_call_ratio;
      if (!failing && !slow) return std::nullopt;
      std::string reason;
      std::string threshold;
      if (failing) {
        reason = absl::StrCat("breaker open: ", Round(s.failures), " of ", Round(s.calls),
                              " calls failed (", Short(failure_ratio * 100), "%) ",
                              WindowText(policy_));
        threshold = absl::StrCat("failure_ratio ", Short(policy_.failure_ratio));
      } else {
        reason = absl::StrCat("breaker open: ", Round(s.slow), " of ", Round(s.calls),
                              " calls slower than ", policy_.slow_call_ms, "ms (",
                              Short(slow_ratio * 100), "%) ", WindowText(policy_));
        threshold = absl::StrCat("slow_call_ratio ", Short(policy_.slow_call_ratio));
      }
      std::string message = absl::StrCat("breaker ", ToAbsl(name), ": closed -> open: ",
                                         reason.substr(sizeof("breaker open: ") - 1),
                                         " (threshold ", threshold, ", min_calls ",
                                         policy_.min_calls, "); probing again in ", open_for,
                                         "s");
      Open(now_ns, wall, reason);
      return Transition{BreakerState::kClosed, BreakerState::kOpen, std::move(reason),
                        std::move(message)};
    }

    case BreakerState::kOpen: {
      if (now_ns < open_until_ns_) return std::nullopt;
      probes_ok_.store(0, std::memory_order_relaxed);
      probes_failed_.store(0, std::memory_order_relaxed);
      probe_permits_.store(static_cast<int32_t>(policy_.half_open_calls),
                           std::memory_order_relaxed);
      half_open_since_ns_ = now_ns;
      state_ = BreakerState::kHalfOpen;
      PublishHotState();
      ++transitions_;
      last_transition_ = wall;
      last_reason_ = absl::StrCat("breaker half-open after ", open_for, "s open: letting ",
                                  policy_.half_open_calls, " probe calls through");
      return Transition{BreakerState::kOpen, BreakerState::kHalfOpen, last_reason_,
                        absl::StrCat("breaker ", ToAbsl(name), ": open -> half_open after ", open_for,
                                     "s: letting ", policy_.half_open_calls,
                                     " probe calls through")};
    }

    case BreakerState::kHalfOpen: {
      const uint32_t ok = probes_ok_.load(std::memory_order_relaxed);
      const uint32_t failed = probes_failed_.load(std::memory_order_relaxed);
      if (failed > 0) {
        std::string reason =
            absl::StrCat("breaker open again: ", failed, " of ", ok + failed,
                         " probe calls failed or were slow in half-open");
        std::string message =
            absl::StrCat("breaker ", ToAbsl(name), ": half_open -> open: ", failed, " of ", ok + failed,
                         " probe calls failed or were slow (all ", policy_.half_open_calls,
                         " must succeed to close); probing again in ", open_for, "s");
        Open(now_ns, wall, reason);
        return Transition{BreakerState::kHalfOpen, BreakerState::kOpen, std::move(reason),
                          std::move(message)};
      }
      if (ok >= policy_.half_open_calls) {
        state_ = BreakerState::kClosed;
        window_.Clear();
        PublishHotState();
        ++transitions_;
        last_transition_ = wall;
        last_reason_ = absl::StrCat("breaker closed: ", ok, " of ", ok,
                                    " probe calls succeeded");
        return Transition{BreakerState::kHalfOpen, BreakerState::kClosed, last_reason_,
                          absl::StrCat("breaker ", ToAbsl(name), ": half_open -> closed: ", ok,
                                       " probe calls succeeded; a new window starts")};
      }
      if (now_ns - half_open_since_ns_ >= OpenNanos(policy_)) {
        // Probes that never reported: let as many through again.
        const int64_t missing = int64_t{policy_.half_open_calls} - ok;
        probe_permits_.store(static_cast<int32_t>(std::max<int64_t>(missing, 0)),
                             std::memory_order_relaxed);
        half_open_since_ns_ = now_ns;
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

BreakerInfo Breaker::Info(absl::Time wall, int64_t now_ns) const {
  BreakerInfo info;
  info.policy = policy_;
  info.policy_layer = policy_layer_;
  info.state = state_;
  if (state_ == BreakerState::kClosed) {
    const BreakerWindow::Stats s = window_.Sum(now_ns);
    info.window_calls = Round(s.calls);
    info.window_failures = Round(s.failures);
    info.window_slow_calls = Round(s.slow);
    if (s.calls > 0) {
      info.window_failure_ratio = s.failures / s.calls;
      info.window_slow_ratio = s.slow / s.calls;
    }
  }
  if (state_ == BreakerState::kHalfOpen) {
    const int32_t left = probe_permits_.load(std::memory_order_relaxed);
    info.probes_ok = probes_ok_.load(std::memory_order_relaxed);
    info.probes_failed = probes_failed_.load(std::memory_order_relaxed);
    info.probes_admitted = std::max<uint32_t>(
        policy_.half_open_calls - static_cast<uint32_t>(std::max(left, 0)),
        info.probes_ok + info.probes_failed);
  }
  if (state_ == BreakerState::kOpen) {
    info.next_probe_at = wall + absl::Nanoseconds(std::max<int64_t>(open_until_ns_ - now_ns, 0));
  }
  info.transitions = transitions_;
  info.times_opened = times_opened_;
  info.last_transition = last_transition_;
  info.last_reason = last_reason_;
  return info;
}

}  // namespace internal
}  // namespace degrade
