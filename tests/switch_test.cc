// degrade::Switch: DEGRADE_SWITCH definitions in Registry::Global(), detached
// definitions, state() and enabled() (including the dimmer), and address
// stability of Registry::Define'd switches.
#include "degrade/switch.h"

#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_registry.h"

DEGRADE_SWITCH(kRecs, "switch-test.recs", "Personalized recs; the page renders without them.");
// Same name again: detached, with an error recorded; keeps its own default.
DEGRADE_SWITCH_SPEC(kRecsAgain, {.name = "switch-test.recs",
                                 .description = "A second definition of the same name.",
                                 .owner = "",
                                 .groups = {},
                                 .default_state = ::degrade::State::kOff,
                                 .default_allow = 1.0});
// Invalid name: detached, with an error recorded.
DEGRADE_SWITCH(kBadName, "Bad Name", "Not a valid switch name.");
DEGRADE_SWITCH_SPEC(kFull, {.name = "switch-test.full",
                            .description = "Every field of the spec.",
                            .owner = "recs-team",
                            .groups = {"switch-test-tier2", "switch-test-eu"},
                            .default_state = ::degrade::State::kOn,
                            .default_allow = 0.5});

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

using ::testing::ElementsAre;

// allow and rate are kept as a 32-bit threshold: x * 2^32, truncated.
constexpr double kQuantum = 1.0 / 4294967296.0;

bool AnyErrorContains(std::string_view a, std::string_view b) {
  for (const ErrorRecord& e : Registry::Global().errors()) {
    if (e.message.find(a) != std::string::npos && e.message.find(b) != std::string::npos) {
      return true;
    }
  }
  return false;
}

class SwitchTest : public ::testing::Test {
 protected:
  void TearDown() override { (void)Registry::Global().ClearOverride("switch-test.recs"); }

  static void Set(SwitchValue v) {
    absl::Status s = Registry::Global().SetOverride("switch-test.recs", std::move(v));
    ASSERT_TRUE(s.ok()) << s;
  }
  static SwitchValue Allow(double allow) {
    SwitchValue v;
    v.allow = allow;
    return v;
  }
  static SwitchValue StateValue(State state) {
    SwitchValue v;
    v.state = state;
    return v;
  }
};

// ------------------------------------------------------------------ DEGRADE_SWITCH

TEST_F(SwitchTest, DegradeSwitchIsRegisteredInTheGlobalRegistry) {
  EXPECT_TRUE(kRecs.registered());
  EXPECT_EQ(kRecs.registry(), &Registry::Global());
  EXPECT_EQ(kRecs.name(), "switch-test.recs");
  EXPECT_EQ(kRecs.description(), "Personalized recs; the page renders without them.");
}

TEST_F(SwitchTest, FindReturnsTheDegradeSwitch) {
  EXPECT_EQ(Registry::Global().Find("switch-test.recs"), &kRecs);
}

TEST_F(SwitchTest, DegradeSwitchIsListed) {
  absl::StatusOr<SwitchInfo> info = Registry::Global().Get("switch-test.recs");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->defined);
  EXPECT_EQ(info->description, "Personalized recs; the page renders without them.");
  EXPECT_EQ(info->env_var, "DEGRADE_SWITCH_TEST_RECS");
}

TEST_F(SwitchTest, DegradeSwitchSpecCarriesEveryField) {
  EXPECT_TRUE(kFull.registered());
  EXPECT_EQ(kFull.owner(), "recs-team");
  EXPECT_THAT(kFull.groups(), ElementsAre("switch-test-tier2", "switch-test-eu"));
  EXPECT_EQ(kFull.state().state, State::kOn);
  EXPECT_NEAR(kFull.state().allow, 0.5, kQuantum);
  EXPECT_EQ(Registry::Global().Get("switch-test.full")->owner, "recs-team");
}

TEST_F(SwitchTest, DuplicateDegradeSwitchIsDetached) {
  EXPECT_FALSE(kRecsAgain.registered());
  EXPECT_EQ(kRecsAgain.registry(), nullptr);
  EXPECT_EQ(kRecsAgain.name(), "switch-test.recs");
  EXPECT_EQ(Registry::Global().Find("switch-test.recs"), &kRecs);
}

TEST_F(SwitchTest, DuplicateDegradeSwitchRecordsAnErrorNamingTheName) {
  EXPECT_TRUE(AnyErrorContains("\"switch-test.recs\"", "already defined"));
}

TEST_F(SwitchTest, DuplicateDegradeSwitchKeepsItsOwnDefault) {
  EXPECT_FALSE(kRecsAgain.enabled());
  EXPECT_EQ(kRecsAgain.state().state, State::kOff);
  EXPECT_TRUE(kRecs.enabled());
}

TEST_F(SwitchTest, OverridesDoNotReachADetachedDuplicate) {
  Set(StateValue(State::kOn));
  EXPECT_TRUE(kRecs.enabled());
  EXPECT_FALSE(kRecsAgain.enabled());
}

TEST_F(SwitchTest, InvalidNameDegradeSwitchIsDetachedWithAnError) {
  EXPECT_FALSE(kBadName.registered());
  EXPECT_EQ(kBadName.registry(), nullptr);
  EXPECT_TRUE(kBadName.enabled());  // its default
  EXPECT_TRUE(AnyErrorContains("\"Bad Name\"", "detached"));
  EXPECT_EQ(Registry::Global().Find("Bad Name"), nullptr);
}

// ------------------------------------------------------------------ state()

TEST_F(SwitchTest, StateIsPlainOnByDefault) {
  const EffectiveState s = kRecs.state();
  EXPECT_EQ(s.state, State::kOn);
  EXPECT_EQ(s.allow, 1.0);
  EXPECT_FALSE(s.fault.has_value());
}

TEST_F(SwitchTest, StateReflectsAnOffOverride) {
  Set(StateValue(State::kOff));
  EXPECT_EQ(kRecs.state().state, State::kOff);
  EXPECT_FALSE(kRecs.enabled());
}

TEST_F(SwitchTest, StateIsBackOnWhenTheOverrideIsCleared) {
  Set(StateValue(State::kOff));
  ASSERT_TRUE(Registry::Global().ClearOverride("switch-test.recs").ok());
  EXPECT_EQ(kRecs.state().state, State::kOn);
  EXPECT_TRUE(kRecs.enabled());
}

TEST_F(SwitchTest, StateReflectsAllow) {
  Set(Allow(0.3));
  const EffectiveState s = kRecs.state();
  EXPECT_EQ(s.state, State::kOn);
  EXPECT_NEAR(s.allow, 0.3, kQuantum);
  EXPECT_LT(s.allow, 1.0);
}

TEST_F(SwitchTest, StateReflectsAFault) {
  SwitchValue v;
  v.fault = Fault{Fault::Kind::kError, 0.3, 5};
  Set(v);
  const EffectiveState s = kRecs.state();
  EXPECT_EQ(s.state, State::kOn);
  ASSERT_TRUE(s.fault.has_value());
  EXPECT_EQ(s.fault->kind, Fault::Kind::kError);
  EXPECT_NEAR(s.fault->rate, 0.3, kQuantum);
  EXPECT_EQ(s.fault->delay_ms, 5u);
}

TEST_F(SwitchTest, StateReflectsADelayFaultAtFullRate) {
  SwitchValue v;
  v.fault = Fault{Fault::Kind::kDelay, 1.0, 600'000};
  Set(v);
  ASSERT_TRUE(kRecs.state().fault.has_value());
  EXPECT_EQ(kRecs.state().fault->kind, Fault::Kind::kDelay);
  EXPECT_EQ(kRecs.state().fault->rate, 1.0);
  EXPECT_EQ(kRecs.state().fault->delay_ms, 600'000u);
}

TEST_F(SwitchTest, StateHasNoFaultWhenOff) {
  SwitchValue v;
  v.state = State::kOff;
  v.fault = Fault{Fault::Kind::kError, 1.0, 0};
  Set(v);
  EXPECT_EQ(kRecs.state().state, State::kOff);
  EXPECT_FALSE(kRecs.state().fault.has_value());
}

TEST_F(SwitchTest, StateWithAllowAndFaultKeepsBoth) {
  SwitchValue v;
  v.allow = 0.75;
  v.fault = Fault{Fault::Kind::kError, 0.5, 0};
  Set(v);
  const EffectiveState s = kRecs.state();
  EXPECT_NEAR(s.allow, 0.75, kQuantum);
  ASSERT_TRUE(s.fault.has_value());
  EXPECT_NEAR(s.fault->rate, 0.5, kQuantum);
}

// ------------------------------------------------------------------ enabled()

TEST_F(SwitchTest, EnabledIsTrueWhenOn) {
  Set(StateValue(State::kOn));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(kRecs.enabled());
}

TEST_F(SwitchTest, EnabledIsFalseWhenOff) {
  Set(StateValue(State::kOff));
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(kRecs.enabled());
}

TEST_F(SwitchTest, EnabledIsTrueWithAFaultConfigured) {
  SwitchValue v;
  v.fault = Fault{Fault::Kind::kError, 1.0, 0};
  Set(v);
  EXPECT_TRUE(kRecs.enabled());  // faults act only through Call
}

TEST_F(SwitchTest, EnabledWithAllowQuarterPassesAQuarterOfCalls) {
  Set(Allow(0.25));
  constexpr int kCalls = 100'000;
  int passed = 0;
  for (int i = 0; i < kCalls; ++i) passed += kRecs.enabled() ? 1 : 0;
  const double mean = kCalls * 0.25;
  const double sigma = std::sqrt(kCalls * 0.25 * 0.75);  // ~137
  EXPECT_NEAR(passed, mean, 5 * sigma);
}

TEST_F(SwitchTest, EnabledWithAllowZeroNeverPasses) {
  Set(Allow(0.0));
  EXPECT_EQ(kRecs.state().state, State::kOn);
  EXPECT_EQ(kRecs.state().allow, 0.0);
  int passed = 0;
  for (int i = 0; i < 100'000; ++i) passed += kRecs.enabled() ? 1 : 0;
  EXPECT_EQ(passed, 0);
}

TEST_F(SwitchTest, EnabledWithAllowOneAlwaysPasses) {
  Set(Allow(1.0));
  int passed = 0;
  for (int i = 0; i < 100'000; ++i) passed += kRecs.enabled() ? 1 : 0;
  EXPECT_EQ(passed, 100'000);
}

TEST_F(SwitchTest, EnabledWithAllowJustBelowOneAlmostAlwaysPasses) {
  Set(Allow(0.999));
  int passed = 0;
  for (int i = 0; i < 100'000; ++i) passed += kRecs.enabled() ? 1 : 0;
  // mean 99,900, sigma ~10
  EXPECT_GT(passed, 99'800);
  EXPECT_LT(passed, 100'000);
}

// ------------------------------------------------------------------ Registry::Define'd switches

TEST(DefinedSwitchTest, AddressIsStableAcrossManyLaterDefines) {
  Registry registry(QuietOptions());
  absl::StatusOr<Switch*> first = registry.Define(Spec("first"));
  ASSERT_TRUE(first.ok()) << first.status();
  Switch* const address = *first;
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(registry.Define(Spec("later." + std::to_string(i))).ok()) << i;
  }
  EXPECT_EQ(registry.Find("first"), address);
  EXPECT_EQ(address->name(), "first");
  SwitchValue off;
  off.state = State::kOff;
  ASSERT_TRUE(registry.SetOverride("first", off).ok());
  EXPECT_FALSE(address->enabled());
}

TEST(DefinedSwitchTest, EveryDefinedSwitchKeepsItsAddress) {
  Registry registry(QuietOptions());
  std::vector<Switch*> addresses;
  for (int i = 0; i < 500; ++i) {
    absl::StatusOr<Switch*> sw = registry.Define(Spec("s." + std::to_string(i)));
    ASSERT_TRUE(sw.ok()) << sw.status();
    addresses.push_back(*sw);
  }
  for (int i = 0; i < 500; ++i) {
    ASSERT_EQ(registry.Find("s." + std::to_string(i)), addresses[i]) << i;
    ASSERT_EQ(addresses[i]->name(), "s." + std::to_string(i));
  }
}

TEST(DefinedSwitchTest, DefinedSwitchBelongsToItsRegistry) {
  Registry registry(QuietOptions());
  absl::StatusOr<Switch*> sw = registry.Define(Spec("local"));
  ASSERT_TRUE(sw.ok());
  EXPECT_EQ((*sw)->registry(), &registry);
  EXPECT_EQ(Registry::Global().Find("local"), nullptr);
}

}  // namespace
}  // namespace degrade
