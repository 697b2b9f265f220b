// The source runner: the one place that runs a layer's source. Not installed.
//
// Every source that feeds a layer (the config file, HTTP polling, etcd) is a
// small *strategy* that knows how to read its control plane. A SourceRunner
// owns everything else, once:
//   - the threads: a loop thread that calls the strategy, and a supervisor
//     thread that enforces deadlines (both joined by the destructor; nothing
//     outlives the runner);
//   - start-up: the constructor waits for the first answer for at most
//     Config::startup_budget, then applies the last-known-good cache if the
//     layer is still empty, and returns; the loop keeps trying;
//   - deadlines: an operation the strategy arms (Operation) is cancelled
//     when its overall deadline passes, however the peer drips bytes;
//   - backoff with jitter after failures, the interval between polls;
//   - health ("file", "remote", "etcd" in Registry::sources()): healthy only
//     while the view was confirmed within Config::stale_after; a stalled
//     operation flips it to unhealthy at its deadline, with the reason;
//   - applying to the registry, logging each distinct error once;
//   - the last-known-good cache: writes are coalesced (at most one per
//     Config::cache_min_interval), done on the supervisor thread, never the
//     strategy's, atomically (lkg_cache.h); what the first round applied is
//     written before the constructor returns, and a pending write is done
//     by the destructor.
//
// Two kinds of strategy:
//   PollStrategy   "fetch a snapshot": each call answers applied (a whole
//                  snapshot to install), not modified (the layer already
//                  holds this view: confirmed), or failed with a reason.
//                  File and HTTP.
//   WatchStrategy  "a stream of changes": one call holds a watch open and
//                  feeds batches to a WatchSink until the stream ends; the
//                  runner still owns health, backoff, cache and start-up.
//                  etcd.
//
// Time: all scheduling reads a MonotonicClock. The real one waits on
// condition variables; testing::FakeMonotonicClock (below) lets a test
// advance time and wakes every waiter exactly when its time comes, so
// backoff, deadlines and staleness are tested without real sleeps.
//
// Thread safety: a runner is constructed and destroyed by one thread. Its
// strategy's Poll/Watch, Accepted and the sink are called only on the loop
// thread (and, before the constructor returns, possibly on it too: never
// both at once). WholeView() is called on the supervisor thread, concurrently
// with Poll/Watch: it must lock what it reads.
#ifndef DEGRADE_LIB_SOURCE_RUNNER_H_
#define DEGRADE_LIB_SOURCE_RUNNER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"

namespace degrade::internal {

class SourceRunner;

// ---------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------

// Monotonic time for deadlines, backoff and staleness (never the wall clock
// the registry stamps entries with: a wall-clock step must not fire a
// deadline or hide a stall).
class MonotonicClock {
 public:
  virtual ~MonotonicClock() = default;
  // Time since an arbitrary fixed origin. Safe from any thread.
  virtual absl::Time Now() const = 0;
  // With `lock` held (it guards whatever `done` reads), blocks until
  // done() or Now() >= until, releasing `lock` while blocked. `cv` is
  // notified by whoever makes done() true. Returns done().
  virtual bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         absl::Time until, const std::function<bool()>& done) = 0;
  // std::chrono::steady_clock. Never destroyed.
  static MonotonicClock& Real();
};

namespace testing {

// Time stands still until Advance(). WaitUntil wakes each waiter whose time
// has come, under the waiter's own mutex (no lost wake-ups).
class FakeMonotonicClock : public MonotonicClock {
 public:
  FakeMonotonicClock();
  absl::Time Now() const override;
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 absl::Time until, const std::function<bool()>& done) override;
  void Advance(absl::Duration d);
  // How many threads are blocked in WaitUntil now (tests wait for the loop
  // to be parked before advancing).
  int waiters() const;

 private:
  struct Waiter {
    std::mutex* mu;
    std::condition_variable* cv;
  };
  mutable std::mutex mu_;
  absl::Time now_;
  std::map<int64_t, Waiter> waiters_;  // by ticket
  int64_t next_ticket_ = 0;
};

}  // namespace testing

// ---------------------------------------------------------------------------
// What strategies use
// ---------------------------------------------------------------------------

// One bounded network (or disk) operation. While an Operation is alive the
// runner's supervisor watches its deadline; when the deadline passes (or the
// runner is stopping) it calls `cancel` once, from the supervisor thread,
// and marks the runner's health unhealthy with "<what>: no answer within
// <budget>" at once -- not when the operation finally returns. `cancel`
// must make the blocked call return soon (httplib::Client::stop(),
// EtcdClient::Stop(), shutdown(2) of a socket) and must be safe to call
// while the operation runs. Destroying the Operation disarms it; after the
// destructor returns `cancel` is never called (it waits for a cancel in
// progress to finish).
class Operation {
 public:
  ~Operation();
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;

  // True once the deadline passed (cancel was called for that reason).
  bool expired() const;
  // True once the runner is stopping (cancel was called for that reason).
  bool stopping() const;
  absl::Time deadline() const { return deadline_; }

 private:
  friend class SourceRunner;
  Operation(SourceRunner* runner, int64_t id, absl::Time deadline);
  SourceRunner* runner_;
  int64_t id_;
  absl::Time deadline_;
};

// Handed to every strategy call.
class RunContext {
 public:
  virtual ~RunContext() = default;
  // The runner's monotonic clock and the registry's wall clock.
  virtual absl::Time MonotonicNow() const = 0;
  virtual Registry& registry() const = 0;
  // Arms an overall deadline of `budget` from now for one operation named
  // `what` (e.g. "remote http://a/x"). See Operation.
  virtual std::unique_ptr<Operation> Arm(std::string what, absl::Duration budget,
                                         std::function<void()> cancel) = 0;
  // True once the runner's destructor has begun: return promptly.
  virtual bool stopping() const = 0;
  // Logs `message` at kError once, until ClearError(key) or a different
  // message for the same key (one line per distinct problem, not per retry).
  virtual void LogErrorOnce(const std::string& key, const std::string& message) = 0;
  // Forgets `key`'s error; logs `recovered` at kInfo if one was logged.
  virtual void ClearError(const std::string& key, const std::string& recovered) = 0;
};

// ---------------------------------------------------------------------------
// Poll strategies (file, HTTP)
// ---------------------------------------------------------------------------

struct PollResult {
  enum class Kind {
    kSnapshot,     // `snapshot` is the whole layer: apply it
    kNotModified,  // the layer already holds this view: confirmed
    kFailed,       // nothing changes; `error` says why
  };
  Kind kind = Kind::kFailed;
  std::optional<Snapshot> snapshot;  // kSnapshot; from ParseSnapshot (applied unchecked)
  std::string source;                // "remote <url>", "file <path>": the
                                     // changes' source
  std::string target;                // health target ("<url>"); empty:
                                     // Config::target
  std::string error;                 // kFailed; for a kSnapshot or
                                     // kNotModified answer after some
                                     // preferred targets failed: their errors
  bool log_error = true;             // false when already logged (e.g. by
                                     // ApplySnapshotJson)

  static PollResult Failed(std::string source, std::string error);
  static PollResult NotModified(std::string source, std::string target = "");
  static PollResult Fresh(std::string source, Snapshot snapshot, std::string target = "");
};

class PollStrategy {
 public:
  virtual ~PollStrategy() = default;
  // One poll round. Must return within the deadlines it arms. Never throws
  // (the runner turns an escaping exception into kFailed anyway).
  virtual PollResult Poll(RunContext& ctx) = 0;
  // The runner applied the snapshot the last Poll returned (true), or the
  // registry refused it (false, with the reason in health). A strategy that
  // remembers "what the layer holds" (ETag, content) commits it here.
  virtual void Accepted(bool applied) = 0;
};

// ---------------------------------------------------------------------------
// Watch strategies (etcd)
// ---------------------------------------------------------------------------

// How a watch reports to its runner. Called on the loop thread only, except
// Confirmed(), which takes the runner's lock and may also be called from a
// thread the strategy runs beside its watch (a liveness check).
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // Replaces the whole layer with `snapshot` (a full read at start or after
  // compaction), made of parsed values (ParseSnapshot / ParseSwitchValue),
  // which the registry does not check a second time. Returns the registry's
  // error when it refuses. Confirms.
  virtual absl::Status Publish(Snapshot snapshot, std::string_view why) = 0;
  // Applies a change through `apply`, which is called with the registry, the
  // runner's layer and the source name, at once, on this thread (e.g. an
  // incremental apply of a few entries). The runner counts it, confirms the
  // view, and marks the cache dirty (it will ask WatchStrategy::WholeView).
  virtual absl::Status Apply(
      std::string_view why,
      const std::function<absl::Status(Registry&, Layer, const std::string& source)>& apply) = 0;
  // The view is known current (a watch created, an event, a progress
  // notification): health is healthy (unless SetProblems) and the liveness
  // timer restarts.
  virtual void Confirmed() = 0;
  // The stream is established: a later failure is retried at once, not
  // after backoff, and the failure count is reset.
  virtual void Established() = 0;
  // Problems that keep the source unhealthy while it is connected (e.g. keys
  // with rejected values). Empty: none. Shown in health's last_error.
  virtual void SetProblems(std::string problems) = 0;
  // Expect Confirmed() at least every `within` from now on (0: stop
  // expecting). When it does not come, the runner marks the source
  // unhealthy ("stalled: no event or progress within X") and calls `cancel`
  // (from the supervisor thread) so Watch returns and is retried.
  virtual void ExpectConfirmationWithin(absl::Duration within, std::function<void()> cancel) = 0;
};

class WatchStrategy {
 public:
  virtual ~WatchStrategy() = default;
  // Reads and watches until the stream ends. OK or DeadlineExceeded after an
  // established stream: reopened at once. Another error: a failure (health,
  // log, backoff). Cancelled while the runner is stopping: ends the loop.
  virtual absl::Status Watch(RunContext& ctx, WatchSink& sink) = 0;
  // The whole view the layer holds from this strategy, for the cache; nullopt
  // when it has none. Called on the supervisor thread (see thread safety).
  virtual std::optional<Snapshot> WholeView() = 0;
};

// ---------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------

class SourceRunner {
 public:
  struct Config {
    std::string name;    // health name: "file", "remote", "etcd"
    std::string target;  // health target while nothing answered
    // The source name changes carry ("etcd /degrade/shop/") for a watch's
    // Publish and Apply; a poll result names its own.
    std::string source;
    Layer layer = Layer::kRemote;
    // Poll: the wait after a confirmed round, jittered +-interval_jitter.
    absl::Duration interval = absl::Seconds(5);
    double interval_jitter = 0.10;
    // After failed rounds (polls) or failed attempts (watches):
    // BackoffDelay(backoff_base, backoff_cap, failures) jittered
    // +-backoff_jitter.
    absl::Duration backoff_base = absl::Milliseconds(500);
    absl::Duration backoff_cap = absl::Seconds(30);
    double backoff_jitter = 0.20;
    // The constructor returns after at most this long (plus scheduling),
    // whatever the control plane does.
    absl::Duration startup_budget = absl::Seconds(3);
    // Healthy only while the view was confirmed within this long. 0: never
    // stale by age alone (a watch uses ExpectConfirmationWithin instead).
    absl::Duration stale_after = absl::ZeroDuration();
    // Last-known-good cache; empty: none. Only for the remote layer.
    std::string cache_file;
    absl::Duration cache_min_interval = absl::Seconds(1);
    // What the start-up cache log says when nothing answered in time.
    std::string startup_failure_text = "no source answered at start";
    // Monotonic clock; nullptr: MonotonicClock::Real().
    MonotonicClock* clock = nullptr;
    // Seeds the jitter; 0: from the time and address.
    uint64_t seed = 0;
    // false: no threads; the test drives RunOnce() and the supervisor's
    // Supervise() itself.
    bool start_threads = true;
  };

  SourceRunner(Registry& registry, Config config, std::unique_ptr<PollStrategy> poll);
  SourceRunner(Registry& registry, Config config, std::unique_ptr<WatchStrategy> watch);
  // Stops: cancels the operation in flight, wakes every wait, joins both
  // threads, then writes a pending cache entry.
  ~SourceRunner();

  SourceRunner(const SourceRunner&) = delete;
  SourceRunner& operator=(const SourceRunner&) = delete;

  // The health as last reported (a copy).
  SourceHealth health() const;

  // Without threads (Config::start_threads = false): one poll round or one
  // watch, then returns the wait the loop would take before the next.
  absl::Duration RunOnce();
  // Without threads: enforces deadlines and staleness at the clock's now,
  // writes a due cache entry.
  void Supervise();

 private:
  friend class Operation;
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// min(base, ...) doubled per failure after the first, capped at `cap`:
// base, 2 base, 4 base, ..., cap. `failures` >= 1.
absl::Duration BackoffDelay(absl::Duration base, absl::Duration cap, int64_t failures);

// `d` scaled by a factor uniform in [1 - spread, 1 + spread), given `u`
// uniform in [0, 1).
absl::Duration Jittered(absl::Duration d, double spread, double u);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_SOURCE_RUNNER_H_
