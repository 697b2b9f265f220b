// The source runner on its own: backoff, deadlines, watch liveness and cache
// coalescing, exactly, on a fake monotonic clock. The strategies here are
// scripted (the real ones, against real servers, are in http_source_test,
// file_source_test and etcd_source_test).
#include "sources/source_runner.h"

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "degrade/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sources/lkg_cache.h"
#include "test_util.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h
using internal::Operation;
using internal::PollResult;
using internal::PollStrategy;
using internal::RunContext;
using internal::SourceRunner;
using internal::WatchSink;
using internal::WatchStrategy;
using internal::testing::FakeMonotonicClock;
using ::testing::HasSubstr;

Snapshot RecsIs(bool on) {
  Snapshot s;
  s.switches["recs"] = on ? On() : Off();
  return s;
}

// Released by the test or by a cancel; both wake the strategy.
class Gate {
 public:
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void Wait(RunContext& ctx) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return open_ || ctx.stopping(); });
  }
  // A cancel also wakes a waiter (it rechecks stopping()).
  void Poke() { cv_.notify_all(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("degrade-runner-test");
    ASSERT_FALSE(dir_.empty());
    registry_ = std::make_unique<Registry>(QuietOptions());
    recs_ = *registry_->Define(Spec("recs"));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  SourceRunner::Config Base() {
    SourceRunner::Config c;
    c.name = "remote";
    c.target = "scripted";
    c.source = "scripted";
    c.interval = absl::Seconds(10);
    c.interval_jitter = 0;
    c.backoff_base = absl::Seconds(1);
    c.backoff_cap = absl::Seconds(4);
    c.backoff_jitter = 0;
    c.startup_budget = absl::Seconds(1);
    c.clock = &clock_;
    return c;
  }
  // `n` threads wait on the clock: the supervisor, and the loop unless it is
  // inside the strategy.
  bool Parked(int n = 2) { return Eventually([&] { return clock_.waiters() == n; }); }

  std::filesystem::path dir_;
  FakeMonotonicClock clock_;
  std::unique_ptr<Registry> registry_;
  Switch* recs_ = nullptr;
};

class FailingPoll : public PollStrategy {
 public:
  explicit FailingPoll(std::atomic<int>* calls) : calls_(calls) {}
  PollResult Poll(RunContext&) override {
    ++*calls_;
    return PollResult::Failed("scripted", "scripted: refused");
  }
  void Accepted(bool) override {}

 private:
  std::atomic<int>* calls_;
};

TEST_F(RunnerTest, FailedPollsBackOffExactlyByTheClock) {
  std::atomic<int> calls{0};
  SourceRunner runner(*registry_, Base(), std::make_unique<FailingPoll>(&calls));
  EXPECT_EQ(calls, 1);
  ASSERT_TRUE(Parked());
  clock_.Advance(absl::Milliseconds(999));
  ASSERT_TRUE(Parked());
  EXPECT_EQ(calls, 1);
  clock_.Advance(absl::Milliseconds(1));  // 1 s after the first failure
  ASSERT_TRUE(Eventually([&] { return calls == 2; }));
  ASSERT_TRUE(Parked());
  clock_.Advance(absl::Milliseconds(1999));
  ASSERT_TRUE(Parked());
  EXPECT_EQ(calls, 2);
  clock_.Advance(absl::Milliseconds(1));  // then 2 s
  ASSERT_TRUE(Eventually([&] { return calls == 3; }));
  ASSERT_TRUE(Eventually([&] { return runner.health().consecutive_failures == 3; }));
  const SourceHealth h = runner.health();
  EXPECT_FALSE(h.healthy);
  EXPECT_EQ(h.last_error, "scripted: refused");
}

// First call: a snapshot. Second: arms a 2 s operation and blocks until the
// test opens the gate.
class StallingPoll : public PollStrategy {
 public:
  StallingPoll(Gate* gate, std::atomic<int>* armed, std::atomic<int>* cancels)
      : gate_(gate), armed_(armed), cancels_(cancels) {}
  PollResult Poll(RunContext& ctx) override {
    if (++calls_ == 1) return PollResult::Fresh("scripted", RecsIs(false), "scripted");
    std::unique_ptr<Operation> op = ctx.Arm("scripted request", absl::Seconds(2), [this] {
      ++*cancels_;
      gate_->Poke();
    });
    ++*armed_;
    gate_->Wait(ctx);
    return PollResult::Failed("scripted", "scripted: abandoned");
  }
  void Accepted(bool) override {}

 private:
  int calls_ = 0;
  Gate* gate_;
  std::atomic<int>* armed_;
  std::atomic<int>* cancels_;
};

TEST_F(RunnerTest, HealthTurnsUnhealthyAtTheDeadlineWhileTheCallIsStillBlocked) {
  Gate gate;
  std::atomic<int> armed{0}, cancels{0};
  SourceRunner runner(*registry_, Base(),
                      std::make_unique<StallingPoll>(&gate, &armed, &cancels));
  ASSERT_TRUE(runner.health().healthy);
  EXPECT_FALSE(recs_->enabled());
  ASSERT_TRUE(Parked());
  clock_.Advance(absl::Seconds(10));  // the next poll
  ASSERT_TRUE(Eventually([&] { return armed == 1; }));
  ASSERT_TRUE(Parked(1));
  clock_.Advance(absl::Milliseconds(1999));
  ASSERT_TRUE(Parked(1));
  EXPECT_TRUE(runner.health().healthy);
  EXPECT_EQ(cancels, 0);
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(Eventually([&] { return !runner.health().healthy; }));
  EXPECT_THAT(runner.health().last_error,
              HasSubstr("scripted request: no complete answer within 2s"));
  EXPECT_GE(cancels, 1);
  gate.Open();
  EXPECT_TRUE(Eventually([&] { return runner.health().consecutive_failures == 1; }));
}

// Publishes `publishes` snapshots (recs off, on, off, ...), confirms, expects
// a confirmation every 5 s, and waits to be cancelled; the second call only
// waits.
class ScriptedWatch : public WatchStrategy {
 public:
  explicit ScriptedWatch(int publishes) : publishes_(publishes) {}
  absl::Status Watch(RunContext& ctx, WatchSink& sink) override {
    const int call = ++calls;
    if (call == 1) {
      for (int i = 0; i < publishes_; ++i) {
        Snapshot s = RecsIs(i % 2 == 1);
        {
          std::lock_guard<std::mutex> lock(mu_);
          view_ = s;
        }
        EXPECT_TRUE(sink.Publish(std::move(s), "a batch").ok());
        ++published;
      }
      sink.Established();
      sink.Confirmed();
      sink.ExpectConfirmationWithin(absl::Seconds(5), [this] {
        ++cancels;
        cancelled_ = true;
        gate_.Poke();
      });
      expecting = true;
    }
    std::unique_lock<std::mutex> lock(wait_mu_);
    cv_.wait(lock, [&] { return ctx.stopping() || (call == 1 && cancelled_); });
    return absl::DeadlineExceededError("scripted watch: cancelled");
  }
  std::optional<Snapshot> WholeView() override {
    ++whole_views;
    std::lock_guard<std::mutex> lock(mu_);
    return view_;
  }
  std::atomic<int> calls{0}, published{0}, cancels{0}, whole_views{0};
  std::atomic<bool> expecting{false};

 private:
  // A cancel wakes Watch; Gate::Poke is not used for the watch wait itself.
  class Waker {
   public:
    explicit Waker(std::condition_variable* cv, std::mutex* mu) : cv_(cv), mu_(mu) {}
    void Poke() {
      std::lock_guard<std::mutex> lock(*mu_);
      cv_->notify_all();
    }

   private:
    std::condition_variable* cv_;
    std::mutex* mu_;
  };
  const int publishes_;
  std::mutex mu_;
  std::optional<Snapshot> view_;
  std::mutex wait_mu_;
  std::condition_variable cv_;
  std::atomic<bool> cancelled_{false};
  Waker gate_{&cv_, &wait_mu_};
};

TEST_F(RunnerTest, WatchWithoutProgressIsReportedStalledAndReopened) {
  auto owned = std::make_unique<ScriptedWatch>(1);
  ScriptedWatch* watch = owned.get();
  SourceRunner runner(*registry_, Base(), std::move(owned));
  EXPECT_FALSE(recs_->enabled());
  // The 5 s start when the watch asks for them, not when start-up returns.
  ASSERT_TRUE(Eventually([&] { return watch->expecting.load(); }));
  ASSERT_TRUE(runner.health().healthy);
  ASSERT_TRUE(Parked(1));
  clock_.Advance(absl::Milliseconds(4999));
  ASSERT_TRUE(Parked(1));
  EXPECT_TRUE(runner.health().healthy);
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(Eventually([&] { return !runner.health().healthy; }))
      << runner.health().last_error << " calls " << watch->calls << " cancels "
      << watch->cancels;
  EXPECT_THAT(runner.health().last_error,
              HasSubstr("scripted: stalled: no event or progress within 5s"));
  EXPECT_GE(watch->cancels, 1);
  // An established watch that ends is reopened at once, without backoff.
  EXPECT_TRUE(Eventually([&] { return watch->calls == 2; }));
}

TEST_F(RunnerTest, CacheWritesAreCoalescedToOnePerInterval) {
  SourceRunner::Config c = Base();
  c.cache_file = (dir_ / "cache.json").string();
  c.cache_min_interval = absl::Seconds(1);
  auto owned = std::make_unique<ScriptedWatch>(20);
  ScriptedWatch* watch = owned.get();
  {
    SourceRunner runner(*registry_, c, std::move(owned));
    ASSERT_TRUE(Eventually([&] { return watch->published == 20; }));
    ASSERT_TRUE(Parked(1));
    // Twenty applies: one write at once (the start-up's, or the
    // supervisor's first), at most one more before the interval is over.
    EXPECT_LE(watch->whole_views, 2);
    clock_.Advance(absl::Seconds(1));
    ASSERT_TRUE(Eventually([&] {
      auto read = internal::ReadCache(c.cache_file, absl::Now());
      return read.ok() && *read == RecsIs(true);  // the 20th: on
    }));
    EXPECT_LE(watch->whole_views, 3);
  }
  EXPECT_TRUE(recs_->enabled());
}

}  // namespace
}  // namespace degrade
