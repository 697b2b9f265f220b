// The source runner. See source_runner.h for the behaviour.
//
// Why a second (supervisor) thread per runner rather than a per-read
// timeout: cpp-httplib's timeouts bound each read, so a peer that sends one
// byte per second never trips them, and start-up and the poll loop stalled
// for as long as the peer kept dripping. Only another thread can end a
// blocked call (Client::stop(), EtcdClient::Stop()); one supervisor per
// runner, joined with it, does that for every operation the strategy arms,
// flips health at the deadline itself (not when the call finally returns),
// and also writes the cache, so a slow disk never delays the next poll.
//
// Why a cancel is repeated every few milliseconds until the operation ends:
// it may come between the operation registering itself and opening its
// socket, when there is nothing yet to shut down.
//
// Why the constructor does not wait for the first round to finish: the
// round's operations are bounded, but a cancel that cannot take (a connect
// in progress ignores Client::stop) would hold start-up. The constructor
// waits on its own budget, then applies the cache if the layer is still
// empty; the loop keeps going and a later answer replaces the cache.
#include "sources/source_runner.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/layer_delta.h"
#include "core/str_util.h"
#include "sources/lkg_cache.h"

namespace degrade::internal {
namespace {

constexpr auto kCancelRetry = std::chrono::milliseconds(5);

std::string ToStd(absl::string_view s) { return std::string(s.data(), s.size()); }

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

PollResult PollResult::Failed(std::string source, std::string error) {
  PollResult r;
  r.kind = Kind::kFailed;
  r.source = std::move(source);
  r.error = std::move(error);
  return r;
}

PollResult PollResult::NotModified(std::string source, std::string target) {
  PollResult r;
  r.kind = Kind::kNotModified;
  r.source = std::move(source);
  r.target = std::move(target);
  return r;
}

PollResult PollResult::Fresh(std::string source, Snapshot snapshot, std::string target) {
  PollResult r;
  r.kind = Kind::kSnapshot;
  r.source = std::move(source);
  r.target = std::move(target);
  r.snapshot = std::move(snapshot);
  return r;
}

// ---------------------------------------------------------------------------

class SourceRunner::Impl final : public RunContext, public WatchSink {
 public:
  Impl(SourceRunner* owner, Registry& registry, SourceRunner::Config config)
      : owner_(owner),
        registry_(registry),
        config_(std::move(config)),
        clock_(config_.clock != nullptr ? *config_.clock : MonotonicClock::Real()),
        cache_(registry, config_.cache_file) {
    uint64_t seed = config_.seed;
    if (seed == 0) {
      // Not std::random_device: it may throw. Jitter needs spread, not secrecy.
      seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
             static_cast<uint64_t>(reinterpret_cast<uintptr_t>(this));
    }
    rng_.seed(seed);
    health_.name = config_.name;
    health_.target = config_.target;
    health_.healthy = false;
    health_.last_error = "starting: not confirmed yet";
    last_confirmed_ = clock_.Now();
    registry_.ReportSourceHealth(health_);
  }

  void Start() {
    if (!config_.start_threads) return;
    const absl::Time start = clock_.Now();
    supervisor_ = std::thread([this] { SupervisorLoop(); });
    loop_ = std::thread([this] { Loop(); });
    {
      std::unique_lock<std::mutex> lock(mu_);
      clock_.WaitUntil(lock, cv_, start + config_.startup_budget,
                       [this] { return first_done_ || stop_; });
      if (!first_done_) {
        MarkUnhealthyLocked(absl::StrCat("starting: no answer within the start-up budget of ",
                                         absl::FormatDuration(config_.startup_budget),
                                         "; still trying in the background"),
                            /*log=*/true);
      }
    }
    // What the first round applied is in the cache when start-up returns (a
    // crash right after start finds it there).
    WriteDueCache(/*force=*/true);
    {
      std::lock_guard<std::mutex> apply(apply_mu_);
      if (!layer_filled_ && !config_.cache_file.empty()) {
        std::lock_guard<std::mutex> cache(cache_mu_);
        layer_filled_ = cache_.ApplyAtStart(config_.startup_failure_text);
      }
    }
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    sup_cv_.notify_all();
    if (loop_.joinable()) loop_.join();
    if (supervisor_.joinable()) supervisor_.join();
    WriteDueCache(/*force=*/true);
  }

  // ----- RunContext

  absl::Time MonotonicNow() const override { return clock_.Now(); }
  Registry& registry() const override { return registry_; }

  std::unique_ptr<Operation> Arm(std::string what, absl::Duration budget,
                                 std::function<void()> cancel) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t id = next_op_++;
    Op& op = ops_[id];
    op.what = std::move(what);
    op.budget = budget;
    op.deadline = clock_.Now() + budget;
    op.cancel = std::move(cancel);
    if (stop_) op.stopping = true;
    sup_wake_ = true;
    sup_cv_.notify_all();
    return std::unique_ptr<Operation>(new Operation(owner_, id, op.deadline));
  }

  bool stopping() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  }

  void LogErrorOnce(const std::string& key, const std::string& message) override {
    std::lock_guard<std::mutex> lock(log_mu_);
    std::string& logged = logged_[key];
    if (logged == message) return;
    logged = message;
    registry_.Log(LogLevel::kError, message);
  }

  void ClearError(const std::string& key, const std::string& recovered) override {
    std::lock_guard<std::mutex> lock(log_mu_);
    auto it = logged_.find(key);
    if (it == logged_.end()) return;
    logged_.erase(it);
    if (!recovered.empty()) registry_.Log(LogLevel::kInfo, recovered);
  }

  // ----- WatchSink

  absl::Status Publish(Snapshot snapshot, std::string_view why) override {
    const size_t switches = snapshot.switches.size(), groups = snapshot.groups.size();
    absl::Status s;
    {
      std::lock_guard<std::mutex> apply(apply_mu_);
      s = internal::ApplyParsedSnapshot(registry_, config_.layer, std::move(snapshot),
                                        config_.source);
      if (s.ok()) layer_filled_ = true;
    }
    if (!s.ok()) return s;
    registry_.Log(LogLevel::kInfo, absl::StrCat(config_.source, ": applied ", ToAbsl(why), " (",
                                                switches, " switches, ", groups, " groups)"));
    AppliedChange();
    return s;
  }

  absl::Status Apply(std::string_view why,
                     const std::function<absl::Status(Registry&, Layer, const std::string&)>&
                         apply) override {
    absl::Status s;
    {
      std::lock_guard<std::mutex> guard(apply_mu_);
      s = apply(registry_, config_.layer, config_.source);
      if (s.ok()) layer_filled_ = true;
    }
    if (!s.ok()) return s;
    registry_.Log(LogLevel::kInfo, absl::StrCat(config_.source, ": applied ", ToAbsl(why)));
    AppliedChange();
    return s;
  }

  void Confirmed() override {
    std::lock_guard<std::mutex> lock(mu_);
    ConfirmLocked();
    if (!first_done_) {  // a view confirmed at start: start-up is over
      first_done_ = true;
      cv_.notify_all();
    }
    if (expect_within_ > absl::ZeroDuration()) {
      expect_deadline_ = clock_.Now() + expect_within_;
      sup_wake_ = true;
      sup_cv_.notify_all();
    }
    ReportLocked();
  }

  void Established() override {
    std::lock_guard<std::mutex> lock(mu_);
    established_ = true;
    failures_ = 0;
    health_.consecutive_failures = 0;
  }

  void SetProblems(std::string problems) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (problems == problems_) return;
    problems_ = std::move(problems);
    if (!problems_.empty()) health_.last_error_time = registry_.clock().Now();
    ReportLocked();
  }

  void ExpectConfirmationWithin(absl::Duration within, std::function<void()> cancel) override {
    std::lock_guard<std::mutex> lock(mu_);
    expect_within_ = within;
    liveness_cancel_ = std::move(cancel);
    expect_deadline_ =
        within > absl::ZeroDuration() ? clock_.Now() + within : absl::InfiniteFuture();
    sup_wake_ = true;
    sup_cv_.notify_all();
  }

  // ----- loop

  absl::Duration RunOnce() {
    if (poll_ != nullptr) return PollOnce();
    return WatchOnce();
  }

  void Loop() {
    for (;;) {
      const absl::Duration wait = RunOnce();
      std::unique_lock<std::mutex> lock(mu_);
      if (!stop_) clock_.WaitUntil(lock, cv_, clock_.Now() + wait, [this] { return stop_; });
      if (stop_) {
        loop_done_ = true;
        sup_cv_.notify_all();
        return;
      }
    }
  }

  // ----- supervisor

  void SupervisorLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      const absl::Time next = SuperviseLocked(lock);
      if (stop_) break;
      if (AnyCancelPendingLocked()) {
        // Repeat cancels on real time: see the file comment.
        sup_cv_.wait_for(lock, kCancelRetry);
      } else {
        clock_.WaitUntil(lock, sup_cv_, next, [this] { return stop_ || sup_wake_; });
      }
      sup_wake_ = false;
    }
    // Stopping: cancel whatever is in flight until the loop has left.
    while (!loop_done_) {
      for (auto& [id, op] : ops_) op.stopping = true;
      CancelDueLocked(lock);
      if (liveness_cancel_) {
        std::function<void()> cancel = liveness_cancel_;
        lock.unlock();
        cancel();
        lock.lock();
      }
      sup_cv_.wait_for(lock, kCancelRetry, [this] { return loop_done_; });
    }
  }

  void Supervise() {
    std::unique_lock<std::mutex> lock(mu_);
    SuperviseLocked(lock);
  }

  // Returns when the supervisor next has something to do.
  absl::Time SuperviseLocked(std::unique_lock<std::mutex>& lock) {
    const absl::Time now = clock_.Now();
    absl::Time next = absl::InfiniteFuture();
    for (auto& [id, op] : ops_) {
      if (op.expired) continue;
      if (now >= op.deadline) {
        op.expired = true;
        // The strategy's failure (once the call returns) is what is logged.
        MarkUnhealthyLocked(absl::StrCat(op.what, ": no complete answer within ",
                                         absl::FormatDuration(op.budget),
                                         " (stalled; abandoned)"),
                            /*log=*/false);
      } else {
        next = std::min(next, op.deadline);
      }
    }
    if (expect_deadline_ != absl::InfiniteFuture()) {
      if (now >= expect_deadline_) {
        expect_deadline_ = absl::InfiniteFuture();
        MarkUnhealthyLocked(absl::StrCat(config_.source,
                                         ": stalled: no event or progress within ",
                                         absl::FormatDuration(expect_within_),
                                         "; reconnecting"),
                            /*log=*/true);
        if (liveness_cancel_) {
          std::function<void()> cancel = liveness_cancel_;
          lock.unlock();
          cancel();
          lock.lock();
        }
      } else {
        next = std::min(next, expect_deadline_);
      }
    }
    if (config_.stale_after > absl::ZeroDuration() && health_.healthy) {
      const absl::Time stale = last_confirmed_ + config_.stale_after;
      if (now >= stale) {
        MarkUnhealthyLocked(absl::StrCat("no confirmed check for ",
                                         absl::FormatDuration(config_.stale_after),
                                         " (the source is stuck)"),
                            /*log=*/true);
      } else {
        next = std::min(next, stale);
      }
    }
    CancelDueLocked(lock);
    if (cache_pending_ || cache_dirty_) {
      const absl::Time due = last_cache_write_ + config_.cache_min_interval;
      if (now >= due || !cache_written_once_) {
        lock.unlock();
        WriteDueCache(/*force=*/false);
        lock.lock();
      } else {
        next = std::min(next, due);
      }
    }
    return next;
  }

  // An operation without a cancel (a stat(2) cannot be interrupted) is only
  // reported; it is not retried every few milliseconds.
  bool AnyCancelPendingLocked() const {
    for (const auto& [id, op] : ops_) {
      if ((op.expired || op.stopping) && op.cancel) return true;
    }
    return false;
  }

  // Calls the cancel of every expired or stopping operation, with mu_
  // released; the operation's destructor waits for a cancel in progress.
  void CancelDueLocked(std::unique_lock<std::mutex>& lock) {
    std::vector<int64_t> due;
    for (auto& [id, op] : ops_) {
      if ((op.expired || op.stopping) && op.cancel) due.push_back(id);
    }
    for (int64_t id : due) {
      auto it = ops_.find(id);
      if (it == ops_.end()) continue;
      it->second.cancelling = true;
      std::function<void()> cancel = it->second.cancel;
      lock.unlock();
      cancel();
      lock.lock();
      it = ops_.find(id);
      if (it != ops_.end()) it->second.cancelling = false;
      cv_.notify_all();
    }
  }

  void Disarm(int64_t id) {
    std::unique_lock<std::mutex> lock(mu_);
    // Waiting for a cancel in progress: after this returns the cancel
    // (which may touch the operation's client) is never running.
    cv_.wait(lock, [&] {
      auto it = ops_.find(id);
      return it == ops_.end() || !it->second.cancelling;
    });
    ops_.erase(id);
    sup_wake_ = true;
    sup_cv_.notify_all();
  }

  bool OpExpired(int64_t id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ops_.find(id);
    return it != ops_.end() && it->second.expired;
  }
  bool OpStopping(int64_t id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ops_.find(id);
    return stop_ || (it != ops_.end() && it->second.stopping);
  }

  SourceHealth Health() const {
    std::lock_guard<std::mutex> lock(mu_);
    return health_;
  }

  std::unique_ptr<PollStrategy> poll_;
  std::unique_ptr<WatchStrategy> watch_;

 private:
  struct Op {
    std::string what;
    absl::Duration budget;
    absl::Time deadline;
    std::function<void()> cancel;
    bool expired = false;
    bool stopping = false;
    bool cancelling = false;
  };

  double Uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

  absl::Duration IntervalWait() {
    return Jittered(config_.interval, config_.interval_jitter, Uniform());
  }
  absl::Duration BackoffWait(int64_t failures) {
    return Jittered(BackoffDelay(config_.backoff_base, config_.backoff_cap, failures),
                    config_.backoff_jitter, Uniform());
  }

  void FirstDone() {
    std::lock_guard<std::mutex> lock(mu_);
    if (first_done_) return;
    first_done_ = true;
    cv_.notify_all();
  }

  void ConfirmLocked() {
    last_confirmed_ = clock_.Now();
    health_.last_success = registry_.clock().Now();
    health_.consecutive_failures = 0;
    connection_error_.clear();
    if (config_.stale_after > absl::ZeroDuration()) {
      // The staleness deadline moved (or starts, if the source was unhealthy).
      sup_wake_ = true;
      sup_cv_.notify_all();
    }
  }

  // Reports health_ with healthy derived from the current state.
  void ReportLocked() {
    std::string problem = connection_error_;
    if (!problems_.empty()) problem = problem.empty() ? problems_ : problem + "; " + problems_;
    health_.healthy = problem.empty() && health_.last_success.has_value();
    if (!problem.empty()) health_.last_error = problem;
    registry_.ReportSourceHealth(health_);
  }

  void MarkUnhealthyLocked(const std::string& reason, bool log) {
    connection_error_ = reason;
    health_.last_error_time = registry_.clock().Now();
    ReportLocked();
    if (!log) return;
    registry_.Log(LogLevel::kError,
                  absl::StrCat(config_.name, ": ", reason, "; the ",
                               config_.layer == Layer::kFile ? "file" : "remote",
                               " layer keeps its last good state"));
  }

  void AppliedChange() {
    std::lock_guard<std::mutex> lock(mu_);
    ++health_.applied;
    ConfirmLocked();
    if (expect_within_ > absl::ZeroDuration()) expect_deadline_ = clock_.Now() + expect_within_;
    if (!config_.cache_file.empty()) cache_dirty_ = true;
    ReportLocked();
    sup_wake_ = true;
    sup_cv_.notify_all();
    if (!first_done_) {
      first_done_ = true;
      cv_.notify_all();
    }
  }

  absl::Duration PollOnce() {
    PollResult r;
    try {
      r = poll_->Poll(*this);
    } catch (const std::exception& e) {
      r = PollResult::Failed(config_.target, absl::StrCat(config_.target, ": internal error: ",
                                                          e.what()));
    } catch (...) {
      r = PollResult::Failed(config_.target, absl::StrCat(config_.target, ": internal error"));
    }
    if (stopping()) return absl::ZeroDuration();
    const absl::Time wall = registry_.clock().Now();
    if (r.kind == PollResult::Kind::kSnapshot) {
      Snapshot copy = *r.snapshot;
      const size_t switches = copy.switches.size(), groups = copy.groups.size();
      absl::Status s;
      {
        std::lock_guard<std::mutex> apply(apply_mu_);
        s = internal::ApplyParsedSnapshot(registry_, config_.layer, *std::move(r.snapshot),
                                          r.source);
        if (s.ok()) layer_filled_ = true;
      }
      poll_->Accepted(s.ok());
      if (!s.ok()) {
        r = PollResult::Failed(r.source, ToStd(s.message()));
      } else {
        registry_.Log(LogLevel::kInfo, absl::StrCat(r.source, ": applied (", switches,
                                                    " switches, ", groups, " groups)"));
        std::lock_guard<std::mutex> lock(mu_);
        ++health_.applied;
        if (!config_.cache_file.empty()) {
          cache_pending_ = std::move(copy);
          sup_wake_ = true;
          sup_cv_.notify_all();
        }
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (r.kind == PollResult::Kind::kFailed) {
      ++failures_;
      health_.target = config_.target;
      health_.consecutive_failures = static_cast<uint64_t>(failures_);
      health_.last_error_time = wall;
      connection_error_ = r.error;
      ReportLocked();
      const int64_t failures = failures_;
      lock.unlock();
      if (r.log_error) {
        LogErrorOnce(config_.name,
                     absl::StrCat(r.error, "; the ",
                                  config_.layer == Layer::kFile ? "file" : "remote",
                                  " layer keeps its last good state"));
      }
      FirstDone();
      return BackoffWait(failures);
    }
    failures_ = 0;
    health_.target = r.target.empty() ? config_.target : r.target;
    ConfirmLocked();
    if (!r.error.empty()) {  // preferred targets failed this round
      health_.last_error = r.error;
      health_.last_error_time = wall;
    }
    ReportLocked();
    lock.unlock();
    if (r.log_error) ClearError(config_.name, "");
    FirstDone();
    return IntervalWait();
  }

  absl::Duration WatchOnce() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      established_ = false;
    }
    absl::Status s;
    try {
      s = watch_->Watch(*this, *this);
    } catch (const std::exception& e) {
      s = absl::InternalError(absl::StrCat(config_.source, ": internal error: ", e.what()));
    } catch (...) {
      s = absl::InternalError(absl::StrCat(config_.source, ": internal error"));
    }
    std::unique_lock<std::mutex> lock(mu_);
    expect_deadline_ = absl::InfiniteFuture();
    if (stop_) return absl::ZeroDuration();
    const bool established = established_;
    if (established && (s.ok() || absl::IsDeadlineExceeded(s))) {
      lock.unlock();
      FirstDone();
      return absl::ZeroDuration();  // ended cleanly or idle: reopen at once
    }
    ++failures_;
    health_.consecutive_failures = static_cast<uint64_t>(failures_);
    health_.last_error_time = registry_.clock().Now();
    connection_error_ = ToStd(s.message());
    ReportLocked();
    const int64_t failures = failures_;
    // The first failure and then at 2, 4, 8, ... in a row: an outage is
    // visible without a line per retry.
    if ((failures & (failures - 1)) == 0) {
      registry_.Log(LogLevel::kError,
                    absl::StrCat(s.message(), " (", failures, failures == 1 ? " failure" : " failures",
                                 " in a row); the remote layer keeps its last good state"));
    }
    if (established) failures_ = 0;  // it was running: resume at once
    lock.unlock();
    FirstDone();
    return established ? absl::ZeroDuration() : BackoffWait(failures);
  }

  void WriteDueCache(bool force) {
    // Held from taking the pending snapshot to writing it: two writers (the
    // supervisor, and start-up or Stop) must not write in the wrong order.
    std::lock_guard<std::mutex> cache(cache_mu_);
    std::optional<Snapshot> snapshot;
    bool from_watch = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (force && !cache_pending_ && !cache_dirty_) return;
      snapshot = std::move(cache_pending_);
      cache_pending_.reset();
      from_watch = cache_dirty_;
      cache_dirty_ = false;
      last_cache_write_ = clock_.Now();
      cache_written_once_ = true;
    }
    if (from_watch && watch_ != nullptr) snapshot = watch_->WholeView();
    if (!snapshot.has_value()) return;
    cache_.Save(*snapshot);
  }

  SourceRunner* owner_;
  Registry& registry_;
  const SourceRunner::Config config_;
  MonotonicClock& clock_;

  std::mutex cache_mu_;  // one cache_ user at a time; taken before mu_
  LkgCacheKeeper cache_;

  std::mutex apply_mu_;       // applying to the layer; guards layer_filled_
  bool layer_filled_ = false;

  std::mutex log_mu_;
  std::map<std::string, std::string> logged_;  // guarded by log_mu_

  mutable std::mutex mu_;
  std::condition_variable cv_;      // loop waits, start-up, Disarm
  std::condition_variable sup_cv_;  // the supervisor waits
  bool stop_ = false;
  bool sup_wake_ = false;
  bool first_done_ = false;
  bool loop_done_ = false;
  SourceHealth health_;
  std::string connection_error_;  // current failure or stall; empty when fine
  std::string problems_;          // a watch's standing problems
  absl::Time last_confirmed_;     // monotonic
  int64_t failures_ = 0;
  bool established_ = false;
  std::map<int64_t, Op> ops_;
  int64_t next_op_ = 0;
  absl::Duration expect_within_ = absl::ZeroDuration();
  absl::Time expect_deadline_ = absl::InfiniteFuture();
  std::function<void()> liveness_cancel_;
  std::optional<Snapshot> cache_pending_;
  bool cache_dirty_ = false;
  bool cache_written_once_ = false;
  absl::Time last_cache_write_ = absl::InfinitePast();

  std::mt19937_64 rng_;
  std::thread supervisor_;
  std::thread loop_;
};

// ---------------------------------------------------------------------------

Operation::Operation(SourceRunner* runner, int64_t id, absl::Time deadline)
    : runner_(runner), id_(id), deadline_(deadline) {}

Operation::~Operation() { runner_->impl_->Disarm(id_); }

bool Operation::expired() const { return runner_->impl_->OpExpired(id_); }

bool Operation::stopping() const { return runner_->impl_->OpStopping(id_); }

SourceRunner::SourceRunner(Registry& registry, Config config, std::unique_ptr<PollStrategy> poll)
    : impl_(std::make_unique<Impl>(this, registry, std::move(config))) {
  impl_->poll_ = std::move(poll);
  impl_->Start();
}

SourceRunner::SourceRunner(Registry& registry, Config config,
                           std::unique_ptr<WatchStrategy> watch)
    : impl_(std::make_unique<Impl>(this, registry, std::move(config))) {
  impl_->watch_ = std::move(watch);
  impl_->Start();
}

SourceRunner::~SourceRunner() { impl_->Stop(); }

SourceHealth SourceRunner::health() const { return impl_->Health(); }

absl::Duration SourceRunner::RunOnce() { return impl_->RunOnce(); }

void SourceRunner::Supervise() { impl_->Supervise(); }

}  // namespace degrade::internal
