// Expiry: admin overrides with a TTL, entries with expires_at in other
// layers, and (once, with the real clock) the registry's own expiry timer.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "degrade/switch.h"
#include "degrade/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_registry.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

using ::testing::IsEmpty;

SwitchValue OffUntil(absl::Time t) {
  SwitchValue v = Off("until");
  v.expires_at = t;
  return v;
}

class ExpiryTest : public ::testing::Test {
 protected:
  ExpiryTest()
      : registry_(Registry::Options{
            .clock = &clock_,
            .getenv = NoEnv,
            .log_sink = [](LogLevel, std::string_view) {},
            .timer_threads = false,
        }) {}

  Switch* Define(SwitchSpec spec) {
    absl::StatusOr<Switch*> sw = registry_.Define(std::move(spec));
    EXPECT_TRUE(sw.ok()) << sw.status();
    return sw.ok() ? *sw : nullptr;
  }

  void Record() {
    registry_.AddListener([this](const ChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    });
  }
  std::vector<ChangeEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

  void Apply(Layer layer, const std::string& name, SwitchValue value) {
    Snapshot s;
    s.switches[name] = std::move(value);
    absl::Status status = registry_.ApplySnapshot(layer, std::move(s), "test");
    ASSERT_TRUE(status.ok()) << status;
  }

  SwitchInfo Info(std::string_view name) {
    absl::StatusOr<SwitchInfo> info = registry_.Get(name);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? *info : SwitchInfo{};
  }

  testing::FakeClock clock_;
  Registry registry_;
  std::mutex mu_;
  std::vector<ChangeEvent> events_;
};

// ------------------------------------------------------------------ admin TTL

TEST_F(ExpiryTest, OverrideWithTtlExpiresToTheLowerLayer) {
  Switch* sw = Define(Spec("recs"));
  Apply(Layer::kFile, "recs", Allow(0.5));
  ASSERT_TRUE(registry_.SetOverride("recs", Off("drill"), absl::Seconds(30)).ok());
  ASSERT_FALSE(sw->enabled());
  clock_.Advance(absl::Seconds(30));
  registry_.ProcessExpiries();
  EXPECT_EQ(sw->state().state, State::kOn);
  EXPECT_NEAR(sw->state().allow, 0.5, 1e-9);
  const SwitchInfo info = Info("recs");
  EXPECT_EQ(DescribeState(info.effective), "on allow=0.5");
  EXPECT_EQ(info.deciding_layer, Layer::kFile);
  EXPECT_FALSE(info.expires_at.has_value());
}

TEST_F(ExpiryTest, ExpiredOverrideIsRemovedFromTheAdminLayer) {
  Define(Spec("recs"));
  Define(Spec("other"));
  ASSERT_TRUE(registry_.SetOverride("recs", Off(), absl::Seconds(30)).ok());
  ASSERT_TRUE(registry_.SetOverride("other", Off()).ok());  // no TTL: stays
  clock_.Advance(absl::Seconds(31));
  registry_.ProcessExpiries();
  const Snapshot admin = registry_.LayerSnapshot(Layer::kAdmin);
  EXPECT_FALSE(admin.switches.contains("recs"));
  EXPECT_TRUE(admin.switches.contains("other"));
}

TEST_F(ExpiryTest, ExpiryDeliversAnEventWithTheLayerChange) {
  Define(Spec("recs"));
  Apply(Layer::kRemote, "recs", Allow(0.25));
  ASSERT_TRUE(registry_.SetOverride("recs", Off(), absl::Minutes(5)).ok());
  Record();
  clock_.Advance(absl::Minutes(5));
  registry_.ProcessExpiries();
  const std::vector<ChangeEvent> got = events();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].name, "recs");
  EXPECT_EQ(DescribeState(got[0].old_state), "off");
  EXPECT_EQ(DescribeState(got[0].new_state), "on allow=0.25");
  EXPECT_EQ(got[0].old_layer, Layer::kAdmin);
  EXPECT_EQ(got[0].layer, Layer::kRemote);
  EXPECT_EQ(got[0].time, clock_.Now());
}

TEST_F(ExpiryTest, OverrideDoesNotExpireBeforeItsTtl) {
  Switch* sw = Define(Spec("recs"));
  ASSERT_TRUE(registry_.SetOverride("recs", Off(), absl::Seconds(30)).ok());
  Record();
  clock_.Advance(absl::Seconds(30) - absl::Milliseconds(1));
  registry_.ProcessExpiries();
  EXPECT_FALSE(sw->enabled());
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kAdmin);
  EXPECT_TRUE(registry_.LayerSnapshot(Layer::kAdmin).switches.contains("recs"));
  EXPECT_THAT(events(), IsEmpty());
}

TEST_F(ExpiryTest, ExpiryNeedsProcessExpiriesWithoutTimerThreads) {
  Switch* sw = Define(Spec("recs"));
  ASSERT_TRUE(registry_.SetOverride("recs", Off(), absl::Seconds(1)).ok());
  clock_.Advance(absl::Hours(1));
  // Without timer threads the state moves when the test says so.
  EXPECT_FALSE(sw->enabled());
  registry_.ProcessExpiries();
  EXPECT_TRUE(sw->enabled());
}

TEST_F(ExpiryTest, NewOverrideReplacesTheTtlOfThePreviousOne) {
  Switch* sw = Define(Spec("recs"));
  ASSERT_TRUE(registry_.SetOverride("recs", Off(), absl::Seconds(10)).ok());
  ASSERT_TRUE(registry_.SetOverride("recs", Off()).ok());  // no TTL now
  clock_.Advance(absl::Minutes(1));
  registry_.ProcessExpiries();
  EXPECT_FALSE(sw->enabled());
  EXPECT_TRUE(registry_.LayerSnapshot(Layer::kAdmin).switches.contains("recs"));
}

TEST_F(ExpiryTest, ProcessExpiriesWithNothingDueChangesNothing) {
  Switch* sw = Define(Spec("recs"));
  ASSERT_TRUE(registry_.SetOverride("recs", Off()).ok());
  Record();
  clock_.Advance(absl::Hours(24));
  registry_.ProcessExpiries();
  EXPECT_FALSE(sw->enabled());
  EXPECT_THAT(events(), IsEmpty());
}

// ------------------------------------------------------------------ expires_at in other layers

TEST_F(ExpiryTest, FileEntryIsIgnoredAfterItsExpiryButTheSnapshotRemains) {
  Switch* sw = Define(Spec("recs"));
  const absl::Time until = clock_.Now() + absl::Minutes(1);
  Apply(Layer::kFile, "recs", OffUntil(until));
  ASSERT_FALSE(sw->enabled());
  EXPECT_EQ(Info("recs").expires_at, until);
  clock_.Advance(absl::Minutes(1) + absl::Seconds(1));
  registry_.ProcessExpiries();
  EXPECT_TRUE(sw->enabled());
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kDefault);
  const Snapshot file = registry_.LayerSnapshot(Layer::kFile);
  ASSERT_TRUE(file.switches.contains("recs"));
  EXPECT_EQ(file.switches.at("recs").expires_at, until);
}

TEST_F(ExpiryTest, FileEntryExpiryDeliversAnEvent) {
  Define(Spec("recs"));
  Apply(Layer::kFile, "recs", OffUntil(clock_.Now() + absl::Minutes(1)));
  Record();
  clock_.Advance(absl::Minutes(2));
  registry_.ProcessExpiries();
  const std::vector<ChangeEvent> got = events();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].old_layer, Layer::kFile);
  EXPECT_EQ(got[0].layer, Layer::kDefault);
  EXPECT_EQ(DescribeState(got[0].new_state), "on");
}

TEST_F(ExpiryTest, ExpiredGroupEntryIsIgnored) {
  Switch* sw = Define(Spec("recs", {"tier2"}));
  Snapshot remote;
  remote.groups["tier2"] = OffUntil(clock_.Now() + absl::Seconds(10));
  ASSERT_TRUE(registry_.ApplySnapshot(Layer::kRemote, remote, "remote").ok());
  ASSERT_FALSE(sw->enabled());
  clock_.Advance(absl::Seconds(11));
  registry_.ProcessExpiries();
  EXPECT_TRUE(sw->enabled());
}

TEST_F(ExpiryTest, ExpiredAllEntryIsIgnored) {
  Switch* sw = Define(Spec("recs"));
  Snapshot remote;
  remote.all = OffUntil(clock_.Now() + absl::Seconds(10));
  ASSERT_TRUE(registry_.ApplySnapshot(Layer::kRemote, remote, "remote").ok());
  ASSERT_FALSE(sw->enabled());
  clock_.Advance(absl::Seconds(11));
  registry_.ProcessExpiries();
  EXPECT_TRUE(sw->enabled());
}

TEST_F(ExpiryTest, ExpiredSwitchEntryRevealsTheGroupEntryOfTheSameLayer) {
  Switch* sw = Define(Spec("recs", {"tier2"}));
  Snapshot remote;
  remote.switches["recs"] = OffUntil(clock_.Now() + absl::Seconds(10));
  remote.groups["tier2"] = Allow(0.5);
  ASSERT_TRUE(registry_.ApplySnapshot(Layer::kRemote, remote, "remote").ok());
  ASSERT_FALSE(sw->enabled());
  clock_.Advance(absl::Seconds(11));
  registry_.ProcessExpiries();
  EXPECT_EQ(DescribeState(Info("recs").effective), "on allow=0.5");
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kRemote);
}

TEST_F(ExpiryTest, AlreadyExpiredEntryIsIgnoredFromTheStart) {
  Switch* sw = Define(Spec("recs"));
  Record();
  Apply(Layer::kFile, "recs", OffUntil(clock_.Now() - absl::Seconds(1)));
  EXPECT_TRUE(sw->enabled());
  const SwitchInfo info = Info("recs");
  EXPECT_EQ(info.deciding_layer, Layer::kDefault);
  ASSERT_EQ(info.layers.size(), 1u);  // only the default
  EXPECT_THAT(events(), IsEmpty());
  EXPECT_TRUE(registry_.LayerSnapshot(Layer::kFile).switches.contains("recs"));
}

TEST_F(ExpiryTest, AlreadyExpiredOverrideIsIgnoredFromTheStart) {
  Switch* sw = Define(Spec("recs"));
  ASSERT_TRUE(registry_.SetOverride("recs", OffUntil(clock_.Now() - absl::Minutes(1))).ok());
  EXPECT_TRUE(sw->enabled());
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kDefault);
}

TEST_F(ExpiryTest, SwitchDefinedAfterItsEntryExpiredIgnoresIt) {
  Apply(Layer::kFile, "later", OffUntil(clock_.Now() + absl::Seconds(5)));
  clock_.Advance(absl::Seconds(6));
  Switch* sw = Define(Spec("later"));
  EXPECT_TRUE(sw->enabled());
}

// ------------------------------------------------------------------ real clock

// The only test with the real clock: the registry's own timer expires an
// override without anyone calling ProcessExpiries. Polls; never sleeps for a
// fixed time.
TEST(ExpiryRealClockTest, OverrideWithTtlExpiresByItself) {
  Registry registry(Registry::Options{
      .clock = nullptr,
      .getenv = NoEnv,
      .log_sink = [](LogLevel, std::string_view) {},
  });
  absl::StatusOr<Switch*> defined = registry.Define(Spec("recs"));
  ASSERT_TRUE(defined.ok()) << defined.status();
  Switch* sw = *defined;
  const absl::Time start = absl::Now();
  SwitchValue off;
  off.state = State::kOff;
  ASSERT_TRUE(registry.SetOverride("recs", off, absl::Milliseconds(200)).ok());
  ASSERT_FALSE(sw->enabled());
  const absl::Time give_up = start + absl::Seconds(5);
  while (!sw->enabled() && absl::Now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(sw->enabled()) << "override still active after " << took;
  EXPECT_GE(took, absl::Milliseconds(200));
  EXPECT_FALSE(registry.LayerSnapshot(Layer::kAdmin).switches.contains("recs"));
  EXPECT_EQ(registry.Get("recs")->deciding_layer, Layer::kDefault);
}

}  // namespace
}  // namespace degrade
