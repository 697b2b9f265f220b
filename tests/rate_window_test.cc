// RateWindow (lib/admin/rate_window.h): per-switch rates over the last
// minute, sampled by hand against a fake clock.
#include "admin/rate_window.h"

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/call.h"
#include "degrade/listing.h"
#include "degrade/registry.h"
#include "degrade/testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_registry.h"

namespace degrade::internal {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

class RateWindowTest : public ::testing::Test {
 protected:
  RateWindowTest() {
    Registry::Options o = QuietOptions(&clock_);
    o.timer_threads = false;
    registry_ = std::make_unique<Registry>(o);
    absl::StatusOr<Switch*> sw = registry_->Define(Spec("recs"));
    EXPECT_TRUE(sw.ok()) << sw.status();
    recs_ = *sw;
    rates_ = std::make_unique<RateWindow>(*registry_, RateWindow::Options{.thread = false});
  }

  // `n` calls through recs: every one ok, or every one a failure.
  void Calls(int n, bool fail) {
    for (int i = 0; i < n; ++i) {
      (void)Call(
          *recs_,
          [&]() -> absl::StatusOr<int> {
            if (fail) return absl::UnavailableError("down");
            return 1;
          },
          [] { return 0; });
    }
  }

  Counters Now() const { return registry_->Get("recs")->counters; }

  testing::FakeClock clock_;
  std::unique_ptr<Registry> registry_;
  Switch* recs_ = nullptr;
  std::unique_ptr<RateWindow> rates_;
};

TEST_F(RateWindowTest, NoRateWhileTheOnlySampleIsUnderASecondOld) {
  Calls(5, false);
  clock_.Advance(absl::Milliseconds(900));
  EXPECT_FALSE(rates_->RateOf("recs", Now()).has_value());
}

TEST_F(RateWindowTest, RateScalesTheDifferenceToOneMinuteOverTheCoveredTime) {
  clock_.Advance(absl::Seconds(30));
  Calls(20, false);
  Calls(10, true);
  const auto rate = rates_->RateOf("recs", Now());
  ASSERT_TRUE(rate.has_value());
  EXPECT_EQ(rate->covered, absl::Seconds(30));
  EXPECT_EQ(rate->calls_per_min, 60u);
  EXPECT_EQ(rate->failures_per_min, 20u);
  EXPECT_EQ(rate->fallbacks_per_min, 20u);
}

TEST_F(RateWindowTest, CallsOlderThanTheWindowDoNotCount) {
  Calls(100, true);  // before the first sample: in the totals only
  clock_.Advance(absl::Seconds(5));
  rates_->Sample();
  for (int i = 0; i < 11; ++i) {
    clock_.Advance(absl::Seconds(5));
    rates_->Sample();
  }
  Calls(30, true);  // after them
  clock_.Advance(absl::Seconds(5));  // 65 s since the first sample
  const auto rate = rates_->RateOf("recs", Now());
  ASSERT_TRUE(rate.has_value());
  EXPECT_EQ(rate->covered, absl::Seconds(60));
  EXPECT_EQ(rate->failures_per_min, 30u);
  EXPECT_EQ(Now().primary_failures, 130u);
}

TEST_F(RateWindowTest, AfterManySamplesTheRateStillCoversOneMinute) {
  // Many more samples than the ring holds: the oldest one left still
  // covers the whole minute, no more.
  for (int i = 0; i < 100; ++i) {
    clock_.Advance(absl::Seconds(5));
    rates_->Sample();
  }
  const auto rate = rates_->RateOf("recs", Now());
  ASSERT_TRUE(rate.has_value());
  EXPECT_EQ(rate->covered, absl::Seconds(60));
}

TEST_F(RateWindowTest, NoRateAfterTheClockJumpsPastTheWholeWindow) {
  clock_.Advance(absl::Minutes(5));
  EXPECT_FALSE(rates_->RateOf("recs", Now()).has_value());
}

TEST_F(RateWindowTest, SamplesStampedAfterNowAreNotUsed) {
  clock_.Advance(absl::Seconds(20));
  rates_->Sample();
  clock_.Advance(absl::Seconds(-10));  // the wall clock stepped back
  const auto rate = rates_->RateOf("recs", Now());
  ASSERT_TRUE(rate.has_value());
  EXPECT_EQ(rate->covered, absl::Seconds(10));  // the first sample's
}

TEST_F(RateWindowTest, ListingGetsRate1mWithItsWindow) {
  clock_.Advance(absl::Seconds(15));
  Calls(3, true);
  nlohmann::json listing = {
      {"switches", nlohmann::json::array({nlohmann::json::parse(SwitchInfoToJson(
                       *registry_->Get("recs")))})}};
  rates_->AddToListing(listing);
  EXPECT_EQ(listing["switches"][0]["rate_1m"],
            nlohmann::json::parse(R"({"calls":12,"fallbacks":12,"failures":12,"window_s":15.0})"));
}

TEST_F(RateWindowTest, NameNotDefinedHereGetsNullRate) {
  clock_.Advance(absl::Seconds(15));
  nlohmann::json entry = {{"name", "legacy.widget"},
                          {"defined", false},
                          {"counters", {{"calls", 0}, {"fallbacks", 0}, {"primary_failures", 0}}}};
  rates_->AddTo(entry);
  ASSERT_TRUE(entry.contains("rate_1m"));
  EXPECT_TRUE(entry["rate_1m"].is_null());
}

TEST_F(RateWindowTest, SwitchDefinedAfterTheLastSampleGetsNullRate) {
  ASSERT_TRUE(registry_->Define(Spec("late")).ok());
  clock_.Advance(absl::Seconds(15));
  EXPECT_FALSE(rates_->RateOf("late", Counters{}).has_value());
}

}  // namespace
}  // namespace degrade::internal
