// degrade::Call: skip, primary shapes, failures, exceptions, faults, counters.
#include "degrade/call.h"

#include <chrono>
#include <stdexcept>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "degrade/registry.h"
#include "gtest/gtest.h"
#include "test_registry.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

class CallTest : public ::testing::Test {
 protected:
  CallTest() {
    registry_ = std::make_unique<Registry>(QuietOptions());
    sw_ = *registry_->Define({.name = "dep", .description = "a dependency"});
  }

  void Set(State state) {
    SwitchValue v;
    v.state = state;
    ASSERT_TRUE(registry_->SetOverride("dep", v).ok());
  }
  void SetFault(Fault::Kind kind, double rate, uint32_t delay_ms = 0) {
    SwitchValue v;
    v.fault = Fault{kind, rate, delay_ms};
    ASSERT_TRUE(registry_->SetOverride("dep", v).ok());
  }
  Counters counters() { return registry_->Get("dep")->counters; }

  std::unique_ptr<Registry> registry_;
  Switch* sw_ = nullptr;
};

TEST_F(CallTest, OnRunsPrimaryAndReturnsItsValue) {
  int primary_runs = 0;
  const int got = Call(*sw_, [&] { ++primary_runs; return 7; }, [] { return -1; });
  EXPECT_EQ(got, 7);
  EXPECT_EQ(primary_runs, 1);
}

TEST_F(CallTest, OffSkipsPrimaryAndRunsFallback) {
  Set(State::kOff);
  int primary_runs = 0;
  const int got = Call(*sw_, [&] { ++primary_runs; return 7; }, [] { return -1; });
  EXPECT_EQ(got, -1);
  EXPECT_EQ(primary_runs, 0);
  const Counters c = counters();
  EXPECT_EQ(c.calls, 1u);
  EXPECT_EQ(c.skipped, 1u);
  EXPECT_EQ(c.fallbacks, 1u);
  EXPECT_EQ(c.primary_ok, 0u);
}

TEST_F(CallTest, StatusOrPrimaryOkUnwrapsIntoFallbackType) {
  const std::string got = Call(
      *sw_, [] { return absl::StatusOr<std::string>("fresh"); }, [] { return std::string("stale"); });
  EXPECT_EQ(got, "fresh");
  EXPECT_EQ(counters().primary_ok, 1u);
}

TEST_F(CallTest, StatusOrPrimaryErrorRunsFallbackAndCountsFailure) {
  const std::string got = Call(
      *sw_, [] { return absl::StatusOr<std::string>(absl::UnavailableError("down")); },
      [] { return std::string("stale"); });
  EXPECT_EQ(got, "stale");
  const Counters c = counters();
  EXPECT_EQ(c.primary_failures, 1u);
  EXPECT_EQ(c.fallbacks, 1u);
  EXPECT_EQ(c.calls, 1u);
}

TEST_F(CallTest, StatusOrFallbackTypeKeepsPrimaryStatusOr) {
  absl::StatusOr<int> got =
      Call(*sw_, [] { return absl::StatusOr<int>(3); }, [] { return absl::StatusOr<int>(0); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 3);
}

TEST_F(CallTest, StatusPrimaryErrorRunsStatusFallback) {
  absl::Status got = Call(*sw_, [] { return absl::InternalError("boom"); },
                          [] { return absl::OkStatus(); });
  EXPECT_TRUE(got.ok());
  EXPECT_EQ(counters().primary_failures, 1u);
}

TEST_F(CallTest, StatusPrimaryOkIsReturned) {
  bool fallback_ran = false;
  absl::Status got = Call(*sw_, [] { return absl::OkStatus(); },
                          [&] { fallback_ran = true; return absl::CancelledError("fb"); });
  EXPECT_TRUE(got.ok());
  EXPECT_FALSE(fallback_ran);
}

TEST_F(CallTest, VoidPrimaryAndFallback) {
  int primary = 0, fallback = 0;
  Call(*sw_, [&] { ++primary; }, [&] { ++fallback; });
  Set(State::kOff);
  Call(*sw_, [&] { ++primary; }, [&] { ++fallback; });
  EXPECT_EQ(primary, 1);
  EXPECT_EQ(fallback, 1);
}

TEST_F(CallTest, ThrowingPrimaryRunsFallbackAndCountsFailure) {
  const int got = Call(*sw_, []() -> int { throw std::runtime_error("vendor 5xx"); },
                       [] { return -1; });
  EXPECT_EQ(got, -1);
  EXPECT_EQ(counters().primary_failures, 1u);
}

TEST_F(CallTest, ThrowingFallbackPropagates) {
  Set(State::kOff);
  EXPECT_THROW(Call(*sw_, [] { return 1; }, []() -> int { throw std::logic_error("fb"); }),
               std::logic_error);
}

TEST_F(CallTest, ErrorFaultAtRateOneNeverRunsPrimary) {
  SetFault(Fault::Kind::kError, 1.0);
  int primary_runs = 0;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(Call(*sw_, [&] { ++primary_runs; return 1; }, [] { return -1; }), -1);
  }
  EXPECT_EQ(primary_runs, 0);
  const Counters c = counters();
  EXPECT_EQ(c.injected_faults, 100u);
  EXPECT_EQ(c.fallbacks, 100u);
  EXPECT_EQ(c.calls, 100u);
}

TEST_F(CallTest, ErrorFaultRateIsWithinBinomialBounds) {
  SetFault(Fault::Kind::kError, 0.3);
  constexpr int kN = 100'000;
  int fallbacks = 0;
  for (int i = 0; i < kN; ++i) fallbacks += Call(*sw_, [] { return 0; }, [] { return 1; });
  // 5 sigma of Binomial(100000, 0.3) is about 725.
  EXPECT_NEAR(fallbacks, 30'000, 725);
  EXPECT_EQ(counters().injected_faults, static_cast<uint64_t>(fallbacks));
}

TEST_F(CallTest, ZeroRateFaultNeverFires) {
  SetFault(Fault::Kind::kError, 0.0);
  int fallbacks = 0;
  for (int i = 0; i < 10'000; ++i) fallbacks += Call(*sw_, [] { return 0; }, [] { return 1; });
  EXPECT_EQ(fallbacks, 0);
}

TEST_F(CallTest, DelayFaultDelaysThenRunsPrimary) {
  SetFault(Fault::Kind::kDelay, 1.0, 30);
  const auto start = std::chrono::steady_clock::now();
  const int got = Call(*sw_, [] { return 5; }, [] { return -1; });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(got, 5);
  EXPECT_GE(elapsed, std::chrono::milliseconds(30));
  const Counters c = counters();
  EXPECT_EQ(c.injected_faults, 1u);
  EXPECT_EQ(c.primary_ok, 1u);
  EXPECT_EQ(c.fallbacks, 0u);
  EXPECT_EQ(c.calls, 1u);
}

TEST_F(CallTest, FaultIgnoredByEnabled) {
  SetFault(Fault::Kind::kError, 1.0);
  EXPECT_TRUE(sw_->enabled());
}

TEST_F(CallTest, FaultDoesNotApplyWhileOff) {
  SwitchValue v;
  v.state = State::kOff;
  v.fault = Fault{Fault::Kind::kError, 1.0, 0};
  ASSERT_TRUE(registry_->SetOverride("dep", v).ok());
  Call(*sw_, [] { return 1; }, [] { return 0; });
  const Counters c = counters();
  EXPECT_EQ(c.skipped, 1u);
  EXPECT_EQ(c.injected_faults, 0u);
}

TEST_F(CallTest, DimmerLetsThroughAboutAllowFraction) {
  SwitchValue v;
  v.allow = 0.25;
  ASSERT_TRUE(registry_->SetOverride("dep", v).ok());
  constexpr int kN = 100'000;
  int primaries = 0;
  for (int i = 0; i < kN; ++i) primaries += Call(*sw_, [] { return 1; }, [] { return 0; });
  // 5 sigma of Binomial(100000, 0.25) is about 685.
  EXPECT_NEAR(primaries, 25'000, 685);
  const Counters c = counters();
  EXPECT_EQ(c.primary_ok, static_cast<uint64_t>(primaries));
  EXPECT_EQ(c.skipped, static_cast<uint64_t>(kN - primaries));
}

TEST_F(CallTest, CountersAddUpAcrossOutcomes) {
  Call(*sw_, [] { return 1; }, [] { return 0; });                                   // ok
  Call(*sw_, [] { return absl::StatusOr<int>(absl::AbortedError("x")); }, [] { return 0; });  // failed
  Set(State::kOff);
  Call(*sw_, [] { return 1; }, [] { return 0; });  // skipped
  const Counters c = counters();
  EXPECT_EQ(c.calls, 3u);
  EXPECT_EQ(c.primary_ok, 1u);
  EXPECT_EQ(c.primary_failures, 1u);
  EXPECT_EQ(c.skipped, 1u);
  EXPECT_EQ(c.fallbacks, 2u);
  EXPECT_EQ(c.calls, c.primary_ok + c.fallbacks);
}

TEST_F(CallTest, CountsFromExitedThreadsAreKept) {
  Set(State::kOff);
  std::thread t([&] {
    for (int i = 0; i < 1000; ++i) Call(*sw_, [] { return 1; }, [] { return 0; });
  });
  t.join();
  EXPECT_EQ(counters().skipped, 1000u);
}

TEST_F(CallTest, SwitchIdReuseStartsCountersAtZero) {
  Set(State::kOff);
  for (int i = 0; i < 10; ++i) Call(*sw_, [] { return 1; }, [] { return 0; });
  registry_.reset();  // releases the id
  Registry::Options options;
  options.getenv = NoEnv;
  Registry fresh(std::move(options));
  Switch* again = *fresh.Define({.name = "dep2", .description = "reuses the id"});
  EXPECT_EQ(fresh.Get("dep2")->counters.calls, 0u);
  Call(*again, [] { return 1; }, [] { return 0; });
  EXPECT_EQ(fresh.Get("dep2")->counters.calls, 1u);
}

}  // namespace
}  // namespace degrade
