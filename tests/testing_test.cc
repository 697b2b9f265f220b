// degrade/testing.h: ScopedOverride, ScopedAllOff and FakeClock.
#include "degrade/testing.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "degrade/switch.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_registry.h"

// In Registry::Global(). The second and third are detached on purpose: a
// duplicate name and an invalid one (each logs one error line to stderr).
DEGRADE_SWITCH(kGlobalRecs, "testing-test.recs", "Recs, for ScopedAllOff on the global registry.");
DEGRADE_SWITCH(kGlobalDup, "testing-test.dup", "Registered.");
DEGRADE_SWITCH(kGlobalDupAgain, "testing-test.dup", "Detached: same name.");
DEGRADE_SWITCH(kGlobalBadName, "Bad Name", "Detached: invalid name.");

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

SwitchValue Value(std::optional<State> state, std::string reason = "", std::string actor = "") {
  SwitchValue v;
  v.state = state;
  v.reason = std::move(reason);
  v.actor = std::move(actor);
  return v;
}

class ScopedTest : public ::testing::Test {
 protected:
  ScopedTest()
      : registry_(Registry::Options{
            .clock = &clock_,
            .getenv = env_.Getenv(),
            .log_sink = [](LogLevel, std::string_view) {},
            .timer_threads = false,
        }) {}

  Switch& Define(SwitchSpec spec) {
    absl::StatusOr<Switch*> sw = registry_.Define(std::move(spec));
    EXPECT_TRUE(sw.ok()) << sw.status();
    return **sw;
  }

  std::optional<SwitchValue> AdminEntry(const std::string& name) {
    const Snapshot admin = registry_.LayerSnapshot(Layer::kAdmin);
    auto it = admin.switches.find(name);
    if (it == admin.switches.end()) return std::nullopt;
    return it->second;
  }

  std::string Effective(std::string_view name) {
    return DescribeState(registry_.Get(name)->effective);
  }

  testing::FakeClock clock_;
  test_util::FakeEnv env_;
  Registry registry_;
};

// ------------------------------------------------------------------ ScopedOverride

TEST_F(ScopedTest, ScopedOverrideTurnsSwitchOffForItsScope) {
  Switch& sw = Define(Spec("recs"));
  {
    testing::ScopedOverride off(sw, State::kOff);
    EXPECT_TRUE(off.ok());
    EXPECT_FALSE(sw.enabled());
    EXPECT_EQ(registry_.Get("recs")->deciding_layer, Layer::kAdmin);
  }
  EXPECT_TRUE(sw.enabled());
  EXPECT_EQ(registry_.Get("recs")->deciding_layer, Layer::kDefault);
}

TEST_F(ScopedTest, ScopedOverrideRestoresNoEntry) {
  Switch& sw = Define(Spec("recs"));
  { testing::ScopedOverride off(sw, State::kOff); }
  EXPECT_FALSE(AdminEntry("recs").has_value());
  EXPECT_TRUE(registry_.LayerSnapshot(Layer::kAdmin).empty());
}

TEST_F(ScopedTest, ScopedOverrideRestoresThePreviousAdminEntryExactly) {
  Switch& sw = Define(Spec("recs"));
  SwitchValue previous = Value(std::nullopt, "INC-7 dimmed", "oncall");
  previous.allow = 0.5;
  previous.expires_at = clock_.Now() + absl::Hours(2);
  ASSERT_TRUE(registry_.SetOverride("recs", previous).ok());
  const std::optional<SwitchValue> before = AdminEntry("recs");
  ASSERT_TRUE(before.has_value());
  {
    testing::ScopedOverride off(sw, State::kOff);
    EXPECT_FALSE(sw.enabled());
  }
  EXPECT_EQ(AdminEntry("recs"), before);
  EXPECT_EQ(Effective("recs"), "on allow=0.5");
  EXPECT_EQ(registry_.Get("recs")->reason, "INC-7 dimmed");
}

TEST_F(ScopedTest, ScopedOverrideLeavesLowerLayersAlone) {
  Switch& sw = Define(Spec("recs"));
  Snapshot file;
  file.switches["recs"] = Value(State::kOff);
  ASSERT_TRUE(registry_.ApplySnapshot(Layer::kFile, file, "file").ok());
  {
    testing::ScopedOverride on(sw, State::kOn);
    EXPECT_TRUE(sw.enabled());
  }
  EXPECT_FALSE(sw.enabled());
  EXPECT_EQ(registry_.Get("recs")->deciding_layer, Layer::kFile);
  EXPECT_EQ(registry_.LayerSnapshot(Layer::kFile), file);
}

TEST_F(ScopedTest, NestedScopedOverridesRestoreInOrder) {
  Switch& sw = Define(Spec("recs"));
  {
    testing::ScopedOverride outer(sw, State::kOff);
    {
      SwitchValue dimmed;
      dimmed.allow = 0.25;
      testing::ScopedOverride inner(sw, dimmed);
      EXPECT_EQ(Effective("recs"), "on allow=0.25");
    }
    EXPECT_EQ(Effective("recs"), "off");
    ASSERT_TRUE(AdminEntry("recs").has_value());
    EXPECT_EQ(AdminEntry("recs")->state, State::kOff);
  }
  EXPECT_EQ(Effective("recs"), "on");
  EXPECT_FALSE(AdminEntry("recs").has_value());
}

TEST_F(ScopedTest, ScopedOverrideWithValueSetsAllowAndFault) {
  Switch& sw = Define(Spec("recs"));
  SwitchValue v;
  v.allow = 0.5;
  v.fault = Fault{Fault::Kind::kDelay, 1.0, 250};
  {
    testing::ScopedOverride drill(sw, v);
    EXPECT_TRUE(drill.ok());
    EXPECT_EQ(Effective("recs"), "on allow=0.5 fault=delay rate=1 delay_ms=250");
    ASSERT_TRUE(sw.state().fault.has_value());
    EXPECT_EQ(sw.state().fault->delay_ms, 250u);
  }
  EXPECT_EQ(Effective("recs"), "on");
}

TEST_F(ScopedTest, ScopedOverrideWithInvalidValueIsNotOkAndChangesNothing) {
  Switch& sw = Define(Spec("recs"));
  ASSERT_TRUE(registry_.SetOverride("recs", Value(State::kOff, "keep me", "ops")).ok());
  const std::optional<SwitchValue> before = AdminEntry("recs");
  {
    SwitchValue bad;
    bad.allow = 1.5;
    testing::ScopedOverride invalid(sw, bad);
    EXPECT_FALSE(invalid.ok());
    EXPECT_FALSE(sw.enabled());
  }
  // The failed override must not "restore" anything on exit either.
  EXPECT_EQ(AdminEntry("recs"), before);
  EXPECT_FALSE(sw.enabled());
}

TEST_F(ScopedTest, ScopedOverrideOnDetachedSwitchDoesNothing) {
  ASSERT_FALSE(kGlobalBadName.registered());
  const EffectiveState before = kGlobalBadName.state();
  const Snapshot admin_before = Registry::Global().LayerSnapshot(Layer::kAdmin);
  {
    testing::ScopedOverride off(kGlobalBadName, State::kOff);
    EXPECT_FALSE(off.ok());
    EXPECT_EQ(kGlobalBadName.state(), before);
    EXPECT_TRUE(kGlobalBadName.enabled());
  }
  EXPECT_EQ(kGlobalBadName.state(), before);
  EXPECT_EQ(Registry::Global().LayerSnapshot(Layer::kAdmin), admin_before);
}

TEST_F(ScopedTest, ScopedOverrideOnDuplicateDetachedSwitchLeavesTheRegisteredOneAlone) {
  ASSERT_TRUE(kGlobalDup.registered());
  ASSERT_FALSE(kGlobalDupAgain.registered());
  {
    testing::ScopedOverride off(kGlobalDupAgain, State::kOff);
    EXPECT_FALSE(off.ok());
    EXPECT_TRUE(kGlobalDup.enabled());
    EXPECT_TRUE(kGlobalDupAgain.enabled());
  }
  EXPECT_FALSE(Registry::Global().LayerSnapshot(Layer::kAdmin).switches.contains("testing-test.dup"));
}

TEST_F(ScopedTest, ScopedOverrideOnGlobalSwitch) {
  ASSERT_TRUE(kGlobalDup.registered());
  {
    testing::ScopedOverride off(kGlobalDup, State::kOff);
    EXPECT_TRUE(off.ok());
    EXPECT_FALSE(kGlobalDup.enabled());
  }
  EXPECT_TRUE(kGlobalDup.enabled());
}

// ------------------------------------------------------------------ ScopedAllOff

TEST_F(ScopedTest, ScopedAllOffTurnsEverySwitchOff) {
  env_.Set("DEGRADE_FROM_ENV", "on");
  Switch& plain = Define(Spec("plain"));
  Switch& admin_on = Define(Spec("admin.on"));
  Switch& group_on = Define(Spec("tier1.member", {"tier1"}));
  Switch& remote_on = Define(Spec("remote.on"));
  Switch& from_env = Define(Spec("from.env"));
  SwitchSpec dimmed_spec = Spec("dimmed");
  dimmed_spec.default_allow = 0.5;
  Switch& dimmed = Define(dimmed_spec);
  ASSERT_TRUE(registry_.SetOverride("admin.on", Value(State::kOn)).ok());
  Snapshot admin = registry_.LayerSnapshot(Layer::kAdmin);
  admin.groups["tier1"] = Value(State::kOn);
  ASSERT_TRUE(registry_.ApplySnapshot(Layer::kAdmin, admin, "admin").ok());
  Snapshot remote;
  remote.switches["remote.on"] = Value(State::kOn);
  ASSERT_TRUE(registry_.ApplySnapshot(Layer::kRemote, remote, "remote").ok());
  ASSERT_TRUE(admin_on.enabled());
  ASSERT_TRUE(group_on.enabled());
  {
    testing::ScopedAllOff all_off(registry_);
    for (Switch* sw : {&plain, &admin_on, &group_on, &remote_on, &from_env, &dimmed}) {
      EXPECT_FALSE(sw->enabled()) << sw->name();
      EXPECT_EQ(sw->state().state, State::kOff) << sw->name();
      EXPECT_EQ(registry_.Get(sw->name())->deciding_layer, Layer::kAdmin) << sw->name();
    }
  }
}

TEST_F(ScopedTest, ScopedAllOffRestoresTheAdminLayerExactly) {
  Define(Spec("a", {"tier2"}));
  Define(Spec("b"));
  Snapshot admin;
  admin.switches["a"] = Value(State::kOn, "pinned", "ops");
  admin.switches["a"].expires_at = clock_.Now() + absl::Hours(1);
  admin.groups["tier2"] = Value(std::nullopt, "dimmed", "ops");
  admin.groups["tier2"].allow = 0.5;
  SwitchValue fault_only;
  fault_only.fault = Fault{Fault::Kind::kError, 0.25, 0};
  admin.switches["b"] = fault_only;
  ASSERT_TRUE(registry_.ApplySnapshot(Layer::kAdmin, admin, "admin").ok());
  const Snapshot before = registry_.LayerSnapshot(Layer::kAdmin);
  { testing::ScopedAllOff all_off(registry_); }
  EXPECT_EQ(registry_.LayerSnapshot(Layer::kAdmin), before);
  EXPECT_EQ(Effective("a"), "on");
  EXPECT_EQ(Effective("b"), "on fault=error rate=0.25");
}

TEST_F(ScopedTest, ScopedAllOffRestoresAnEmptyAdminLayer) {
  Switch& sw = Define(Spec("a"));
  { testing::ScopedAllOff all_off(registry_); }
  EXPECT_TRUE(registry_.LayerSnapshot(Layer::kAdmin).empty());
  EXPECT_TRUE(sw.enabled());
  EXPECT_EQ(registry_.Get("a")->deciding_layer, Layer::kDefault);
}

TEST_F(ScopedTest, ScopedAllOffCoversSwitchesDefinedInsideIt) {
  testing::ScopedAllOff all_off(registry_);
  Switch& late = Define(Spec("late"));
  EXPECT_FALSE(late.enabled());
}

TEST_F(ScopedTest, ScopedAllOffUsesTheGlobalRegistryByDefault) {
  ASSERT_TRUE(kGlobalRecs.registered());
  ASSERT_TRUE(kGlobalRecs.enabled());
  {
    testing::ScopedAllOff all_off;
    EXPECT_FALSE(kGlobalRecs.enabled());
    EXPECT_FALSE(kGlobalDup.enabled());
  }
  EXPECT_TRUE(kGlobalRecs.enabled());
  EXPECT_TRUE(kGlobalDup.enabled());
}

// ------------------------------------------------------------------ FakeClock

TEST(FakeClockTest, StartsAtTheGivenTime) {
  const absl::Time start = absl::FromUnixSeconds(1'234'567'890);
  testing::FakeClock clock(start);
  EXPECT_EQ(clock.Now(), start);
}

TEST(FakeClockTest, DefaultStartIsFixed) {
  testing::FakeClock clock;
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1'800'000'000));
}

TEST(FakeClockTest, DoesNotMoveByItself) {
  testing::FakeClock clock;
  const absl::Time t = clock.Now();
  EXPECT_EQ(clock.Now(), t);
}

TEST(FakeClockTest, AdvanceMovesForwardByExactlyTheDuration) {
  testing::FakeClock clock;
  const absl::Time start = clock.Now();
  clock.Advance(absl::Milliseconds(1500));
  EXPECT_EQ(clock.Now(), start + absl::Milliseconds(1500));
  clock.Advance(absl::Nanoseconds(1));
  EXPECT_EQ(clock.Now(), start + absl::Milliseconds(1500) + absl::Nanoseconds(1));
}

TEST(FakeClockTest, SetJumpsToTheGivenTimeEvenBackwards) {
  testing::FakeClock clock;
  const absl::Time later = clock.Now() + absl::Hours(5);
  clock.Set(later);
  EXPECT_EQ(clock.Now(), later);
  const absl::Time earlier = absl::FromUnixSeconds(1'000'000'000);
  clock.Set(earlier);
  EXPECT_EQ(clock.Now(), earlier);
}

TEST(FakeClockTest, WorksThroughTheClockInterface) {
  testing::FakeClock fake;
  Clock& clock = fake;
  fake.Advance(absl::Seconds(3));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1'800'000'003));
}

}  // namespace
}  // namespace degrade
