// degrade::Registry: definition rules, the six layers and their precedence,
// snapshots, overrides, listings and source health. Every test uses its own
// Registry with a fake clock, a fake environment and a capturing log sink, so
// nothing here reads the process environment or prints.
#include "degrade/registry.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "degrade/env.h"
#include "degrade/listing.h"
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

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using LogLine = test_util::LogCapture::Line;

SwitchValue FaultOnly(Fault::Kind kind, double rate, uint32_t delay_ms = 0) {
  SwitchValue v;
  v.fault = Fault{kind, rate, delay_ms};
  return v;
}

SwitchValue FaultCleared() {
  SwitchValue v;
  v.fault_cleared = true;
  return v;
}

Snapshot SwitchSnapshot(const std::string& name, SwitchValue value) {
  Snapshot s;
  s.switches[name] = std::move(value);
  return s;
}

std::vector<std::string> Names(const std::vector<SwitchInfo>& infos) {
  std::vector<std::string> out;
  for (const SwitchInfo& i : infos) out.push_back(i.name);
  return out;
}

class RegistryTest : public ::testing::Test {
 protected:
  // Created on first use, so tests can fill env_ first (DEGRADE_ALL is read
  // when the registry is built).
  Registry& registry() {
    if (!registry_) {
      registry_ = std::make_unique<Registry>(Registry::Options{
          .clock = &clock_,
          .getenv = env_.Getenv(),
          .log_sink = logs_.Sink(),
          .timer_threads = false,
      });
    }
    return *registry_;
  }

  Switch* Define(SwitchSpec spec) {
    absl::StatusOr<Switch*> sw = registry().Define(std::move(spec));
    EXPECT_TRUE(sw.ok()) << sw.status();
    return sw.ok() ? *sw : nullptr;
  }

  SwitchInfo Info(std::string_view name) {
    absl::StatusOr<SwitchInfo> info = registry().Get(name);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? *info : SwitchInfo{};
  }

  std::string Effective(std::string_view name) { return DescribeState(Info(name).effective); }

  std::vector<LogLine> LogsAt(LogLevel level) {
    std::vector<LogLine> out;
    for (const LogLine& l : logs_.Lines()) {
      if (l.level == level) out.push_back(l);
    }
    return out;
  }

  void Apply(Layer layer, Snapshot snapshot) {
    absl::Status s = registry().ApplySnapshot(layer, std::move(snapshot), "test");
    ASSERT_TRUE(s.ok()) << s;
  }

  testing::FakeClock clock_;
  test_util::FakeEnv env_;
  test_util::LogCapture logs_;
  std::unique_ptr<Registry> registry_;
};

// ------------------------------------------------------------------ Listing

// A layer's value in the listing is written as a snapshot writes it, byte
// for byte (floats, faults, breakers, non-ASCII text and times included).
TEST_F(RegistryTest, ListingShowsEachLayerValueAsASnapshotWritesIt) {
  Define(Spec("recs"));
  SwitchValue value;
  value.allow = 0.1;
  value.fault = Fault{.kind = Fault::Kind::kDelay, .rate = 0.3, .delay_ms = 250};
  value.breaker = BreakerPolicy{.window = BreakerPolicy::Window::kCount,
                                .window_size = 50,
                                .failure_ratio = 0.75,
                                .open_s = 12.5};
  value.reason = "INC-1 caf\xC3\xA9";
  value.actor = "oncall";
  value.expires_at = clock_.Now() + absl::Milliseconds(90'061'500);
  Snapshot file;
  file.switches["recs"] = value;
  Apply(Layer::kFile, file);
  EXPECT_THAT(SwitchInfoToJson(Info("recs")),
              HasSubstr(R"({"layer":"file","scope":"switch","value":)" + SwitchValueToJson(value) +
                        "}"));
}

// The deciding scope: which entry of the deciding layer decided.
TEST_F(RegistryTest, ListingScopeNamesTheGroupWhoseEntryDecided) {
  env_.Set("DEGRADE_GROUP_TIER2", "50%");
  Define(Spec("recs", {"tier1", "tier2"}));
  EXPECT_EQ(Info("recs").scope, "group:tier2");
}

TEST_F(RegistryTest, ListingScopeIsAllWhenTheAllEntryDecides) {
  env_.Set("DEGRADE_ALL", "off");
  Define(Spec("recs", {"tier2"}));
  EXPECT_EQ(Info("recs").scope, "all");
}

TEST_F(RegistryTest, ListingScopeIsSwitchWhenItsOwnEntryBeatsItsGroup) {
  env_.Set("DEGRADE_GROUP_TIER2", "off");
  env_.Set("DEGRADE_RECS", "on");
  Define(Spec("recs", {"tier2"}));
  EXPECT_EQ(Info("recs").scope, "switch");
}

TEST_F(RegistryTest, ListingScopeFollowsTheHigherLayersSwitchEntryOverALowerGroup) {
  env_.Set("DEGRADE_GROUP_TIER2", "off");
  Define(Spec("recs", {"tier2"}));
  ASSERT_TRUE(registry().SetOverride("recs", test_util::Allow(0.5)).ok());
  const SwitchInfo info = Info("recs");
  EXPECT_EQ(info.deciding_layer, Layer::kAdmin);
  EXPECT_EQ(info.scope, "switch");
}

// ------------------------------------------------------------------ Define

TEST_F(RegistryTest, DefineReturnsASwitchWithTheSpec) {
  SwitchSpec spec = Spec("recs", {"tier2"});
  spec.owner = "recs-team";
  Switch* sw = Define(spec);
  ASSERT_NE(sw, nullptr);
  EXPECT_EQ(sw->name(), "recs");
  EXPECT_EQ(sw->description(), "test switch recs");
  EXPECT_EQ(sw->owner(), "recs-team");
  EXPECT_THAT(sw->groups(), ElementsAre("tier2"));
  EXPECT_TRUE(sw->registered());
  EXPECT_EQ(sw->registry(), &registry());
}

TEST_F(RegistryTest, DefineRejectsInvalidNameNamingIt) {
  absl::StatusOr<Switch*> sw = registry().Define(Spec("Bad Name"));
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(sw.status()), HasSubstr("\"Bad Name\""));
}

TEST_F(RegistryTest, DefineRejectsEmptyName) {
  absl::StatusOr<Switch*> sw = registry().Define(Spec(""));
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryTest, DefineRejectsNameStartingWithPunctuation) {
  for (const char* name : {".recs", "-recs", "_recs"}) {
    absl::StatusOr<Switch*> sw = registry().Define(Spec(name));
    ASSERT_FALSE(sw.ok()) << name;
    EXPECT_EQ(sw.status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

TEST_F(RegistryTest, DefineAcceptsNameOf128CharactersAndRejects129) {
  EXPECT_TRUE(registry().Define(Spec(std::string(128, 'a'))).ok());
  absl::StatusOr<Switch*> sw = registry().Define(Spec(std::string(129, 'b')));
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryTest, DefineRejectsInvalidGroupNamingIt) {
  absl::StatusOr<Switch*> sw = registry().Define(Spec("recs", {"tier2", "Tier 3"}));
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(sw.status()), AllOf(HasSubstr("\"Tier 3\""), HasSubstr("recs")));
}

TEST_F(RegistryTest, DefineKeepsTheTierAndListsIt) {
  SwitchSpec spec = Spec("recs");
  spec.tier = 9;
  Switch* sw = Define(spec);
  ASSERT_NE(sw, nullptr);
  EXPECT_EQ(sw->tier(), 9);
  EXPECT_EQ(Info("recs").tier, 9);
  EXPECT_THAT(SwitchInfoToJson(Info("recs")), HasSubstr(R"("tier":9)"));
  EXPECT_EQ(Define(Spec("plain"))->tier(), 0) << "no tier unless declared";
}

TEST_F(RegistryTest, DefineRejectsATierOutsideZeroToNineAndChangesNothing) {
  for (int tier : {-1, 10, 100}) {
    SwitchSpec spec = Spec("recs");
    spec.tier = tier;
    absl::StatusOr<Switch*> sw = registry().Define(spec);
    ASSERT_FALSE(sw.ok()) << tier;
    EXPECT_EQ(sw.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Message(sw.status()),
              absl::StrCat("switch \"recs\": tier ", tier,
                           " is out of range; accepted: 0 (no tier, the default) or 1 (shed "
                           "last) to 9 (shed first)"));
  }
  EXPECT_EQ(registry().Get("recs").status().code(), absl::StatusCode::kNotFound)
      << "nothing was defined";
}

TEST_F(RegistryTest, DefineRejectsDuplicateName) {
  Define(Spec("recs"));
  absl::StatusOr<Switch*> again = registry().Define(Spec("recs"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(Message(again.status()), HasSubstr("\"recs\""));
}

TEST_F(RegistryTest, DefineRejectsEnvVarCollisionNamingBoth) {
  Define(Spec("a.b"));
  absl::StatusOr<Switch*> sw = registry().Define(Spec("a-b"));
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(Message(sw.status()),
              AllOf(HasSubstr("\"a-b\""), HasSubstr("\"a.b\""), HasSubstr("DEGRADE_A_B")));
}

TEST_F(RegistryTest, DefineRejectsUnderscoreDotCollision) {
  Define(Spec("a_b"));
  absl::StatusOr<Switch*> sw = registry().Define(Spec("a.b"));
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(RegistryTest, DefineRejectsNameReservedForConfigFile) {
  absl::StatusOr<Switch*> sw = registry().Define(Spec("config.file"));
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(Message(sw.status()),
              AllOf(HasSubstr("\"config.file\""), HasSubstr("DEGRADE_CONFIG_FILE")));
}

TEST_F(RegistryTest, DefineRejectsNameReservedForAll) {
  absl::StatusOr<Switch*> sw = registry().Define(Spec("all"));
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(Message(sw.status()), HasSubstr("DEGRADE_ALL"));
}

TEST_F(RegistryTest, DefineRejectsNameShadowingAGroupVariable) {
  absl::StatusOr<Switch*> sw = registry().Define(Spec("group.x"));
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(Message(sw.status()), AllOf(HasSubstr("\"group.x\""), HasSubstr("DEGRADE_GROUP_X")));
}

TEST_F(RegistryTest, DefineRejectsGroupVarCollisionAcrossSwitches) {
  Define(Spec("one", {"x.y"}));
  absl::StatusOr<Switch*> sw = registry().Define(Spec("two", {"x-y"}));
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(Message(sw.status()),
              AllOf(HasSubstr("\"x-y\""), HasSubstr("\"x.y\""), HasSubstr("DEGRADE_GROUP_X_Y")));
}

TEST_F(RegistryTest, DefineRejectsGroupVarCollisionWithinOneSwitch) {
  absl::StatusOr<Switch*> sw = registry().Define(Spec("one", {"x.y", "x-y"}));
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(Message(sw.status()), AllOf(HasSubstr("\"x-y\""), HasSubstr("\"x.y\"")));
}

TEST_F(RegistryTest, DefineAcceptsGroupSharedBySeveralSwitches) {
  Define(Spec("one", {"tier2"}));
  EXPECT_TRUE(registry().Define(Spec("two", {"tier2"})).ok());
}

TEST_F(RegistryTest, DefineRejectsDefaultAllowAboveOne) {
  SwitchSpec spec = Spec("recs");
  spec.default_allow = 1.5;
  absl::StatusOr<Switch*> sw = registry().Define(spec);
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(sw.status()), AllOf(HasSubstr("recs"), HasSubstr("1.5")));
}

TEST_F(RegistryTest, DefineRejectsNegativeDefaultAllow) {
  SwitchSpec spec = Spec("recs");
  spec.default_allow = -0.5;
  absl::StatusOr<Switch*> sw = registry().Define(spec);
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(sw.status()), HasSubstr("-0.5"));
}

TEST_F(RegistryTest, DefineRejectsNanDefaultAllow) {
  SwitchSpec spec = Spec("recs");
  spec.default_allow = std::nan("");
  absl::StatusOr<Switch*> sw = registry().Define(spec);
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(sw.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryTest, FailedDefineLeavesListingUnchanged) {
  Define(Spec("a.b"));
  const std::vector<std::string> before = Names(registry().List());
  EXPECT_FALSE(registry().Define(Spec("a-b")).ok());
  EXPECT_FALSE(registry().Define(Spec("Bad")).ok());
  EXPECT_FALSE(registry().Define(Spec("config.file")).ok());
  EXPECT_EQ(Names(registry().List()), before);
  EXPECT_EQ(registry().Find("a-b"), nullptr);
  EXPECT_EQ(registry().Get("a-b").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, FailedDefineLeavesNameDefinableAfterFixing) {
  EXPECT_FALSE(registry().Define(Spec("recs", {"Bad Group"})).ok());
  Switch* sw = Define(Spec("recs", {"good"}));
  ASSERT_NE(sw, nullptr);
  EXPECT_EQ(registry().Find("recs"), sw);
}

TEST_F(RegistryTest, FailedDefineDoesNotClaimItsGroupVariable) {
  Define(Spec("a.b"));
  // Fails on its own variable; its group must not be held against others.
  EXPECT_FALSE(registry().Define(Spec("a-b", {"g.2"})).ok());
  EXPECT_TRUE(registry().Define(Spec("c", {"g-2"})).ok());
}

TEST_F(RegistryTest, FailedDefineDoesNotReadTheEnvironment) {
  env_.Set("DEGRADE_A_B", "off");
  Define(Spec("a.b"));
  const Snapshot env_before = registry().LayerSnapshot(Layer::kEnv);
  env_.Set("DEGRADE_GROUP_NEWGROUP", "off");
  EXPECT_FALSE(registry().Define(Spec("a-b", {"newgroup"})).ok());
  EXPECT_EQ(registry().LayerSnapshot(Layer::kEnv), env_before);
}

// ------------------------------------------------------------------ defaults

TEST_F(RegistryTest, DefaultIsPlainOn) {
  Switch* sw = Define(Spec("recs"));
  EXPECT_TRUE(sw->enabled());
  const SwitchInfo info = Info("recs");
  EXPECT_EQ(DescribeState(info.effective), "on");
  EXPECT_EQ(info.deciding_layer, Layer::kDefault);
}

TEST_F(RegistryTest, DefaultStateOffIsHonoured) {
  SwitchSpec spec = Spec("recs");
  spec.default_state = State::kOff;
  Switch* sw = Define(spec);
  EXPECT_FALSE(sw->enabled());
  EXPECT_EQ(sw->state().state, State::kOff);
  const SwitchInfo info = Info("recs");
  EXPECT_EQ(DescribeState(info.effective), "off");
  EXPECT_EQ(info.deciding_layer, Layer::kDefault);
}

TEST_F(RegistryTest, DefaultAllowIsHonoured) {
  SwitchSpec spec = Spec("recs");
  spec.default_allow = 0.25;
  Switch* sw = Define(spec);
  EXPECT_EQ(sw->state().state, State::kOn);
  EXPECT_NEAR(sw->state().allow, 0.25, 1e-9);
  EXPECT_EQ(DescribeState(Info("recs").effective), "on allow=0.25");
}

// ------------------------------------------------------------------ env layer

TEST_F(RegistryTest, EnvSwitchVariableSetsTheSwitch) {
  env_.Set("DEGRADE_SEARCH_SUGGEST", "off");
  Switch* sw = Define(Spec("search.suggest"));
  EXPECT_FALSE(sw->enabled());
  const SwitchInfo info = Info("search.suggest");
  EXPECT_EQ(info.deciding_layer, Layer::kEnv);
  EXPECT_THAT(info.reason, HasSubstr("DEGRADE_SEARCH_SUGGEST=off"));
  EXPECT_EQ(info.env_var, "DEGRADE_SEARCH_SUGGEST");
}

TEST_F(RegistryTest, EnvPercentageSetsAllow) {
  env_.Set("DEGRADE_RECS", "25%");
  Define(Spec("recs"));
  EXPECT_EQ(Effective("recs"), "on allow=0.25");
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kEnv);
}

TEST_F(RegistryTest, EnvGroupVariableSetsEveryMember) {
  env_.Set("DEGRADE_GROUP_TIER2", "off");
  Switch* member = Define(Spec("recs", {"tier2"}));
  Switch* other_member = Define(Spec("ads", {"tier1", "tier2"}));
  Switch* outsider = Define(Spec("search", {"tier1"}));
  EXPECT_FALSE(member->enabled());
  EXPECT_FALSE(other_member->enabled());
  EXPECT_TRUE(outsider->enabled());
  EXPECT_EQ(Info("ads").deciding_layer, Layer::kEnv);
}

TEST_F(RegistryTest, EnvAllSetsEverySwitch) {
  env_.Set("DEGRADE_ALL", "off");
  Switch* a = Define(Spec("a"));
  Switch* b = Define(Spec("b", {"g"}));
  EXPECT_FALSE(a->enabled());
  EXPECT_FALSE(b->enabled());
  EXPECT_EQ(Info("b").deciding_layer, Layer::kEnv);
}

TEST_F(RegistryTest, EnvSwitchBeatsGroupBeatsAll) {
  env_.Set("DEGRADE_ALL", "off");
  env_.Set("DEGRADE_GROUP_G", "50%");
  env_.Set("DEGRADE_BY_SWITCH", "on");
  Define(Spec("by.switch", {"g"}));
  Define(Spec("by.group", {"g"}));
  Define(Spec("by.all"));
  EXPECT_EQ(Effective("by.switch"), "on");
  EXPECT_EQ(Effective("by.group"), "on allow=0.5");
  EXPECT_EQ(Effective("by.all"), "off");
  for (const char* name : {"by.switch", "by.group", "by.all"}) {
    EXPECT_EQ(Info(name).deciding_layer, Layer::kEnv) << name;
  }
}

TEST_F(RegistryTest, InvalidEnvValueIsLoggedAsErrorWithVarValueAndAcceptedForms) {
  env_.Set("DEGRADE_RECS", "of");
  Define(Spec("recs"));
  const std::vector<LogLine> errors = LogsAt(LogLevel::kError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].message,
              AllOf(HasSubstr("DEGRADE_RECS"), HasSubstr("\"of\""), HasSubstr("accepted:")));
}

TEST_F(RegistryTest, InvalidEnvValueIsRecordedInErrors) {
  env_.Set("DEGRADE_RECS", "of");
  Define(Spec("recs"));
  const std::vector<ErrorRecord> errors = registry().errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].message, AllOf(HasSubstr("DEGRADE_RECS"), HasSubstr("\"of\"")));
  EXPECT_EQ(errors[0].time, clock_.Now());
}

TEST_F(RegistryTest, InvalidEnvValueIsIgnored) {
  env_.Set("DEGRADE_RECS", "of");
  Switch* sw = Define(Spec("recs"));
  EXPECT_TRUE(sw->enabled());
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kDefault);
}

TEST_F(RegistryTest, InvalidEnvSwitchValueFallsBackToTheGroupValue) {
  env_.Set("DEGRADE_RECS", "150%");
  env_.Set("DEGRADE_GROUP_TIER2", "off");
  Switch* sw = Define(Spec("recs", {"tier2"}));
  EXPECT_FALSE(sw->enabled());
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kEnv);
  EXPECT_EQ(registry().errors().size(), 1u);
}

TEST_F(RegistryTest, InvalidEnvAllIsLoggedAndIgnored) {
  env_.Set("DEGRADE_ALL", "nope");
  Switch* sw = Define(Spec("recs"));
  EXPECT_TRUE(sw->enabled());
  const std::vector<ErrorRecord> errors = registry().errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].message, AllOf(HasSubstr("DEGRADE_ALL"), HasSubstr("\"nope\"")));
}

TEST_F(RegistryTest, InvalidGroupEnvValueIsReportedOnce) {
  env_.Set("DEGRADE_GROUP_TIER2", "bogus");
  Define(Spec("a", {"tier2"}));
  Define(Spec("b", {"tier2"}));
  Define(Spec("c", {"tier2"}));
  EXPECT_EQ(registry().errors().size(), 1u);
}

TEST_F(RegistryTest, EnvIsReadWhenTheSwitchIsDefined) {
  Switch* sw = Define(Spec("recs"));
  env_.Set("DEGRADE_RECS", "off");  // too late for recs
  EXPECT_TRUE(sw->enabled());
  Switch* later = Define(Spec("later"));
  env_.Set("DEGRADE_LATER", "off");
  EXPECT_TRUE(later->enabled());
}

TEST_F(RegistryTest, EnvLayerSnapshotShowsTheVariablesRead) {
  env_.Set("DEGRADE_ALL", "on");
  env_.Set("DEGRADE_RECS", "off");
  env_.Set("DEGRADE_GROUP_TIER2", "25%");
  Define(Spec("recs", {"tier2"}));
  const Snapshot env = registry().LayerSnapshot(Layer::kEnv);
  ASSERT_TRUE(env.switches.contains("recs"));
  EXPECT_EQ(env.switches.at("recs").state, State::kOff);
  ASSERT_TRUE(env.groups.contains("tier2"));
  EXPECT_EQ(env.groups.at("tier2").allow, 0.25);
  ASSERT_TRUE(env.all.has_value());
  EXPECT_EQ(env.all->state, State::kOn);
}

// The env layer is rebuilt as switches are defined; a switch defined earlier
// must keep deciding from its own env entry when other layers change later.
// (Entries are made to churn, and the later snapshot is built only after the
// defines, so stale pointers into an old env layer would read other data.)
Snapshot Noise(int n) {
  Snapshot noise;
  for (int i = 0; i < n; ++i) {
    SwitchValue v;
    v.state = State::kOn;
    v.reason = std::string(40 + i % 40, 'n');
    v.actor = std::string(24, 'x');
    noise.switches["noise." + std::to_string(i)] = std::move(v);
  }
  return noise;
}

TEST_F(RegistryTest, EnvSettingOfEarlierSwitchSurvivesLaterDefines) {
  env_.Set("DEGRADE_ZZ_FIRST", "off");
  Switch* first = Define(Spec("zz.first", {"g"}));
  for (int i = 0; i < 64; ++i) {
    const std::string name = "later" + std::to_string(i);
    env_.Set(EnvVarForSwitch(name), (i % 2 == 0) ? "on" : "0.5");
    env_.Set(EnvVarForGroup("h" + std::to_string(i)), "on");
    Define(Spec(name, {"h" + std::to_string(i)}));
  }
  Apply(Layer::kRemote, Noise(256));  // re-resolves every switch from its views
  EXPECT_FALSE(first->enabled());
  const SwitchInfo info = Info("zz.first");
  EXPECT_EQ(DescribeState(info.effective), "off");
  EXPECT_EQ(info.deciding_layer, Layer::kEnv);
  EXPECT_EQ(info.reason, "DEGRADE_ZZ_FIRST=off");
  EXPECT_EQ(info.actor, "env");
}

TEST_F(RegistryTest, EnvAllOfEarlierSwitchSurvivesLaterDefines) {
  env_.Set("DEGRADE_ALL", "25%");
  Switch* first = Define(Spec("zz.first"));
  for (int i = 0; i < 64; ++i) {
    const std::string name = "later" + std::to_string(i);
    env_.Set(EnvVarForSwitch(name), "off");
    Define(Spec(name));
  }
  Apply(Layer::kRemote, Noise(256));
  EXPECT_NEAR(first->state().allow, 0.25, 1e-9);
  const SwitchInfo info = Info("zz.first");
  EXPECT_EQ(DescribeState(info.effective), "on allow=0.25");
  EXPECT_EQ(info.deciding_layer, Layer::kEnv);
  EXPECT_EQ(info.reason, "DEGRADE_ALL=25%");
}

// ------------------------------------------------------------------ precedence between layers

TEST_F(RegistryTest, FileBeatsDefault) {
  SwitchSpec spec = Spec("recs");
  spec.default_state = State::kOff;
  Switch* sw = Define(spec);
  Apply(Layer::kFile, SwitchSnapshot("recs", On()));
  EXPECT_TRUE(sw->enabled());
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kFile);
}

struct LayerPair {
  Layer lower;
  Layer higher;
};

class LayerPrecedenceTest : public RegistryTest,
                            public ::testing::WithParamInterface<LayerPair> {};

// Each layer pair: the higher one decides, whether it turns the switch off
// or (where the layer may) back on.
TEST_P(LayerPrecedenceTest, HigherLayerDecides) {
  const Layer lower = GetParam().lower;
  const Layer higher = GetParam().higher;
  // The breaker may only say off; everyone else says something the other
  // layer does not.
  const bool higher_off = higher == Layer::kBreaker;
  const SwitchValue lower_value = higher_off ? Allow(0.5) : Off();
  const SwitchValue higher_value = higher_off ? Off() : Allow(0.5);
  auto set = [&](Layer layer, const SwitchValue& v) {
    if (layer == Layer::kEnv) {
      env_.Set("DEGRADE_RECS", v.state == State::kOff ? "off" : "0.5");
    } else {
      Apply(layer, SwitchSnapshot("recs", v));
    }
  };
  if (lower == Layer::kEnv) set(lower, lower_value);
  if (higher == Layer::kEnv) set(higher, higher_value);
  Define(Spec("recs"));
  if (lower != Layer::kEnv) set(lower, lower_value);
  if (higher != Layer::kEnv) set(higher, higher_value);
  const SwitchInfo info = Info("recs");
  EXPECT_EQ(info.deciding_layer, higher);
  EXPECT_EQ(DescribeState(info.effective), higher_off ? "off" : "on allow=0.5");
}

std::vector<LayerPair> AllLayerPairs() {
  const Layer layers[] = {Layer::kFile, Layer::kEnv, Layer::kRemote, Layer::kBreaker,
                          Layer::kAdmin};
  std::vector<LayerPair> out;
  for (size_t i = 0; i < std::size(layers); ++i) {
    for (size_t j = i + 1; j < std::size(layers); ++j) out.push_back({layers[i], layers[j]});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllPairs, LayerPrecedenceTest, ::testing::ValuesIn(AllLayerPairs()),
                         [](const ::testing::TestParamInfo<LayerPair>& info) {
                           return std::string(LayerName(info.param.lower)) + "_below_" +
                                  std::string(LayerName(info.param.higher));
                         });

TEST_F(RegistryTest, ClearingTheHigherLayerRevealsTheLowerOne) {
  Switch* sw = Define(Spec("recs"));
  Apply(Layer::kFile, SwitchSnapshot("recs", Allow(0.5)));
  Apply(Layer::kRemote, SwitchSnapshot("recs", Off()));
  EXPECT_FALSE(sw->enabled());
  Apply(Layer::kRemote, Snapshot{});
  EXPECT_EQ(Effective("recs"), "on allow=0.5");
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kFile);
}

TEST_F(RegistryTest, HigherLayerAllBeatsLowerLayerSwitchEntry) {
  Define(Spec("recs"));
  Apply(Layer::kFile, SwitchSnapshot("recs", Off()));
  Snapshot remote;
  remote.all = On();
  Apply(Layer::kRemote, remote);
  EXPECT_EQ(Effective("recs"), "on");
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kRemote);
}

// ------------------------------------------------------------------ precedence within a layer

TEST_F(RegistryTest, SwitchEntryBeatsGroupEntryWithinALayer) {
  Define(Spec("recs", {"tier2"}));
  Snapshot file;
  file.switches["recs"] = On();
  file.groups["tier2"] = Off();
  Apply(Layer::kFile, file);
  EXPECT_EQ(Effective("recs"), "on");
  EXPECT_EQ(Info("recs").deciding_layer, Layer::kFile);
}

TEST_F(RegistryTest, GroupEntryBeatsAllWithinALayer) {
  Define(Spec("recs", {"tier2"}));
  Snapshot remote;
  remote.groups["tier2"] = Allow(0.5);
  remote.all = Off();
  Apply(Layer::kRemote, remote);
  EXPECT_EQ(Effective("recs"), "on allow=0.5");
}

TEST_F(RegistryTest, AllAppliesToSwitchesWithoutOwnOrGroupEntry) {
  Define(Spec("recs", {"tier2"}));
  Snapshot remote;
  remote.groups["tier1"] = On();
  remote.switches["other"] = On();
  remote.all = Off();
  Apply(Layer::kRemote, remote);
  EXPECT_EQ(Effective("recs"), "off");
}

TEST_F(RegistryTest, MostDegradedGroupWinsWhenOneIsOff) {
  Define(Spec("ab", {"a", "b"}));
  Define(Spec("ba", {"b", "a"}));
  Snapshot file;
  file.groups["a"] = Allow(0.5);
  file.groups["b"] = Off();
  Apply(Layer::kFile, file);
  EXPECT_EQ(Effective("ab"), "off");
  EXPECT_EQ(Effective("ba"), "off");
}

TEST_F(RegistryTest, MostDegradedGroupWinsByLowestAllow) {
  Define(Spec("ab", {"a", "b"}));
  Define(Spec("ba", {"b", "a"}));
  Snapshot file;
  file.groups["a"] = Allow(0.25);
  file.groups["b"] = Allow(0.75);
  Apply(Layer::kFile, file);
  EXPECT_EQ(Effective("ab"), "on allow=0.25");
  EXPECT_EQ(Effective("ba"), "on allow=0.25");
}

TEST_F(RegistryTest, MostDegradedGroupWinsOverPlainOnGroup) {
  Define(Spec("ab", {"a", "b"}));
  Snapshot file;
  file.groups["a"] = On();
  file.groups["b"] = Allow(0.75);
  Apply(Layer::kFile, file);
  EXPECT_EQ(Effective("ab"), "on allow=0.75");
}

// ------------------------------------------------------------------ faults

TEST_F(RegistryTest, FaultOnlyEntryLeavesStateToLowerLayers) {
  Switch* sw = Define(Spec("recs"));
  Apply(Layer::kFile, SwitchSnapshot("recs", Allow(0.5)));
  ASSERT_TRUE(registry().SetOverride("recs", FaultOnly(Fault::Kind::kError, 0.5)).ok());
  const SwitchInfo info = Info("recs");
  EXPECT_EQ(DescribeState(info.effective), "on allow=0.5 fault=error rate=0.5");
  EXPECT_EQ(info.deciding_layer, Layer::kFile);
  EXPECT_EQ(info.fault_layer, Layer::kAdmin);
  ASSERT_TRUE(sw->state().fault.has_value());
  EXPECT_NEAR(sw->state().fault->rate, 0.5, 1e-9);
}

TEST_F(RegistryTest, FaultOnlyEntryDoesNotTurnOnASwitchThatIsOffBelow) {
  Switch* sw = Define(Spec("recs"));
  Apply(Layer::kFile, SwitchSnapshot("recs", Off()));
  ASSERT_TRUE(registry().SetOverride("recs", FaultOnly(Fault::Kind::kError, 1.0)).ok());
  EXPECT_FALSE(sw->enabled());
  const SwitchInfo info = Info("recs");
  EXPECT_EQ(info.effective.state, State::kOff);
  EXPECT_EQ(info.deciding_layer, Layer::kFile);
}

TEST_F(RegistryTest, HigherLayerFaultBeatsLowerLayerFault) {
  Define(Spec("recs"));
  Apply(Layer::kFile, SwitchSnapshot("recs", FaultOnly(Fault::Kind::kError, 0.5)));
  Apply(Layer::kRemote, SwitchSnapshot("recs", FaultOnly(Fault::Kind::kDelay, 1.0, 200)));
  const SwitchInfo info = Info("recs");
  EXPECT_EQ(DescribeState(info.effective), "on fault=delay rate=1 delay_ms=200");
  EXPECT_EQ(info.fault_layer, Layer::kRemote);
  EXPECT_EQ(info.deciding_layer, Layer::kDefault);
}

TEST_F(RegistryTest, FaultClearedHidesALowerLayersFault) {
  Switch* sw = Define(Spec("recs"));
  Apply(Layer::kFile, SwitchSnapshot("recs", FaultOnly(Fault::Kind::kError, 1.0)));
  ASSERT_TRUE(Info("recs").effective.fault.has_value());
  Apply(Layer::kRemote, SwitchSnapshot("recs", FaultCleared()));
  const SwitchInfo info = Info("recs");
  EXPECT_FALSE(info.effective.fault.has_value());
  EXPECT_EQ(DescribeState(info.effective), "on");
  EXPECT_FALSE(sw->state().fault.has_value());
}

TEST_F(RegistryTest, GroupFaultAppliesToMembers) {
  Define(Spec("recs", {"tier2"}));
  Snapshot remote;
  remote.groups["tier2"] = FaultOnly(Fault::Kind::kError, 0.25);
  Apply(Layer::kRemote, remote);
  const SwitchInfo info = Info("recs");
  EXPECT_EQ(DescribeState(info.effective), "on fault=error rate=0.25");
  EXPECT_EQ(info.fault_layer, Layer::kRemote);
}

// ------------------------------------------------------------------ ApplySnapshot

TEST_F(RegistryTest, ApplySnapshotWithOneBadValueChangesNothing) {
  Switch* a = Define(Spec("a"));
  Switch* b = Define(Spec("b"));
  Apply(Layer::kFile, SwitchSnapshot("a", Off()));
  const Snapshot before = registry().LayerSnapshot(Layer::kFile);
  Snapshot bad;
  bad.switches["a"] = On();
  bad.switches["b"] = Allow(1.5);
  absl::Status s = registry().ApplySnapshot(Layer::kFile, bad, "file /etc/x.json");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), AllOf(HasSubstr("file /etc/x.json"), HasSubstr("allow"),
                                HasSubstr("1.5"), HasSubstr("[0, 1]")));
  EXPECT_FALSE(a->enabled());
  EXPECT_TRUE(b->enabled());
  EXPECT_EQ(registry().LayerSnapshot(Layer::kFile), before);
}

TEST_F(RegistryTest, ApplySnapshotWithBadNameChangesNothing) {
  Switch* a = Define(Spec("a"));
  Snapshot bad;
  bad.switches["a"] = Off();
  bad.switches["Not Valid"] = Off();
  absl::Status s = registry().ApplySnapshot(Layer::kRemote, bad, "remote");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("Not Valid"));
  EXPECT_TRUE(a->enabled());
  EXPECT_TRUE(registry().LayerSnapshot(Layer::kRemote).empty());
}

TEST_F(RegistryTest, ApplySnapshotWithBadGroupValueChangesNothing) {
  Switch* a = Define(Spec("a", {"g"}));
  Snapshot bad;
  bad.all = Off();
  bad.groups["g"] = FaultOnly(Fault::Kind::kError, 2.0);
  EXPECT_EQ(registry().ApplySnapshot(Layer::kRemote, bad, "remote").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(a->enabled());
}

// Paths in messages are built only once an error is found; they must still
// name the whole JSON path, exactly.
TEST_F(RegistryTest, ApplySnapshotErrorNamesTheFullPathOfANestedField) {
  Define(Spec("a"));
  Snapshot bad;
  bad.switches["a"] = Off();
  bad.switches["svc.b"] = FaultOnly(Fault::Kind::kError, 1.5);
  absl::Status s = registry().ApplySnapshot(Layer::kRemote, bad, "remote http://cfg");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(s), "remote http://cfg: switches.\"svc.b\".fault.rate: 1.5 is not in [0, 1]");
}

TEST_F(RegistryTest, ApplySnapshotErrorNamesTheFullPathInAGroupsBreaker) {
  Define(Spec("a", {"tier-2"}));
  SwitchValue v;
  v.breaker = BreakerPolicy{};
  v.breaker->min_calls = 0;
  Snapshot bad;
  bad.groups["tier-2"] = v;
  absl::Status s = registry().ApplySnapshot(Layer::kFile, bad, "file x");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s),
              HasSubstr("file x: groups.\"tier-2\".breaker.min_calls: 0 is not in [1, 1000000]"));
}

TEST_F(RegistryTest, ApplySnapshotErrorNamesThePathOfAll) {
  Define(Spec("a"));
  Snapshot bad;
  bad.all = Off("\xff\xfe not text");
  absl::Status s = registry().ApplySnapshot(Layer::kFile, bad, "file x");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), AllOf(::testing::StartsWith("file x: all.reason: "),
                                HasSubstr("is not valid UTF-8")));
}

TEST_F(RegistryTest, BreakerLayerErrorNamesTheEntrysPath) {
  Define(Spec("a"));
  absl::Status s =
      registry().ApplySnapshot(Layer::kBreaker, SwitchSnapshot("a", On()), "breaker");
  EXPECT_EQ(Message(s),
            "breaker: switches.\"a\": the breaker layer may only turn a switch off; "
            "accepted: \"off\"");
}

TEST_F(RegistryTest, SetOverrideErrorNamesTheOverridesPath) {
  Define(Spec("a"));
  absl::Status s = registry().SetOverride("a", Allow(2.0));
  EXPECT_EQ(Message(s), "override of \"a\".allow: 2 is not in [0, 1]");
}

TEST_F(RegistryTest, DefineErrorNamesTheDefaultsPath) {
  SwitchSpec spec = Spec("a");
  spec.default_allow = 1.5;
  absl::StatusOr<Switch*> sw = registry().Define(spec);
  ASSERT_FALSE(sw.ok());
  EXPECT_EQ(Message(sw.status()), "switch \"a\" default.allow: 1.5 is not in [0, 1]");
}

// A rejected snapshot must leave no trace in the switches it named: the
// next snapshot of that layer decides alone.
TEST_F(RegistryTest, RejectedSnapshotLeavesNothingForTheNextOne) {
  Switch* a = Define(Spec("a"));
  Switch* b = Define(Spec("b"));
  Snapshot bad;
  bad.switches["a"] = Off("from the rejected snapshot");
  bad.switches["b"] = Off();
  bad.switches["z"] = Allow(-1);
  ASSERT_EQ(registry().ApplySnapshot(Layer::kRemote, bad, "remote").code(),
            absl::StatusCode::kInvalidArgument);
  Apply(Layer::kRemote, SwitchSnapshot("b", Off("from the good one")));
  EXPECT_TRUE(a->enabled());
  EXPECT_FALSE(b->enabled());
  const SwitchInfo info = Info("a");
  EXPECT_EQ(info.deciding_layer, Layer::kDefault);
  ASSERT_EQ(info.layers.size(), 1u);
  EXPECT_EQ(info.layers[0].layer, Layer::kDefault);
  EXPECT_EQ(Info("b").reason, "from the good one");
}

TEST_F(RegistryTest, EntryForANameSharingAVariableIsNotTheDefinedSwitchs) {
  // "a_b" and "a.b" share DEGRADE_A_B, so only one can be defined; a layer
  // may still name the other, which stays an unknown name.
  Switch* sw = Define(Spec("a.b"));
  Apply(Layer::kRemote, SwitchSnapshot("a_b", Off()));
  EXPECT_TRUE(sw->enabled());
  EXPECT_EQ(registry().Find("a_b"), nullptr);
  EXPECT_EQ(registry().Find("a-b"), nullptr);
  EXPECT_EQ(registry().Find("a.b"), sw);
  EXPECT_EQ(registry().SetOverride("a-b", Off()).code(), absl::StatusCode::kNotFound);
  const std::vector<SwitchInfo> list = registry().List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "a.b");
  EXPECT_TRUE(list[0].defined);
  EXPECT_EQ(list[1].name, "a_b");
  EXPECT_FALSE(list[1].defined);
  EXPECT_EQ(list[1].effective.state, State::kOff);
}

TEST_F(RegistryTest, ManySwitchesEachFollowTheirOwnEntry) {
  // Enough switches and entries for the registry's hash set to grow several
  // times; every other switch is named, the rest must stay untouched.
  std::vector<Switch*> switches;
  Snapshot snap;
  for (int i = 0; i < 2000; ++i) {
    const std::string name = "svc.dep-" + std::to_string(i);
    switches.push_back(Define(Spec(name)));
    if (i % 2 == 0) snap.switches[name] = Off("entry " + std::to_string(i));
  }
  Apply(Layer::kRemote, snap);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_NE(switches[i], nullptr);
    EXPECT_EQ(switches[i]->enabled(), i % 2 != 0) << i;
  }
  EXPECT_EQ(Info("svc.dep-1234").reason, "entry 1234");
  EXPECT_EQ(Info("svc.dep-1235").deciding_layer, Layer::kDefault);
  EXPECT_EQ(registry().Find("svc.dep-1999"), switches[1999]);
  EXPECT_EQ(registry().Find("svc_dep-1999"), nullptr);
}

TEST_F(RegistryTest, ApplySnapshotToDefaultLayerIsRejected) {
  Switch* a = Define(Spec("a"));
  absl::Status s = registry().ApplySnapshot(Layer::kDefault, SwitchSnapshot("a", Off()), "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("default"));
  EXPECT_TRUE(a->enabled());
}

TEST_F(RegistryTest, ApplySnapshotToEnvLayerIsRejected) {
  Switch* a = Define(Spec("a"));
  absl::Status s = registry().ApplySnapshot(Layer::kEnv, SwitchSnapshot("a", Off()), "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("env"));
  EXPECT_TRUE(a->enabled());
  EXPECT_TRUE(registry().LayerSnapshot(Layer::kEnv).empty());
}

TEST_F(RegistryTest, BreakerLayerAcceptsOff) {
  Switch* a = Define(Spec("a"));
  Apply(Layer::kBreaker, SwitchSnapshot("a", Off("5 failures in 10s", "breaker")));
  EXPECT_FALSE(a->enabled());
  const SwitchInfo info = Info("a");
  EXPECT_EQ(info.deciding_layer, Layer::kBreaker);
  EXPECT_EQ(info.reason, "5 failures in 10s");
}

TEST_F(RegistryTest, BreakerLayerRejectsOn) {
  Switch* a = Define(Spec("a"));
  Apply(Layer::kFile, SwitchSnapshot("a", Off()));
  absl::Status s = registry().ApplySnapshot(Layer::kBreaker, SwitchSnapshot("a", On()), "breaker");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), AllOf(HasSubstr("breaker"), HasSubstr("off")));
  EXPECT_FALSE(a->enabled());
  EXPECT_TRUE(registry().LayerSnapshot(Layer::kBreaker).empty());
}

TEST_F(RegistryTest, BreakerLayerRejectsAllow) {
  Define(Spec("a"));
  EXPECT_EQ(registry().ApplySnapshot(Layer::kBreaker, SwitchSnapshot("a", Allow(0.5)), "b").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryTest, BreakerLayerRejectsFault) {
  Define(Spec("a"));
  SwitchValue v = Off();
  v.fault = Fault{Fault::Kind::kError, 1.0, 0};
  EXPECT_EQ(registry().ApplySnapshot(Layer::kBreaker, SwitchSnapshot("a", v), "b").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryTest, BreakerLayerRejectsEmptyEntry) {
  Define(Spec("a"));
  EXPECT_EQ(registry().ApplySnapshot(Layer::kBreaker, SwitchSnapshot("a", SwitchValue{}), "b")
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryTest, ApplySnapshotReplacesTheWholeLayer) {
  Switch* a = Define(Spec("a"));
  Switch* b = Define(Spec("b"));
  Apply(Layer::kFile, SwitchSnapshot("a", Off()));
  Apply(Layer::kFile, SwitchSnapshot("b", Off()));
  EXPECT_TRUE(a->enabled());
  EXPECT_FALSE(b->enabled());
}

TEST_F(RegistryTest, LayerSnapshotReturnsWhatWasApplied) {
  Define(Spec("a"));
  Snapshot remote;
  remote.switches["a"] = Off("why", "who");
  remote.groups["g"] = Allow(0.5);
  remote.all = On();
  Apply(Layer::kRemote, remote);
  EXPECT_EQ(registry().LayerSnapshot(Layer::kRemote), remote);
}

TEST_F(RegistryTest, AdminBulkSnapshotReplacesOverrides) {
  Switch* a = Define(Spec("a"));
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  Apply(Layer::kAdmin, Snapshot{});
  EXPECT_TRUE(a->enabled());
  EXPECT_TRUE(registry().LayerSnapshot(Layer::kAdmin).empty());
}

// ------------------------------------------------------------------ ApplySnapshotJson

TEST_F(RegistryTest, ApplySnapshotJsonAppliesALayer) {
  Switch* a = Define(Spec("a"));
  absl::Status s =
      registry().ApplySnapshotJson(Layer::kRemote, R"({"switches": {"a": "off"}})", "remote u");
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(a->enabled());
  EXPECT_EQ(Info("a").deciding_layer, Layer::kRemote);
}

TEST_F(RegistryTest, ApplySnapshotJsonWithBadJsonIsLoggedRecordedAndChangesNothing) {
  Switch* a = Define(Spec("a"));
  Apply(Layer::kFile, SwitchSnapshot("a", Off()));
  const Snapshot before = registry().LayerSnapshot(Layer::kFile);
  absl::Status s = registry().ApplySnapshotJson(Layer::kFile, R"({"switches": {"a": )",
                                                "file /etc/svc/degrade.json");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("file /etc/svc/degrade.json"));
  EXPECT_FALSE(a->enabled());
  EXPECT_EQ(registry().LayerSnapshot(Layer::kFile), before);
  const std::vector<ErrorRecord> errors = registry().errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].message, HasSubstr("file /etc/svc/degrade.json"));
  const std::vector<LogLine> logged = LogsAt(LogLevel::kError);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_THAT(logged[0].message, HasSubstr("file /etc/svc/degrade.json"));
}

TEST_F(RegistryTest, ApplySnapshotJsonWithBadValueNamesPathAndValue) {
  Switch* a = Define(Spec("a"));
  absl::Status s = registry().ApplySnapshotJson(
      Layer::kFile, R"({"switches": {"a": "off", "search.suggest": {"allow": 1.5}}})", "file x");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), AllOf(HasSubstr("file x"), HasSubstr("switches.\"search.suggest\".allow"),
                                HasSubstr("1.5")));
  EXPECT_TRUE(a->enabled());
  EXPECT_EQ(registry().errors().size(), 1u);
}

TEST_F(RegistryTest, ApplySnapshotJsonToEnvLayerIsRejectedAndRecorded) {
  Define(Spec("a"));
  absl::Status s = registry().ApplySnapshotJson(Layer::kEnv, R"({"all": "off"})", "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry().errors().size(), 1u);
}

TEST_F(RegistryTest, ApplySnapshotJsonLogsUnknownFieldsAsWarnings) {
  Switch* a = Define(Spec("a"));
  absl::Status s = registry().ApplySnapshotJson(
      Layer::kFile, R"({"switches": {"a": {"state": "off", "colour": "red"}}})", "file x");
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(a->enabled());
  const std::vector<LogLine> warnings = LogsAt(LogLevel::kWarning);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0].message, HasSubstr("colour"));
  EXPECT_TRUE(registry().errors().empty());
}

// ------------------------------------------------------------------ unknown names

TEST_F(RegistryTest, UnknownNamesAreListedAfterDefinedOnesAsUndefined) {
  Define(Spec("zeta"));
  Define(Spec("alpha"));
  Snapshot file;
  file.switches["ghost"] = Off();
  file.switches["alpha"] = Off();
  Apply(Layer::kFile, file);
  Apply(Layer::kRemote, SwitchSnapshot("banshee", Allow(0.5)));
  const std::vector<SwitchInfo> list = registry().List();
  EXPECT_THAT(Names(list), ElementsAre("alpha", "zeta", "banshee", "ghost"));
  ASSERT_EQ(list.size(), 4u);
  EXPECT_TRUE(list[0].defined);
  EXPECT_TRUE(list[1].defined);
  EXPECT_FALSE(list[2].defined);
  EXPECT_FALSE(list[3].defined);
}

TEST_F(RegistryTest, GetOnUnknownNameShowsWhatTheLayersSay) {
  Apply(Layer::kFile, SwitchSnapshot("ghost", Allow(0.5)));
  Apply(Layer::kRemote, SwitchSnapshot("ghost", Off("remote says", "ops")));
  const SwitchInfo info = Info("ghost");
  EXPECT_FALSE(info.defined);
  EXPECT_EQ(info.env_var, "DEGRADE_GHOST");
  EXPECT_EQ(DescribeState(info.effective), "off");
  EXPECT_EQ(info.deciding_layer, Layer::kRemote);
  EXPECT_EQ(info.reason, "remote says");
  ASSERT_EQ(info.layers.size(), 2u);
  EXPECT_EQ(info.layers[0].layer, Layer::kFile);
  EXPECT_EQ(info.layers[1].layer, Layer::kRemote);
}

TEST_F(RegistryTest, GetOnNameNoLayerKnowsIsNotFound) {
  Define(Spec("a"));
  absl::StatusOr<SwitchInfo> info = registry().Get("nobody");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(info.status()), HasSubstr("nobody"));
}

TEST_F(RegistryTest, DefiningAPreviouslyUnknownNameAppliesTheLayers) {
  Apply(Layer::kFile, SwitchSnapshot("later", Off()));
  Switch* sw = Define(Spec("later"));
  EXPECT_FALSE(sw->enabled());
  const std::vector<SwitchInfo> list = registry().List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_TRUE(list[0].defined);
  EXPECT_EQ(list[0].deciding_layer, Layer::kFile);
}

TEST_F(RegistryTest, UnknownNameIsNotFoundByFind) {
  Apply(Layer::kFile, SwitchSnapshot("ghost", Off()));
  EXPECT_EQ(registry().Find("ghost"), nullptr);
}

// ------------------------------------------------------------------ overrides

TEST_F(RegistryTest, SetOverrideDecidesFromTheAdminLayer) {
  Switch* sw = Define(Spec("a"));
  Apply(Layer::kRemote, SwitchSnapshot("a", On()));
  ASSERT_TRUE(registry().SetOverride("a", Off("INC-1", "oncall")).ok());
  EXPECT_FALSE(sw->enabled());
  const SwitchInfo info = Info("a");
  EXPECT_EQ(info.deciding_layer, Layer::kAdmin);
  EXPECT_EQ(info.reason, "INC-1");
  EXPECT_EQ(info.actor, "oncall");
  const Snapshot admin = registry().LayerSnapshot(Layer::kAdmin);
  ASSERT_TRUE(admin.switches.contains("a"));
  EXPECT_EQ(admin.switches.at("a").state, State::kOff);
}

TEST_F(RegistryTest, SetOverrideReplacesThePreviousOverride) {
  Define(Spec("a"));
  ASSERT_TRUE(registry().SetOverride("a", Off("first", "x")).ok());
  ASSERT_TRUE(registry().SetOverride("a", Allow(0.25)).ok());
  EXPECT_EQ(Effective("a"), "on allow=0.25");
  EXPECT_NE(Info("a").reason, "first");
}

TEST_F(RegistryTest, SetOverrideOnUndefinedNameIsNotFoundAndChangesNothing) {
  Define(Spec("a"));
  absl::Status s = registry().SetOverride("nobody", Off());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(s), HasSubstr("nobody"));
  EXPECT_TRUE(registry().LayerSnapshot(Layer::kAdmin).empty());
  EXPECT_EQ(registry().Get("nobody").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, SetOverrideOnUnknownButMentionedNameIsNotFound) {
  Apply(Layer::kFile, SwitchSnapshot("ghost", Off()));
  EXPECT_EQ(registry().SetOverride("ghost", On()).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(registry().LayerSnapshot(Layer::kAdmin).empty());
}

TEST_F(RegistryTest, SetOverrideWithAllowAboveOneIsInvalidAndChangesNothing) {
  Switch* sw = Define(Spec("a"));
  ASSERT_TRUE(registry().SetOverride("a", Off("keep", "me")).ok());
  const Snapshot before = registry().LayerSnapshot(Layer::kAdmin);
  absl::Status s = registry().SetOverride("a", Allow(1.5));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), AllOf(HasSubstr("allow"), HasSubstr("1.5")));
  EXPECT_FALSE(sw->enabled());
  EXPECT_EQ(registry().LayerSnapshot(Layer::kAdmin), before);
}

TEST_F(RegistryTest, SetOverrideWithNegativeTtlIsInvalidAndChangesNothing) {
  Switch* sw = Define(Spec("a"));
  absl::Status s = registry().SetOverride("a", Off(), absl::Seconds(-5));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("ttl"));
  EXPECT_TRUE(sw->enabled());
  EXPECT_TRUE(registry().LayerSnapshot(Layer::kAdmin).empty());
}

TEST_F(RegistryTest, SetOverrideWithTtlSetsExpiry) {
  Define(Spec("a"));
  const absl::Time now = clock_.Now();
  ASSERT_TRUE(registry().SetOverride("a", Off(), absl::Minutes(10)).ok());
  const SwitchInfo info = Info("a");
  EXPECT_EQ(info.expires_at, now + absl::Minutes(10));
  EXPECT_EQ(registry().LayerSnapshot(Layer::kAdmin).switches.at("a").expires_at,
            now + absl::Minutes(10));
}

TEST_F(RegistryTest, SetOverrideWithoutTtlHasNoExpiry) {
  Define(Spec("a"));
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  EXPECT_FALSE(Info("a").expires_at.has_value());
}

TEST_F(RegistryTest, ClearOverrideRevealsTheLowerLayer) {
  Switch* sw = Define(Spec("a"));
  Apply(Layer::kFile, SwitchSnapshot("a", Allow(0.5)));
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  ASSERT_TRUE(registry().ClearOverride("a").ok());
  EXPECT_TRUE(sw->state().state == State::kOn);
  EXPECT_EQ(Effective("a"), "on allow=0.5");
  EXPECT_EQ(Info("a").deciding_layer, Layer::kFile);
  EXPECT_FALSE(registry().LayerSnapshot(Layer::kAdmin).switches.contains("a"));
}

TEST_F(RegistryTest, ClearOverrideLeavesOtherOverrides) {
  Switch* a = Define(Spec("a"));
  Switch* b = Define(Spec("b"));
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  ASSERT_TRUE(registry().SetOverride("b", Off()).ok());
  ASSERT_TRUE(registry().ClearOverride("a").ok());
  EXPECT_TRUE(a->enabled());
  EXPECT_FALSE(b->enabled());
}

TEST_F(RegistryTest, ClearOverrideOnUndefinedNameIsNotFound) {
  Define(Spec("a"));
  absl::Status s = registry().ClearOverride("nobody");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(s), HasSubstr("nobody"));
}

TEST_F(RegistryTest, ClearOverrideWithoutOverrideIsOkAndDeliversNoEvent) {
  Define(Spec("a"));
  int events = 0;
  registry().AddListener([&](const ChangeEvent&) { ++events; });
  EXPECT_TRUE(registry().ClearOverride("a").ok());
  EXPECT_EQ(events, 0);
  EXPECT_EQ(Info("a").deciding_layer, Layer::kDefault);
}

// ------------------------------------------------------------------ SwitchInfo

TEST_F(RegistryTest, SwitchInfoHasTheSpec) {
  SwitchSpec spec = Spec("search.suggest", {"tier2", "search"});
  spec.owner = "search-team";
  Define(spec);
  const SwitchInfo info = Info("search.suggest");
  EXPECT_EQ(info.name, "search.suggest");
  EXPECT_EQ(info.description, "test switch search.suggest");
  EXPECT_EQ(info.owner, "search-team");
  EXPECT_THAT(info.groups, ElementsAre("tier2", "search"));
  EXPECT_EQ(info.env_var, "DEGRADE_SEARCH_SUGGEST");
  EXPECT_TRUE(info.defined);
}

TEST_F(RegistryTest, SwitchInfoHasTheDecidingEntrysReasonActorAndExpiry) {
  Define(Spec("a"));
  const absl::Time expiry = clock_.Now() + absl::Hours(1);
  SwitchValue v = Off("INC-4211 vendor 5xx", "oncall");
  v.expires_at = expiry;
  Apply(Layer::kRemote, SwitchSnapshot("a", v));
  Apply(Layer::kFile, SwitchSnapshot("a", On()));
  const SwitchInfo info = Info("a");
  EXPECT_EQ(info.deciding_layer, Layer::kRemote);
  EXPECT_EQ(info.reason, "INC-4211 vendor 5xx");
  EXPECT_EQ(info.actor, "oncall");
  EXPECT_EQ(info.expires_at, expiry);
  EXPECT_FALSE(info.fault_layer.has_value());
}

TEST_F(RegistryTest, SwitchInfoListsEveryLayerThatSaysSomethingLowestFirst) {
  env_.Set("DEGRADE_A", "on");
  Define(Spec("a", {"g"}));
  Snapshot file;
  file.all = Off();
  Apply(Layer::kFile, file);
  Snapshot remote;
  remote.groups["g"] = Allow(0.5);
  remote.groups["other"] = Off();
  Apply(Layer::kRemote, remote);
  ASSERT_TRUE(registry().SetOverride("a", FaultOnly(Fault::Kind::kError, 1.0)).ok());
  const SwitchInfo info = Info("a");
  std::vector<std::pair<Layer, std::string>> got;
  for (const LayerSetting& s : info.layers) got.emplace_back(s.layer, s.scope);
  EXPECT_THAT(got, ElementsAre(std::pair{Layer::kDefault, std::string("switch")},
                               std::pair{Layer::kFile, std::string("all")},
                               std::pair{Layer::kEnv, std::string("switch")},
                               std::pair{Layer::kRemote, std::string("group:g")},
                               std::pair{Layer::kAdmin, std::string("switch")}));
  ASSERT_EQ(info.layers.size(), 5u);
  EXPECT_EQ(info.layers[3].value.allow, 0.5);
  EXPECT_EQ(info.layers[4].value.fault, (Fault{Fault::Kind::kError, 1.0, 0}));
  EXPECT_EQ(info.deciding_layer, Layer::kRemote);
  EXPECT_EQ(info.fault_layer, Layer::kAdmin);
}

TEST_F(RegistryTest, SwitchInfoLayersLeaveOutExpiredEntries) {
  Define(Spec("a"));
  SwitchValue expired = Off();
  expired.expires_at = clock_.Now() - absl::Seconds(1);
  Apply(Layer::kFile, SwitchSnapshot("a", expired));
  const SwitchInfo info = Info("a");
  ASSERT_EQ(info.layers.size(), 1u);
  EXPECT_EQ(info.layers[0].layer, Layer::kDefault);
}

TEST_F(RegistryTest, ListShowsEffectiveStateOfEachSwitch) {
  Define(Spec("a"));
  Define(Spec("b"));
  Apply(Layer::kFile, SwitchSnapshot("b", Off()));
  const std::vector<SwitchInfo> list = registry().List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "a");
  EXPECT_EQ(DescribeState(list[0].effective), "on");
  EXPECT_EQ(list[1].name, "b");
  EXPECT_EQ(DescribeState(list[1].effective), "off");
  EXPECT_EQ(list[1].deciding_layer, Layer::kFile);
}

// ------------------------------------------------------------------ sources, Find, log

TEST_F(RegistryTest, ReportedSourceHealthIsListed) {
  SourceHealth h;
  h.name = "file";
  h.target = "/etc/svc/degrade.json";
  h.healthy = false;
  h.last_error = "file /etc/svc/degrade.json: invalid JSON";
  h.last_error_time = clock_.Now();
  h.consecutive_failures = 3;
  h.applied = 7;
  registry().ReportSourceHealth(h);
  const std::vector<SourceHealth> sources = registry().sources();
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0].name, "file");
  EXPECT_EQ(sources[0].target, "/etc/svc/degrade.json");
  EXPECT_FALSE(sources[0].healthy);
  EXPECT_EQ(sources[0].last_error, "file /etc/svc/degrade.json: invalid JSON");
  EXPECT_EQ(sources[0].last_error_time, clock_.Now());
  EXPECT_EQ(sources[0].consecutive_failures, 3u);
  EXPECT_EQ(sources[0].applied, 7u);
}

TEST_F(RegistryTest, ReportedSourceHealthReplacesTheSameSource) {
  SourceHealth sick;
  sick.name = "remote";
  sick.healthy = false;
  sick.consecutive_failures = 2;
  registry().ReportSourceHealth(sick);
  SourceHealth well;
  well.name = "remote";
  well.healthy = true;
  well.last_success = clock_.Now();
  registry().ReportSourceHealth(well);
  const std::vector<SourceHealth> sources = registry().sources();
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_TRUE(sources[0].healthy);
  EXPECT_EQ(sources[0].consecutive_failures, 0u);
  EXPECT_EQ(sources[0].last_success, clock_.Now());
}

TEST_F(RegistryTest, SourcesListsEverySource) {
  for (const char* name : {"remote", "file"}) {
    SourceHealth h;
    h.name = name;
    registry().ReportSourceHealth(h);
  }
  std::vector<std::string> names;
  for (const SourceHealth& h : registry().sources()) names.push_back(h.name);
  std::sort(names.begin(), names.end());
  EXPECT_THAT(names, ElementsAre("file", "remote"));
}

TEST_F(RegistryTest, NoSourcesUntilOneReports) { EXPECT_THAT(registry().sources(), IsEmpty()); }

TEST_F(RegistryTest, FindReturnsTheDefinedSwitch) {
  Switch* a = Define(Spec("a"));
  Switch* b = Define(Spec("b"));
  EXPECT_EQ(registry().Find("a"), a);
  EXPECT_EQ(registry().Find("b"), b);
}

TEST_F(RegistryTest, FindReturnsNullForUnknownName) {
  Define(Spec("a"));
  EXPECT_EQ(registry().Find("A"), nullptr);
  EXPECT_EQ(registry().Find(""), nullptr);
}

TEST_F(RegistryTest, LogErrorIsRecordedWithTheClockTime) {
  registry().Log(LogLevel::kError, "something broke");
  const std::vector<ErrorRecord> errors = registry().errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "something broke");
  EXPECT_EQ(errors[0].time, clock_.Now());
  ASSERT_EQ(LogsAt(LogLevel::kError).size(), 1u);
}

TEST_F(RegistryTest, LogWarningIsNotRecordedAsError) {
  registry().Log(LogLevel::kWarning, "odd");
  registry().Log(LogLevel::kInfo, "fine");
  EXPECT_TRUE(registry().errors().empty());
  EXPECT_EQ(LogsAt(LogLevel::kWarning).size(), 1u);
  EXPECT_EQ(LogsAt(LogLevel::kInfo).size(), 1u);
}

TEST_F(RegistryTest, ErrorsKeepTheLastHundredOldestFirst) {
  for (int i = 0; i < 150; ++i) registry().Log(LogLevel::kError, "e" + std::to_string(i));
  const std::vector<ErrorRecord> errors = registry().errors();
  ASSERT_EQ(errors.size(), 100u);
  EXPECT_EQ(errors.front().message, "e50");
  EXPECT_EQ(errors.back().message, "e149");
}

TEST_F(RegistryTest, SetLogSinkRedirectsMessages) {
  std::vector<std::string> captured;
  registry().SetLogSink([&](LogLevel, std::string_view m) { captured.emplace_back(m); });
  registry().Log(LogLevel::kWarning, "to the new sink");
  EXPECT_THAT(captured, ElementsAre("to the new sink"));
  EXPECT_TRUE(LogsAt(LogLevel::kWarning).empty());
}

TEST_F(RegistryTest, ClockIsTheInjectedOne) { EXPECT_EQ(&registry().clock(), &clock_); }

}  // namespace
}  // namespace degrade
