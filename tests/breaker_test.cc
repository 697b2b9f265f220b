// Breakers: thresholds, windows, open/half-open/closed, layers, faults,
// events, listing, and no allocation on Call's observed path. A fake clock
// drives windows and open periods; the test calls ProcessBreakers() where
// the registry thread would tick.
#include "degrade/breaker.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "degrade/call.h"
#include "degrade/listing.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_probes.h"
#include "test_registry.h"

// The no-allocation tests at the end count through tests/alloc_counting.cc.

namespace degrade {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace ::degrade::test_util;  // tests/test_util.h

// Small numbers, so each test states its calls: a 10 s time window, trips
// at half of at least 10 calls, 30 s open, 3 probes.
BreakerPolicy Policy() {
  return BreakerPolicy{.window = BreakerPolicy::Window::kTime,
                       .window_size = 10,
                       .min_calls = 10,
                       .failure_ratio = 0.5,
                       .slow_call_ms = 0,
                       .slow_call_ratio = 1.0,
                       .open_s = 30,
                       .half_open_calls = 3};
}

SwitchValue WithPolicy(BreakerPolicy p) {
  SwitchValue v;
  v.breaker = p;
  return v;
}

class BreakerTest : public ::testing::Test {
 protected:
  BreakerTest()
      : registry_(Registry::Options{
            .clock = &clock_,
            .getenv = test_util::NoEnv,
            .log_sink =
                [this](LogLevel level, std::string_view message) {
                  std::lock_guard<std::mutex> lock(mu_);
                  logs_.emplace_back(level, std::string(message));
                },
            .timer_threads = false,
        }) {
    registry_.AddListener([this](const ChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    });
  }

  Switch& Define(std::optional<BreakerPolicy> policy = Policy(), std::string name = "dep") {
    absl::StatusOr<Switch*> sw = registry_.Define(
        {.name = std::move(name), .description = "a dependency", .breaker = policy});
    EXPECT_TRUE(sw.ok()) << sw.status();
    return **sw;
  }

  // n calls whose primary succeeds / returns an error.
  void Succeed(Switch& sw, int n) {
    for (int i = 0; i < n; ++i) {
      (void)Call(sw, [] { return absl::StatusOr<int>(1); },
                 [] { return absl::StatusOr<int>(0); });
    }
  }
  void Fail(Switch& sw, int n) {
    for (int i = 0; i < n; ++i) {
      (void)Call(sw, [] { return absl::StatusOr<int>(absl::UnavailableError("down")); },
                 [] { return absl::StatusOr<int>(0); });
    }
  }
  // n calls of `duration` on the fake clock that succeed.
  void SucceedSlowly(Switch& sw, int n, absl::Duration duration) {
    for (int i = 0; i < n; ++i) {
      Call(sw, [&] {
        clock_.Advance(duration);
        return 1;
      }, [] { return 0; });
    }
  }
  // Runs the primary? Returns whether it did.
  bool RunsPrimary(Switch& sw) {
    bool ran = false;
    Call(sw, [&] {
      ran = true;
      return 1;
    }, [] { return 0; });
    return ran;
  }

  void Tick() { registry_.ProcessBreakers(); }

  // Opens `sw`'s breaker (Policy()) with 10 failures.
  void Trip(Switch& sw) {
    Fail(sw, 10);
    Tick();
    ASSERT_EQ(State(sw), BreakerState::kOpen);
  }
  // Trip, then wait out the open period.
  void TripToHalfOpen(Switch& sw) {
    Trip(sw);
    clock_.Advance(absl::Seconds(30));
    Tick();
    ASSERT_EQ(State(sw), BreakerState::kHalfOpen);
  }

  SwitchInfo Info(std::string_view name = "dep") {
    absl::StatusOr<SwitchInfo> info = registry_.Get(name);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? *info : SwitchInfo{};
  }
  BreakerInfo Breaker(std::string_view name = "dep") {
    std::optional<BreakerInfo> b = Info(name).breaker;
    EXPECT_TRUE(b.has_value()) << name << " has no breaker";
    return b.value_or(BreakerInfo{});
  }
  BreakerState State(Switch& sw) { return Breaker(sw.name()).state; }

  void Apply(Layer layer, std::string_view json) {
    absl::Status s = registry_.ApplySnapshotJson(layer, json, "test");
    ASSERT_TRUE(s.ok()) << s;
  }

  std::vector<ChangeEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::vector<std::pair<LogLevel, std::string>> logs() {
    std::lock_guard<std::mutex> lock(mu_);
    return logs_;
  }

  testing::FakeClock clock_;
  std::mutex mu_;
  std::vector<ChangeEvent> events_;
  std::vector<std::pair<LogLevel, std::string>> logs_;
  Registry registry_;
};

// ------------------------------------------------------------------ attaching

TEST_F(BreakerTest, SwitchWithoutPolicyHasNoBreaker) {
  Define(std::nullopt);
  EXPECT_FALSE(Info().breaker.has_value());
}

TEST_F(BreakerTest, SpecPolicyAttachesAClosedBreaker) {
  Define();
  const BreakerInfo b = Breaker();
  EXPECT_EQ(b.state, BreakerState::kClosed);
  EXPECT_EQ(b.policy, Policy());
  EXPECT_EQ(b.policy_layer, Layer::kDefault);
}

TEST_F(BreakerTest, SnapshotPolicyAttachesABreakerFromThatLayer) {
  Define(std::nullopt);
  Apply(Layer::kRemote, R"({"switches": {"dep": {"breaker": {"min_calls": 4}}}})");
  const BreakerInfo b = Breaker();
  EXPECT_EQ(b.policy_layer, Layer::kRemote);
  EXPECT_EQ(b.policy.min_calls, 4u);
  EXPECT_EQ(b.policy.failure_ratio, 0.5);  // BreakerPolicy's default
}

TEST_F(BreakerTest, GroupPolicyAppliesToMembers) {
  ASSERT_TRUE(registry_.Define({.name = "dep", .groups = {"tier2"}}).ok());
  Apply(Layer::kFile, R"({"groups": {"tier2": {"breaker": {"window": "count", "window_size": 50}}}})");
  EXPECT_EQ(Breaker().policy.window, BreakerPolicy::Window::kCount);
}

TEST_F(BreakerTest, HigherLayerPolicyReplacesTheLowerOneWhole) {
  Switch& sw = Define();  // min_calls 10
  Apply(Layer::kFile, R"({"switches": {"dep": {"breaker": {"min_calls": 100}}}})");
  Fail(sw, 10);
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kClosed);
  EXPECT_EQ(Breaker().policy.open_s, 30.0);  // the default, not the spec's field
}

TEST_F(BreakerTest, BreakerOffInAHigherLayerRemovesTheBreaker) {
  Switch& sw = Define();
  Apply(Layer::kRemote, R"({"switches": {"dep": {"breaker": "off"}}})");
  EXPECT_FALSE(Info().breaker.has_value());
  Fail(sw, 20);
  Tick();
  EXPECT_TRUE(sw.enabled());
}

TEST_F(BreakerTest, BreakerOffInAHigherLayerTurnsAnOpenBreakersSwitchBackOn) {
  Switch& sw = Define();
  Trip(sw);
  Apply(Layer::kAdmin, R"({"switches": {"dep": {"breaker": "off"}}})");
  EXPECT_TRUE(sw.enabled());
  EXPECT_EQ(Info().deciding_layer, Layer::kDefault);
  EXPECT_TRUE(registry_.LayerSnapshot(Layer::kBreaker).empty());
}

// ------------------------------------------------------------------ thresholds

TEST_F(BreakerTest, OpensWhenFailureRatioReachesThreshold) {
  Switch& sw = Define();
  Succeed(sw, 5);
  Fail(sw, 5);
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);
  EXPECT_FALSE(sw.enabled());
  const SwitchInfo info = Info();
  EXPECT_EQ(info.deciding_layer, Layer::kBreaker);
  EXPECT_EQ(info.actor, "breaker");
  EXPECT_EQ(info.reason, "breaker open: 5 of 10 calls failed (50%) in the last 10s");
}

TEST_F(BreakerTest, StaysClosedBelowFailureRatio) {
  Switch& sw = Define();
  Succeed(sw, 6);
  Fail(sw, 4);
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kClosed);
  EXPECT_TRUE(sw.enabled());
}

TEST_F(BreakerTest, StaysClosedBelowMinCalls) {
  Switch& sw = Define();
  Fail(sw, 9);  // all failed, but min_calls is 10
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kClosed);
}

TEST_F(BreakerTest, WindowStatsAreListed) {
  Switch& sw = Define();
  Succeed(sw, 3);
  Fail(sw, 2);
  Tick();
  const BreakerInfo b = Breaker();
  EXPECT_EQ(b.window_calls, 5u);
  EXPECT_EQ(b.window_failures, 2u);
  EXPECT_DOUBLE_EQ(b.window_failure_ratio, 0.4);
}

TEST_F(BreakerTest, SlowCallRatioOpens) {
  BreakerPolicy p = Policy();
  p.slow_call_ms = 100;
  p.slow_call_ratio = 0.8;
  Switch& sw = Define(p);
  SucceedSlowly(sw, 2, absl::Milliseconds(50));
  SucceedSlowly(sw, 8, absl::Milliseconds(150));
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);
  EXPECT_EQ(Info().reason, "breaker open: 8 of 10 calls slower than 100ms (80%) in the last 10s");
}

TEST_F(BreakerTest, StaysClosedBelowSlowCallRatio) {
  BreakerPolicy p = Policy();
  p.slow_call_ms = 100;
  p.slow_call_ratio = 0.8;
  Switch& sw = Define(p);
  SucceedSlowly(sw, 3, absl::Milliseconds(50));
  SucceedSlowly(sw, 7, absl::Milliseconds(150));
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kClosed);
  EXPECT_EQ(Breaker().window_slow_calls, 7u);
}

TEST_F(BreakerTest, CallsAreNotTimedWithoutSlowCallMs) {
  Switch& sw = Define();  // slow_call_ms 0
  SucceedSlowly(sw, 10, absl::Seconds(5));
  Tick();
  EXPECT_EQ(Breaker().window_slow_calls, 0u);
}

TEST_F(BreakerTest, ExceptionsCountAsFailures) {
  Switch& sw = Define();
  for (int i = 0; i < 10; ++i) {
    Call(sw, []() -> int { throw std::runtime_error("boom"); }, [] { return 0; });
  }
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);
}

TEST_F(BreakerTest, InjectedErrorFaultsCountAsFailuresAndTrip) {
  Switch& sw = Define();
  Apply(Layer::kAdmin, R"({"switches": {"dep": {"fault": {"kind": "error", "rate": 1}}}})");
  Succeed(sw, 10);  // every one of them hit by the fault
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);
  EXPECT_FALSE(sw.enabled());
  EXPECT_EQ(Info().reason, "breaker open: 10 of 10 calls failed (100%) in the last 10s");
}

// ------------------------------------------------------------------ windows

TEST_F(BreakerTest, TimeWindowAgesOutOldFailures) {
  Switch& sw = Define();
  Fail(sw, 8);
  Tick();
  clock_.Advance(absl::Seconds(11));
  Succeed(sw, 8);
  Fail(sw, 2);
  Tick();
  // 10 failures of 18 calls would open it; the first 8 are out of the window.
  EXPECT_EQ(State(sw), BreakerState::kClosed);
  EXPECT_EQ(Breaker().window_calls, 10u);
  EXPECT_EQ(Breaker().window_failures, 2u);
}

TEST_F(BreakerTest, TimeWindowKeepsFailuresInsideIt) {
  Switch& sw = Define();
  Fail(sw, 8);
  Tick();
  clock_.Advance(absl::Seconds(9));
  Succeed(sw, 8);
  Fail(sw, 2);
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);  // 10 of 18
}

TEST_F(BreakerTest, CountWindowForgetsCallsBeyondItsSize) {
  BreakerPolicy p = Policy();
  p.window = BreakerPolicy::Window::kCount;
  p.window_size = 10;
  Switch& sw = Define(p);
  Fail(sw, 5);
  Tick();
  Succeed(sw, 10);
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kClosed);
  EXPECT_EQ(Breaker().window_calls, 10u);
  EXPECT_EQ(Breaker().window_failures, 0u);
}

TEST_F(BreakerTest, CountWindowOpensOnItsLastCalls) {
  BreakerPolicy p = Policy();
  p.window = BreakerPolicy::Window::kCount;
  p.window_size = 10;
  Switch& sw = Define(p);
  Succeed(sw, 20);
  Tick();
  Fail(sw, 5);
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);  // 5 of the last 10
  EXPECT_EQ(Info().reason, "breaker open: 5 of 10 calls failed (50%) in the last 10 calls");
}

TEST_F(BreakerTest, CountWindowDoesNotAgeWithTime) {
  BreakerPolicy p = Policy();
  p.window = BreakerPolicy::Window::kCount;
  p.window_size = 10;
  Switch& sw = Define(p);
  Fail(sw, 5);
  Tick();
  clock_.Advance(absl::Hours(1));
  Succeed(sw, 5);
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);
}

TEST_F(BreakerTest, CountWindowMinCallsIsCappedAtItsSize) {
  BreakerPolicy p = Policy();
  p.window = BreakerPolicy::Window::kCount;
  p.window_size = 4;
  p.min_calls = 100;
  Switch& sw = Define(p);
  Fail(sw, 4);
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);
}

// ------------------------------------------------------------------ open

TEST_F(BreakerTest, OpenBreakerRunsFallbackAndCountsSkipped) {
  Switch& sw = Define();
  Trip(sw);
  const uint64_t skipped = Info().counters.skipped;
  EXPECT_FALSE(RunsPrimary(sw));
  EXPECT_EQ(Info().counters.skipped, skipped + 1);
}

TEST_F(BreakerTest, StaysOpenUntilOpenSecondsPass) {
  Switch& sw = Define();
  Trip(sw);
  const absl::Time opened = clock_.Now();
  EXPECT_EQ(Breaker().next_probe_at, opened + absl::Seconds(30));
  clock_.Advance(absl::Seconds(29));
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);
  EXPECT_FALSE(sw.enabled());
}

TEST_F(BreakerTest, OpenEntryIsInTheBreakerLayer) {
  Switch& sw = Define();
  Trip(sw);
  const Snapshot layer = registry_.LayerSnapshot(Layer::kBreaker);
  ASSERT_TRUE(layer.switches.contains("dep"));
  EXPECT_EQ(layer.switches.at("dep").state, State::kOff);
  EXPECT_EQ(layer.switches.at("dep").actor, "breaker");
}

TEST_F(BreakerTest, OtherBreakerLayerEntriesSurviveATrip) {
  Switch& sw = Define();
  Define(std::nullopt, "other");
  Apply(Layer::kBreaker, R"({"switches": {"other": "off"}})");
  Trip(sw);
  const Snapshot layer = registry_.LayerSnapshot(Layer::kBreaker);
  EXPECT_TRUE(layer.switches.contains("dep"));
  EXPECT_TRUE(layer.switches.contains("other"));
}

TEST_F(BreakerTest, BreakerLayerRejectsPolicies) {
  Define();
  Snapshot s;
  s.switches["dep"] = WithPolicy(Policy());
  s.switches["dep"].state = State::kOff;
  EXPECT_EQ(registry_.ApplySnapshot(Layer::kBreaker, s, "test").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BreakerTest, AdminOnOverrideWinsOverAnOpenBreaker) {
  Switch& sw = Define();
  Trip(sw);
  ASSERT_TRUE(registry_.SetOverride("dep", On()).ok());
  EXPECT_TRUE(RunsPrimary(sw));
  EXPECT_EQ(Info().deciding_layer, Layer::kAdmin);
  EXPECT_EQ(State(sw), BreakerState::kOpen);
}

TEST_F(BreakerTest, ClearingTheAdminOverrideLetsTheOpenBreakerDecideAgain) {
  Switch& sw = Define();
  Trip(sw);
  ASSERT_TRUE(registry_.SetOverride("dep", On()).ok());
  ASSERT_TRUE(registry_.ClearOverride("dep").ok());
  EXPECT_FALSE(sw.enabled());
  EXPECT_EQ(Info().deciding_layer, Layer::kBreaker);
}

TEST_F(BreakerTest, AdminOnOverrideStillRecordsOutcomes) {
  Switch& sw = Define();
  ASSERT_TRUE(registry_.SetOverride("dep", On()).ok());
  Fail(sw, 10);
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);  // tripped, but the admin says on
  EXPECT_TRUE(sw.enabled());
}

// ------------------------------------------------------------------ half-open

TEST_F(BreakerTest, GoesHalfOpenAfterOpenSeconds) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  EXPECT_TRUE(sw.enabled());
  EXPECT_EQ(Info().deciding_layer, Layer::kDefault);
  EXPECT_FALSE(Breaker().next_probe_at.has_value());
}

TEST_F(BreakerTest, HalfOpenAdmitsOnlyTheProbeCalls) {
  Switch& sw = Define();  // 3 probes
  TripToHalfOpen(sw);
  const uint64_t skipped = Info().counters.skipped;
  int ran = 0;
  for (int i = 0; i < 8; ++i) ran += RunsPrimary(sw);
  EXPECT_EQ(ran, 3);
  EXPECT_EQ(Info().counters.skipped, skipped + 5);
  EXPECT_EQ(Breaker().probes_admitted, 3u);
}

TEST_F(BreakerTest, HalfOpenClosesWhenEveryProbeSucceeds) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  Succeed(sw, 3);
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kClosed);
  EXPECT_TRUE(RunsPrimary(sw));
  EXPECT_EQ(Breaker().window_calls, 0u);  // a new window: probes are not in it
}

TEST_F(BreakerTest, HalfOpenStaysUntilEveryProbeReported) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  Succeed(sw, 2);
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kHalfOpen);
}

TEST_F(BreakerTest, HalfOpenProbeFailureReopens) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  Succeed(sw, 1);
  Fail(sw, 1);
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);
  EXPECT_FALSE(sw.enabled());
  EXPECT_EQ(Breaker().next_probe_at, clock_.Now() + absl::Seconds(30));
  EXPECT_EQ(Breaker().times_opened, 2u);
  EXPECT_EQ(Info().reason, "breaker open again: 1 of 2 probe calls failed or were slow in half-open");
}

TEST_F(BreakerTest, HalfOpenSlowProbeReopens) {
  BreakerPolicy p = Policy();
  p.slow_call_ms = 100;
  Switch& sw = Define(p);
  TripToHalfOpen(sw);
  SucceedSlowly(sw, 1, absl::Milliseconds(200));
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);
}

TEST_F(BreakerTest, HalfOpenInjectedFaultUsesUpAProbeAndReopens) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  Apply(Layer::kAdmin, R"({"switches": {"dep": {"fault": {"kind": "error"}}}})");
  Succeed(sw, 1);  // hit by the fault
  Tick();
  EXPECT_EQ(State(sw), BreakerState::kOpen);
}

TEST_F(BreakerTest, AdminOnOverrideLetsEveryCallThroughInHalfOpen) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  ASSERT_TRUE(registry_.SetOverride("dep", On()).ok());
  int ran = 0;
  for (int i = 0; i < 8; ++i) ran += RunsPrimary(sw);
  EXPECT_EQ(ran, 8);
}

TEST_F(BreakerTest, HalfOpenLetsProbesThatNeverReportedThroughAgain) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  // Three probes that hang until released.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> started{0};
  std::vector<std::thread> hung;
  for (int i = 0; i < 3; ++i) {
    hung.emplace_back([&] {
      Call(sw, [&] {
        started.fetch_add(1);
        released.wait();
        return 1;
      }, [] { return 0; });
    });
  }
  while (started.load() < 3) std::this_thread::yield();
  EXPECT_FALSE(RunsPrimary(sw));  // no permit left
  clock_.Advance(absl::Seconds(30));
  Tick();
  EXPECT_TRUE(RunsPrimary(sw));
  release.set_value();
  for (std::thread& t : hung) t.join();
}

// ------------------------------------------------------------------ audit

TEST_F(BreakerTest, OpeningIsAChangeEventFromTheBreaker) {
  Switch& sw = Define();
  Trip(sw);
  const std::vector<ChangeEvent> e = events();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].layer, Layer::kBreaker);
  EXPECT_EQ(e[0].new_state.state, State::kOff);
  EXPECT_EQ(e[0].actor, "breaker");
  EXPECT_EQ(e[0].reason, "breaker open: 10 of 10 calls failed (100%) in the last 10s");
}

TEST_F(BreakerTest, HalfOpenIsAChangeEventFromTheBreaker) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  const std::vector<ChangeEvent> e = events();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[1].old_layer, Layer::kBreaker);
  EXPECT_EQ(e[1].new_state.state, State::kOn);
  EXPECT_EQ(e[1].actor, "breaker");
  EXPECT_THAT(e[1].reason, HasSubstr("half-open"));
}

TEST_F(BreakerTest, HalfOpenEventStatesWhy) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  ASSERT_EQ(events().size(), 2u);
  EXPECT_EQ(events()[1].reason, "breaker half-open after 30s open: letting 3 probe calls through");
}

TEST_F(BreakerTest, ClosingIsAChangeEventFromTheBreaker) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  Succeed(sw, 3);
  Tick();
  const std::vector<ChangeEvent> e = events();
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[2].actor, "breaker");
  EXPECT_EQ(e[2].reason, "breaker closed: 3 of 3 probe calls succeeded");
  EXPECT_EQ(e[2].old_state, e[2].new_state);
  EXPECT_EQ(e[2].time, clock_.Now());
}

TEST_F(BreakerTest, OpeningUnderAnAdminOnIsStillAnEvent) {
  Switch& sw = Define();
  ASSERT_TRUE(registry_.SetOverride("dep", On()).ok());
  Trip(sw);
  const std::vector<ChangeEvent> e = events();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[1].actor, "breaker");
  EXPECT_EQ(e[1].layer, Layer::kAdmin);
  EXPECT_EQ(e[1].reason, "breaker open: 10 of 10 calls failed (100%) in the last 10s");
}

TEST_F(BreakerTest, OpeningIsLoggedAsAWarningWithTheWindow) {
  Switch& sw = Define();
  Trip(sw);
  bool found = false;
  for (const auto& [level, message] : logs()) {
    if (message.find("closed -> open") == std::string::npos) continue;
    found = true;
    EXPECT_EQ(level, LogLevel::kWarning);
    EXPECT_THAT(message, AllOf(HasSubstr("breaker dep"), HasSubstr("10 of 10 calls failed"),
                               HasSubstr("min_calls 10"), HasSubstr("probing again in 30s")));
  }
  EXPECT_TRUE(found);
}

TEST_F(BreakerTest, ClosingIsLoggedAsInfo) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  Succeed(sw, 3);
  Tick();
  bool found = false;
  for (const auto& [level, message] : logs()) {
    if (message.find("half_open -> closed") == std::string::npos) continue;
    found = true;
    EXPECT_EQ(level, LogLevel::kInfo);
  }
  EXPECT_TRUE(found);
}

TEST_F(BreakerTest, TransitionsAreCounted) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  Succeed(sw, 3);
  Tick();
  EXPECT_EQ(Breaker().transitions, 3u);
  EXPECT_EQ(Breaker().times_opened, 1u);
}

TEST_F(BreakerTest, ListingJsonHasTheBreaker) {
  Switch& sw = Define();
  Trip(sw);
  const std::string json = SwitchInfoToJson(Info());
  EXPECT_THAT(json, AllOf(HasSubstr(R"("breaker":{)"), HasSubstr(R"("state":"open")"),
                          HasSubstr(R"("open":true)"), HasSubstr(R"("next_probe_at":")"),
                          HasSubstr(R"("policy_layer":"default")"),
                          HasSubstr(R"("min_calls":10)")));
}

TEST_F(BreakerTest, ListingJsonHasNullWithoutABreaker) {
  Define(std::nullopt);
  EXPECT_THAT(SwitchInfoToJson(Info()), HasSubstr(R"("breaker":null)"));
}

// ------------------------------------------------------------------ real clock

TEST(BreakerThreadTest, RegistryThreadOpensWithTheRealClock) {
  Registry registry(QuietOptions());
  BreakerPolicy p = Policy();
  p.window_size = 1;
  Switch& sw = **registry.Define({.name = "dep", .breaker = p});
  for (int i = 0; i < 10; ++i) {
    (void)Call(sw, [] { return absl::InternalError("down"); }, [] { return absl::OkStatus(); });
  }
  // No ProcessBreakers here: the registry's thread ticks every 25 ms.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (sw.enabled() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_FALSE(sw.enabled());
  EXPECT_EQ(registry.Get("dep")->deciding_layer, Layer::kBreaker);
}

// ------------------------------------------------------------------ allocation

TEST_F(BreakerTest, ClosedBreakerCallNeverAllocates) {
  Switch& sw = Define();
  Succeed(sw, 1);  // the thread's counter block
  EXPECT_EQ(CountAllocations(100'000, [&] { Succeed(sw, 1); }), 0);
  // A failure whose Status carries no message, so the primary itself does
  // not allocate.
  auto fail = [&] {
    (void)Call(sw, [] { return absl::StatusOr<int>(absl::Status(absl::StatusCode::kUnavailable, "")); },
               [] { return absl::StatusOr<int>(0); });
  };
  EXPECT_EQ(CountAllocations(100'000, fail), 0);
}

TEST_F(BreakerTest, TimedCallNeverAllocates) {
  BreakerPolicy p = Policy();
  p.slow_call_ms = 100;
  Switch& sw = Define(p);
  SucceedSlowly(sw, 1, absl::Milliseconds(150));
  EXPECT_EQ(CountAllocations(10'000, [&] { SucceedSlowly(sw, 1, absl::Milliseconds(150)); }), 0);
}

TEST_F(BreakerTest, HalfOpenCallsNeverAllocate) {
  Switch& sw = Define();
  TripToHalfOpen(sw);
  EXPECT_EQ(CountAllocations(1000, [&] { Succeed(sw, 1); }), 0);  // 3 probes, then skips
}

}  // namespace
}  // namespace degrade
