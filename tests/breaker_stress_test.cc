// Breakers under concurrency: outcomes recorded from several threads are
// counted exactly, half-open admits exactly its probes, and the registry's
// breaker thread evaluates while callers record. Run under ThreadSanitizer
// by the 'concurrency' suite.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "degrade/breaker.h"
#include "degrade/call.h"
#include "degrade/registry.h"
#include "degrade/testing.h"
#include "gtest/gtest.h"
#include "test_registry.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

constexpr int kThreads = 4;
constexpr int kCallsPerThread = 20'000;

// Never trips: the window is an hour and min_calls out of reach.
BreakerPolicy Recording() {
  return BreakerPolicy{.window = BreakerPolicy::Window::kTime,
                       .window_size = 3600,
                       .min_calls = 1'000'000};
}

// With a fake clock the test drives ProcessBreakers itself.
Registry::Options ManualTimers(Registry::Options options) {
  options.timer_threads = false;
  return options;
}

// Runs fn(thread_index) on kThreads threads at once.
template <typename Fn>
void OnThreads(Fn fn) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      fn(t);
    });
  }
  go.store(true, std::memory_order_release);
  for (std::thread& th : threads) th.join();
}

TEST(BreakerStressTest, OutcomesFromManyThreadsAreCountedExactly) {
  testing::FakeClock clock;
  Registry registry(ManualTimers(QuietOptions(&clock)));
  Switch& sw = **registry.Define({.name = "dep", .breaker = Recording()});
  std::atomic<bool> done{false};
  // Evaluations race with the recording threads.
  std::thread evaluator([&] {
    while (!done.load()) registry.ProcessBreakers();
  });
  OnThreads([&](int t) {
    for (int i = 0; i < kCallsPerThread; ++i) {
      const bool fail = (i + t) % 3 == 0;
      (void)Call(sw, [&] {
        return fail ? absl::StatusOr<int>(absl::UnavailableError("x")) : absl::StatusOr<int>(1);
      }, [] { return absl::StatusOr<int>(0); });
    }
  });
  done.store(true);
  evaluator.join();
  registry.ProcessBreakers();
  uint64_t failures = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kCallsPerThread; ++i) failures += (i + t) % 3 == 0;
  }
  const BreakerInfo b = *registry.Get("dep")->breaker;
  EXPECT_EQ(b.window_calls, uint64_t{kThreads} * kCallsPerThread);
  EXPECT_EQ(b.window_failures, failures);
  EXPECT_EQ(b.state, BreakerState::kClosed);
}

TEST(BreakerStressTest, SlowCallsFromManyThreadsAreCountedExactly) {
  testing::FakeClock clock;
  Registry registry(ManualTimers(QuietOptions(&clock)));
  BreakerPolicy p = Recording();
  p.slow_call_ms = 500;
  Switch& sw = **registry.Define({.name = "dep", .breaker = p});
  constexpr int kSlowCalls = 2000;
  // Each call moves the shared clock by 1 s while it runs, so each one lasts
  // at least 1 s whatever the others do: every call is slow.
  OnThreads([&](int) {
    for (int i = 0; i < kSlowCalls; ++i) {
      Call(sw, [&] {
        clock.Advance(absl::Seconds(1));
        return 1;
      }, [] { return 0; });
    }
  });
  registry.ProcessBreakers();
  const BreakerInfo b = *registry.Get("dep")->breaker;
  EXPECT_EQ(b.window_calls, uint64_t{kThreads} * kSlowCalls);
  EXPECT_EQ(b.window_slow_calls, uint64_t{kThreads} * kSlowCalls);
}

TEST(BreakerStressTest, HalfOpenAdmitsExactlyItsProbesUnderContention) {
  testing::FakeClock clock;
  Registry registry(ManualTimers(QuietOptions(&clock)));
  BreakerPolicy p{.min_calls = 10, .open_s = 30, .half_open_calls = 50};
  Switch& sw = **registry.Define({.name = "dep", .breaker = p});
  for (int i = 0; i < 10; ++i) {
    (void)Call(sw, [] { return absl::UnavailableError("x"); }, [] { return absl::OkStatus(); });
  }
  registry.ProcessBreakers();
  clock.Advance(absl::Seconds(30));
  registry.ProcessBreakers();
  ASSERT_EQ(registry.Get("dep")->breaker->state, BreakerState::kHalfOpen);
  std::atomic<int> ran{0};
  OnThreads([&](int) {
    for (int i = 0; i < 5000; ++i) {
      Call(sw, [&] {
        ran.fetch_add(1);
        return 1;
      }, [] { return 0; });
    }
  });
  EXPECT_EQ(ran.load(), 50);
  registry.ProcessBreakers();
  EXPECT_EQ(registry.Get("dep")->breaker->state, BreakerState::kClosed);
}

TEST(BreakerStressTest, BreakerThreadCyclesWhileCallersRecord) {
  Registry registry(QuietOptions(nullptr));  // real clock: the registry's thread ticks
  BreakerPolicy p{.window_size = 1, .min_calls = 5, .open_s = 0.05, .half_open_calls = 2};
  Switch& sw = **registry.Define({.name = "dep", .breaker = p});
  std::atomic<bool> healthy{false};
  std::atomic<bool> done{false};
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&] {
      while (!done.load()) {
        (void)Call(sw, [&] {
          return healthy.load() ? absl::OkStatus() : absl::UnavailableError("x");
        }, [] { return absl::OkStatus(); });
        std::this_thread::yield();
      }
    });
  }
  std::thread reader([&] {
    while (!done.load()) (void)registry.List();
  });
  // Failing: it opens (and, every 50 ms, probes and reopens).
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (registry.Get("dep")->breaker->times_opened < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_GE(registry.Get("dep")->breaker->times_opened, 3u);
  // Healthy again: a half-open round closes it for good.
  healthy.store(true);
  while (registry.Get("dep")->breaker->state != BreakerState::kClosed && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(registry.Get("dep")->breaker->state, BreakerState::kClosed);
  EXPECT_TRUE(sw.enabled());
  done.store(true);
  for (std::thread& t : callers) t.join();
  reader.join();
}

}  // namespace
}  // namespace degrade
