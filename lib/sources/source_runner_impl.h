// SourceRunner::Impl, shared by the files that implement the runner. Not
// installed; included only by lib/sources/source_runner*.cc.
//
//   source_runner.cc             construction, start-up, stop, the strategy's
//                                view (RunContext, WatchSink), health
//   source_runner_loop.cc        the loop thread: poll rounds, watches, waits
//   source_runner_supervisor.cc  the supervisor thread: deadlines, liveness,
//                                staleness, the coalesced cache writer
//   source_runner_clock.cc       clocks, backoff and jitter
//
// Locking: cache_mu_ is taken before mu_, and after apply_mu_ at start-up.
#ifndef DEGRADE_LIB_SOURCE_RUNNER_IMPL_H_
#define DEGRADE_LIB_SOURCE_RUNNER_IMPL_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "sources/lkg_cache.h"
#include "sources/source_runner.h"

namespace degrade::internal {

class SourceRunner::Impl final : public RunContext, public WatchSink {
 public:
  Impl(SourceRunner* owner, Registry& registry, SourceRunner::Config config);

  // Starts both threads and waits (at most Config::startup_budget) for the
  // first round; then writes the cache or applies it to an empty layer.
  void Start();
  // Stops and joins both threads, then writes a pending cache entry.
  void Stop();

  // ----- RunContext
  absl::Time MonotonicNow() const override { return clock_.Now(); }
  Registry& registry() const override { return registry_; }
  std::unique_ptr<Operation> Arm(std::string what, absl::Duration budget,
                                 std::function<void()> cancel) override;
  bool stopping() const override;
  void LogErrorOnce(const std::string& key, const std::string& message) override;
  void ClearError(const std::string& key, const std::string& recovered) override;

  // ----- WatchSink
  absl::Status Publish(Snapshot snapshot, std::string_view why) override;
  absl::Status Apply(std::string_view why,
                     const std::function<absl::Status(Registry&, Layer, const std::string&)>&
                         apply) override;
  void Confirmed() override;
  void Established() override;
  void SetProblems(std::string problems) override;
  void ExpectConfirmationWithin(absl::Duration within, std::function<void()> cancel) override;

  // ----- loop (source_runner_loop.cc)
  // One poll round or one watch; returns the wait before the next.
  absl::Duration RunOnce();
  void Loop();

  // ----- supervisor (source_runner_supervisor.cc)
  void SupervisorLoop();
  void Supervise();
  // Operation's view of its entry in ops_.
  void Disarm(int64_t id);
  bool OpExpired(int64_t id) const;
  bool OpStopping(int64_t id) const;

  SourceHealth Health() const;

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

  // ----- loop (source_runner_loop.cc)
  double Uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  absl::Duration IntervalWait();
  absl::Duration BackoffWait(int64_t failures);
  absl::Duration PollOnce();
  absl::Duration WatchOnce();

  // ----- supervisor (source_runner_supervisor.cc)
  absl::Time SuperviseLocked(std::unique_lock<std::mutex>& lock);
  bool AnyCancelPendingLocked() const;
  void CancelDueLocked(std::unique_lock<std::mutex>& lock);
  // Writes the pending cache entry, if any. `force` (start-up, Stop): when
  // nothing is pending, returns without touching the write time.
  void WriteDueCache(bool force);

  // ----- health (source_runner.cc)
  void FirstDone();
  void ConfirmLocked();
  void ReportLocked();
  void MarkUnhealthyLocked(const std::string& reason, bool log);
  void AppliedChange();

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

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_SOURCE_RUNNER_IMPL_H_
