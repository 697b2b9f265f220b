// Shed levels in the registry (docs/shedding.md): within a layer, switch >
// group > shed > all; tier 0 never shed; tiers below the level untouched;
// every layer (file, env, remote, admin); expiry; events; listings.
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/layer_delta.h"
#include "degrade/listing.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "degrade/switch.h"
#include "degrade/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_registry.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

using ::testing::HasSubstr;

Shed MakeShed(int level, std::string reason = "", std::string actor = "") {
  Shed shed;
  shed.level = level;
  shed.reason = std::move(reason);
  shed.actor = std::move(actor);
  return shed;
}

class ShedTest : public ::testing::Test {
 protected:
  ShedTest() : registry_(MakeOptions()) {}

  Registry::Options MakeOptions() {
    return Registry::Options{
        .clock = &clock_,
        .getenv = env_.Getenv(),
        .log_sink = logs_.Sink(),
        .timer_threads = false,
    };
  }

  Switch* Define(std::string name, int tier, std::vector<std::string> groups = {}) {
    SwitchSpec spec = Spec(std::move(name), std::move(groups));
    spec.tier = tier;
    absl::StatusOr<Switch*> sw = registry_.Define(std::move(spec));
    EXPECT_TRUE(sw.ok()) << sw.status();
    return sw.ok() ? *sw : nullptr;
  }

  void ApplyJson(Layer layer, std::string_view json) {
    absl::Status status = registry_.ApplySnapshotJson(layer, json, "file x.json");
    ASSERT_TRUE(status.ok()) << status;
  }

  void Record() {
    registry_.AddListener([this](const ChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    });
  }
  std::vector<ChangeEvent> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

  SwitchInfo Info(std::string_view name) {
    absl::StatusOr<SwitchInfo> info = registry_.Get(name);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? *info : SwitchInfo{};
  }

  testing::FakeClock clock_;
  FakeEnv env_;
  LogCapture logs_;
  Registry registry_;
  std::mutex mu_;
  std::vector<ChangeEvent> events_;
};

// ------------------------------------------------------------------ tiers

TEST_F(ShedTest, ShedsTiersAtOrAboveTheLevel) {
  Switch* t3 = Define("t3", 3);
  Switch* t9 = Define("t9", 9);
  ApplyJson(Layer::kFile, R"({"shed": 3})");
  EXPECT_FALSE(t3->enabled());
  EXPECT_FALSE(t9->enabled());
}

TEST_F(ShedTest, LeavesTiersBelowTheLevel) {
  Switch* t2 = Define("t2", 2);
  ApplyJson(Layer::kFile, R"({"shed": 3})");
  EXPECT_TRUE(t2->enabled());
  EXPECT_EQ(Info("t2").deciding_layer, Layer::kDefault);
}

TEST_F(ShedTest, NeverShedsTierZero) {
  Switch* untiered = Define("untiered", 0);
  ApplyJson(Layer::kFile, R"({"shed": 1})");
  EXPECT_TRUE(untiered->enabled());
}

// ------------------------------------------------------------------ precedence within a layer

TEST_F(ShedTest, SwitchEntryBeatsShedInTheSameLayer) {
  Switch* sw = Define("recs", 5);
  ApplyJson(Layer::kFile, R"({"shed": 3, "switches": {"recs": "on"}})");
  EXPECT_TRUE(sw->enabled());
  EXPECT_EQ(Info("recs").scope, "switch");
}

TEST_F(ShedTest, GroupEntryBeatsShedInTheSameLayer) {
  Switch* sw = Define("recs", 5, {"page"});
  ApplyJson(Layer::kFile, R"({"shed": 3, "groups": {"page": {"allow": 0.5}}})");
  EXPECT_EQ(sw->state().state, State::kOn);
  EXPECT_EQ(sw->state().allow, 0.5);
  EXPECT_EQ(Info("recs").scope, "group:page");
}

TEST_F(ShedTest, GroupFaultAloneDoesNotBeatShed) {
  Switch* sw = Define("recs", 5, {"page"});
  ApplyJson(Layer::kFile,
            R"({"shed": 3, "groups": {"page": {"fault": {"kind": "error", "rate": 0.5}}}})");
  EXPECT_FALSE(sw->enabled());
}

TEST_F(ShedTest, ShedBeatsAllInTheSameLayer) {
  Switch* sw = Define("recs", 5);
  ApplyJson(Layer::kFile, R"({"shed": 3, "all": "on"})");
  EXPECT_FALSE(sw->enabled());
  EXPECT_EQ(Info("recs").scope, "shed");
}

TEST_F(ShedTest, HigherLayerEntryBeatsLowerLayerShed) {
  Switch* sw = Define("recs", 5);
  ApplyJson(Layer::kFile, R"({"shed": 3})");
  ASSERT_TRUE(registry_.ApplySnapshotJson(Layer::kRemote, R"({"all": "on"})", "remote u").ok());
  EXPECT_TRUE(sw->enabled());
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kRemote);
}

TEST_F(ShedTest, HigherLayerShedBeatsLowerLayerEntry) {
  Switch* sw = Define("recs", 5);
  ApplyJson(Layer::kFile, R"({"switches": {"recs": "on"}})");
  ASSERT_TRUE(registry_.ApplySnapshotJson(Layer::kRemote, R"({"shed": 4})", "remote u").ok());
  EXPECT_FALSE(sw->enabled());
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kRemote);
}

// ------------------------------------------------------------------ the layers

// switch > group > shed > all, the same in every layer a snapshot sets.
class ShedPrecedenceTest : public ShedTest, public ::testing::WithParamInterface<Layer> {};

TEST_P(ShedPrecedenceTest, SwitchThenGroupThenShedThenAll) {
  Switch* own = Define("own", 9);
  Switch* grouped = Define("grouped", 9, {"g"});
  Switch* shed = Define("shed.me", 9);
  Switch* below = Define("below", 2);
  Switch* untiered = Define("untiered", 0);
  absl::Status status = registry_.ApplySnapshotJson(
      GetParam(),
      R"({"switches": {"own": {"allow": 0.5}}, "groups": {"g": {"allow": 0.25}},
          "shed": 3, "all": {"allow": 0.75}})",
      "test");
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(own->state().allow, 0.5);
  EXPECT_EQ(grouped->state().allow, 0.25);
  EXPECT_EQ(shed->state().state, State::kOff);
  EXPECT_EQ(below->state().allow, 0.75);
  EXPECT_EQ(untiered->state().allow, 0.75);
  EXPECT_EQ(Info("shed.me").deciding_layer, GetParam());
}

INSTANTIATE_TEST_SUITE_P(EveryLayer, ShedPrecedenceTest,
                         ::testing::Values(Layer::kFile, Layer::kRemote, Layer::kAdmin),
                         [](const ::testing::TestParamInfo<Layer>& info) {
                           return std::string(LayerName(info.param));
                         });

TEST_F(ShedTest, RemoteLayerSheds) {
  Switch* sw = Define("recs", 4);
  ASSERT_TRUE(registry_.ApplySnapshotJson(Layer::kRemote, R"({"shed": 4})", "remote u").ok());
  EXPECT_FALSE(sw->enabled());
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kRemote);
}

TEST(ShedEnvTest, EnvShedSheds) {
  FakeEnv env;
  env.Set("DEGRADE_SHED", "3");
  Registry registry(Registry::Options{.getenv = env.Getenv(),
                                      .log_sink = [](LogLevel, std::string_view) {},
                                      .timer_threads = false});
  SwitchSpec spec = Spec("recs");
  spec.tier = 3;
  absl::StatusOr<Switch*> sw = registry.Define(spec);
  ASSERT_TRUE(sw.ok()) << sw.status();
  EXPECT_FALSE((*sw)->enabled());
  absl::StatusOr<SwitchInfo> info = registry.Get("recs");
  EXPECT_EQ(info->deciding_layer, Layer::kEnv);
  EXPECT_EQ(info->scope, "shed");
  EXPECT_EQ(info->actor, "env");
  EXPECT_EQ(info->reason, "shed at tier \u2265 3 by env: DEGRADE_SHED=3");
}

TEST(ShedEnvTest, EnvSwitchBeatsEnvShed) {
  FakeEnv env;
  env.Set("DEGRADE_SHED", "3");
  env.Set("DEGRADE_RECS", "on");
  Registry registry(Registry::Options{.getenv = env.Getenv(),
                                      .log_sink = [](LogLevel, std::string_view) {},
                                      .timer_threads = false});
  SwitchSpec spec = Spec("recs");
  spec.tier = 3;
  absl::StatusOr<Switch*> sw = registry.Define(spec);
  ASSERT_TRUE(sw.ok());
  EXPECT_TRUE((*sw)->enabled());
}

TEST(ShedEnvTest, BadEnvShedIsReportedAndIgnored) {
  FakeEnv env;
  env.Set("DEGRADE_SHED", "12");
  Registry registry(Registry::Options{.getenv = env.Getenv(),
                                      .log_sink = [](LogLevel, std::string_view) {},
                                      .timer_threads = false});
  ASSERT_EQ(registry.errors().size(), 1u);
  EXPECT_EQ(registry.errors()[0].message,
            "env: DEGRADE_SHED: \"12\" is not valid; accepted: a shed level (0: none) from 0 to "
            "9, in digits only; ignored");
  EXPECT_FALSE(registry.LayerSnapshot(Layer::kEnv).shed.has_value());
}

TEST(ShedEnvTest, EnvShedZeroIsNoShed) {
  FakeEnv env;
  env.Set("DEGRADE_SHED", "0");
  Registry registry(Registry::Options{.getenv = env.Getenv(),
                                      .log_sink = [](LogLevel, std::string_view) {},
                                      .timer_threads = false});
  EXPECT_TRUE(registry.errors().empty());
  EXPECT_TRUE(registry.Sheds().empty());
}

TEST_F(ShedTest, SwitchNamedShedIsRefused) {
  absl::StatusOr<Switch*> sw = registry_.Define(Spec("shed"));
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kAlreadyExists);
}

// ------------------------------------------------------------------ admin layer

TEST_F(ShedTest, SetShedShedsInTheAdminLayer) {
  Switch* sw = Define("recs", 3);
  ASSERT_TRUE(registry_.SetShed(MakeShed(3, "INC-7 db hot", "bob")).ok());
  EXPECT_FALSE(sw->enabled());
  const SwitchInfo info = Info("recs");
  EXPECT_EQ(info.deciding_layer, Layer::kAdmin);
  EXPECT_EQ(info.scope, "shed");
  EXPECT_EQ(info.actor, "bob");
  EXPECT_EQ(info.reason, "shed at tier \u2265 3 by bob: INC-7 db hot");
}

TEST_F(ShedTest, SetShedEventCarriesActorAndShedText) {
  Define("recs", 3);
  Record();
  ASSERT_TRUE(registry_.SetShed(MakeShed(3, "INC-7", "bob")).ok());
  const std::vector<ChangeEvent> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].actor, "bob");
  EXPECT_EQ(events[0].reason, "shed at tier \u2265 3 by bob: INC-7");
  EXPECT_EQ(events[0].layer, Layer::kAdmin);
}

TEST_F(ShedTest, SetShedWithoutActorIsByApi) {
  Define("recs", 3);
  ASSERT_TRUE(registry_.SetShed(MakeShed(3)).ok());
  EXPECT_EQ(Info("recs").reason, "shed at tier \u2265 3 by api");
}

TEST_F(ShedTest, SetShedRejectsBadLevelAndChangesNothing) {
  Switch* sw = Define("recs", 3);
  absl::Status status = registry_.SetShed(MakeShed(10));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "shed.level: 10 is not in [1, 9]; accepted: an integer in [1, 9] (a shed of level 0 "
            "is no shed)");
  EXPECT_TRUE(sw->enabled());
  EXPECT_FALSE(registry_.LayerSnapshot(Layer::kAdmin).shed.has_value());
}

TEST_F(ShedTest, SetShedRejectsNegativeTtl) {
  EXPECT_EQ(registry_.SetShed(MakeShed(3), absl::Seconds(-1)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ShedTest, AdminSwitchOverrideBeatsAdminShed) {
  Switch* sw = Define("recs", 3);
  ASSERT_TRUE(registry_.SetOverride("recs", On()).ok());
  ASSERT_TRUE(registry_.SetShed(MakeShed(1)).ok());
  EXPECT_TRUE(sw->enabled());
}

TEST_F(ShedTest, ClearShedRestoresAndSaysWhat) {
  Switch* sw = Define("recs", 3);
  ASSERT_TRUE(registry_.SetShed(MakeShed(3, "x", "bob")).ok());
  Record();
  ASSERT_TRUE(registry_.ClearShed().ok());
  EXPECT_TRUE(sw->enabled());
  const std::vector<ChangeEvent> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "admin shed at tier \u2265 3 by bob (\"x\") cleared");
}

TEST_F(ShedTest, ClearShedWithoutShedIsOk) { EXPECT_TRUE(registry_.ClearShed().ok()); }

TEST_F(ShedTest, SwitchDefinedAfterTheShedIsShed) {
  ASSERT_TRUE(registry_.SetShed(MakeShed(2)).ok());
  Switch* sw = Define("late", 2);
  EXPECT_FALSE(sw->enabled());
}

TEST_F(ShedTest, RaisingTheLevelReleasesLowerTiers) {
  Switch* t3 = Define("t3", 3);
  ASSERT_TRUE(registry_.SetShed(MakeShed(3)).ok());
  ASSERT_TRUE(registry_.SetShed(MakeShed(4)).ok());
  EXPECT_TRUE(t3->enabled());
}

// ------------------------------------------------------------------ expiry

TEST_F(ShedTest, AdminShedExpiresAndIsRemoved) {
  Switch* sw = Define("recs", 3);
  ASSERT_TRUE(registry_.SetShed(MakeShed(3, "x", "bob"), absl::Seconds(30)).ok());
  Record();
  clock_.Advance(absl::Seconds(30));
  registry_.ProcessExpiries();
  EXPECT_TRUE(sw->enabled());
  EXPECT_FALSE(registry_.LayerSnapshot(Layer::kAdmin).shed.has_value());
  const std::vector<ChangeEvent> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].actor, "expiry");
  EXPECT_EQ(events[0].reason, "admin shed at tier \u2265 3 by bob (\"x\") expired");
}

TEST_F(ShedTest, FileShedExpiresButStaysInTheLayer) {
  Switch* sw = Define("recs", 3);
  ApplyJson(Layer::kFile, R"({"shed": {"level": 3, "ttl_s": 10}})");
  ASSERT_FALSE(sw->enabled());
  EXPECT_EQ(Info("recs").expires_at, clock_.Now() + absl::Seconds(10));
  clock_.Advance(absl::Seconds(10));
  registry_.ProcessExpiries();
  EXPECT_TRUE(sw->enabled());
  EXPECT_TRUE(registry_.LayerSnapshot(Layer::kFile).shed.has_value());
  EXPECT_TRUE(registry_.Sheds().empty());
}

TEST_F(ShedTest, ExpiredGovernorSettingIsRemovedFromTheAdminLayer) {
  Snapshot s;
  GovernorSetting g;
  g.enabled = false;
  g.expires_at = clock_.Now() + absl::Seconds(5);
  s.governor = g;
  ASSERT_TRUE(registry_.ApplySnapshot(Layer::kAdmin, s, "admin").ok());
  EXPECT_EQ(registry_.LayerSnapshot(Layer::kAdmin).governor, g);
  clock_.Advance(absl::Seconds(5));
  registry_.ProcessExpiries();
  EXPECT_FALSE(registry_.LayerSnapshot(Layer::kAdmin).governor.has_value());
}

// ------------------------------------------------------------------ snapshots in code

TEST_F(ShedTest, ApplySnapshotValidatesTheShed) {
  Snapshot s;
  s.shed = MakeShed(0);
  absl::Status status = registry_.ApplySnapshot(Layer::kRemote, s, "remote u");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(status), HasSubstr("remote u: shed.level: 0 is not in [1, 9]"));
}

TEST_F(ShedTest, LayerDeltaSetsAndRemovesTheShed) {
  Switch* sw = Define("recs", 3);
  internal::LayerDelta first;
  first.switches["other"] = On();
  ASSERT_TRUE(internal::ApplyLayerDelta(registry_, Layer::kRemote, first, "etcd /p/").ok());
  // Now edited in place.
  internal::LayerDelta set;
  set.change_shed = true;
  set.shed = MakeShed(3, "", "ops");
  ASSERT_TRUE(internal::ApplyLayerDelta(registry_, Layer::kRemote, set, "etcd /p/").ok());
  EXPECT_FALSE(sw->enabled());
  EXPECT_EQ(Info("recs").reason, "shed at tier \u2265 3 by ops");
  internal::LayerDelta remove;
  remove.change_shed = true;
  ASSERT_TRUE(internal::ApplyLayerDelta(registry_, Layer::kRemote, remove, "etcd /p/").ok());
  EXPECT_TRUE(sw->enabled());
}

// ------------------------------------------------------------------ listings

TEST_F(ShedTest, ListingShowsTheShedEntryAndTheSheddingLayers) {
  Define("recs", 3);
  ASSERT_TRUE(registry_.SetShed(MakeShed(2, "peak", "bob")).ok());
  const nlohmann::json listing = nlohmann::json::parse(ListingToJson(registry_));
  EXPECT_EQ(listing["shed"].dump(),
            R"([{"actor":"bob","expires_at":null,"layer":"admin","level":2,"reason":"peak"}])");
  const nlohmann::json& recs = listing["switches"][0];
  EXPECT_EQ(recs["scope"], "shed");
  EXPECT_EQ(recs["layers"].back().dump(),
            R"({"layer":"admin","scope":"shed","value":{"actor":"bob","reason":"shed at tier )"
            "\u2265"
            R"( 2 by bob: peak","state":"off"}})");
}

}  // namespace
}  // namespace degrade
