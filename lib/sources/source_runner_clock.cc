// Time for the source runner: the real and the fake monotonic clock, and
// the backoff and jitter arithmetic. See source_runner.h.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "absl/time/time.h"
#include "sources/source_runner.h"

namespace degrade::internal {
namespace {

class RealMonotonicClock : public MonotonicClock {
 public:
  absl::Time Now() const override {
    return absl::UnixEpoch() + absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
  }
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 absl::Time until, const std::function<bool()>& done) override {
    while (!done()) {
      if (until == absl::InfiniteFuture()) {
        cv.wait(lock);
        continue;
      }
      const absl::Duration left = until - Now();
      if (left <= absl::ZeroDuration()) return done();
      // Chunks: absl::Duration may exceed what wait_for can represent.
      cv.wait_for(lock, absl::ToChronoNanoseconds(std::min(left, absl::Hours(1))));
    }
    return true;
  }
};

}  // namespace

MonotonicClock& MonotonicClock::Real() {
  static auto* clock = new RealMonotonicClock;
  return *clock;
}

namespace testing {

FakeMonotonicClock::FakeMonotonicClock() : now_(absl::UnixEpoch() + absl::Hours(1)) {}

absl::Time FakeMonotonicClock::Now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

bool FakeMonotonicClock::WaitUntil(std::unique_lock<std::mutex>& lock,
                                   std::condition_variable& cv, absl::Time until,
                                   const std::function<bool()>& done) {
  int64_t ticket = 0;
  {
    std::lock_guard<std::mutex> g(mu_);
    ticket = next_ticket_++;
    waiters_[ticket] = Waiter{lock.mutex(), &cv};
  }
  cv.wait(lock, [&] { return done() || Now() >= until; });
  std::lock_guard<std::mutex> g(mu_);
  waiters_.erase(ticket);
  return done();
}

void FakeMonotonicClock::Advance(absl::Duration d) {
  std::vector<Waiter> wake;
  {
    std::lock_guard<std::mutex> g(mu_);
    now_ += d;
    for (const auto& [ticket, w] : waiters_) wake.push_back(w);
  }
  // Under each waiter's own mutex: it is either before its predicate check
  // (and will see the new time) or blocked (and gets the notification).
  for (const Waiter& w : wake) {
    std::lock_guard<std::mutex> g(*w.mu);
    w.cv->notify_all();
  }
}

int FakeMonotonicClock::waiters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(waiters_.size());
}

}  // namespace testing

absl::Duration BackoffDelay(absl::Duration base, absl::Duration cap, int64_t failures) {
  absl::Duration d = std::min(base, cap);
  for (int64_t i = 1; i < failures && d < cap; ++i) d *= 2;
  return std::min(d, cap);
}

absl::Duration Jittered(absl::Duration d, double spread, double u) {
  return d * (1.0 + spread * (2.0 * u - 1.0));
}

}  // namespace degrade::internal
