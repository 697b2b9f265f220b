// The audit trail: every accepted change is one event attributed to its
// cause (core/cause.h; docs/audit.md has the rules), whatever entry decides
// the switch afterwards; and the JSON line the log gets.
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/cause.h"
#include "core/layer_delta.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "degrade/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_registry.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_registry.h
using internal::MakeCause;

SwitchValue Fault50(std::string reason, std::string actor) {
  SwitchValue v;
  v.fault = Fault{Fault::Kind::kError, 0.5, 0};
  v.reason = std::move(reason);
  v.actor = std::move(actor);
  return v;
}

class AuditTest : public ::testing::Test {
 protected:
  Registry& registry() {
    if (!registry_) {
      registry_ = std::make_unique<Registry>(Registry::Options{
          .clock = &clock_,
          .getenv = env_.Getenv(),
          .log_sink = logs_.Sink(),
          .timer_threads = false,
      });
      registry_->AddListener([this](const ChangeEvent& e) {
        std::lock_guard<std::mutex> lock(mu_);
        events_.push_back(e);
      });
    }
    return *registry_;
  }

  void Define(std::string name) {
    absl::StatusOr<Switch*> sw = registry().Define(Spec(std::move(name)));
    ASSERT_TRUE(sw.ok()) << sw.status();
  }

  std::vector<ChangeEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // The only event since the last Forget; fails the test otherwise.
  ChangeEvent Only() {
    std::vector<ChangeEvent> got = events();
    EXPECT_EQ(got.size(), 1u);
    return got.empty() ? ChangeEvent{} : got.back();
  }
  void Forget() {
    std::lock_guard<std::mutex> lock(mu_);
    events_.clear();
  }

  void Apply(Layer layer, Snapshot snapshot, std::string_view source) {
    absl::Status s = registry().ApplySnapshot(layer, std::move(snapshot), source);
    ASSERT_TRUE(s.ok()) << s;
  }

  testing::FakeClock clock_;
  FakeEnv env_;
  LogCapture logs_;
  std::mutex mu_;
  std::vector<ChangeEvent> events_;
  std::unique_ptr<Registry> registry_;
};

// ------------------------------------------------------------ the issue's two cases

TEST_F(AuditTest, FaultByBobOverAnEnvDecidedSwitchIsBobs) {
  env_.Set("DEGRADE_ANALYTICS", "25%");
  Define("analytics");
  ASSERT_TRUE(registry().SetOverride("analytics", Fault50("drill-2", "bob")).ok());
  const ChangeEvent e = Only();
  EXPECT_EQ(e.actor, "bob");
  EXPECT_EQ(e.reason, "drill-2");
  EXPECT_EQ(e.layer, Layer::kEnv);
  EXPECT_EQ(e.fault_layer, Layer::kAdmin);
  EXPECT_EQ(e.old_fault_layer, std::nullopt);
  EXPECT_EQ(DescribeState(e.old_state), "on allow=0.25");
  EXPECT_EQ(DescribeState(e.new_state), "on allow=0.25 fault=error rate=0.5");
}

TEST_F(AuditTest, ClearByAnaIsAnasAndNamesWhatWasCleared) {
  Define("recommendations");
  ASSERT_TRUE(registry().SetOverride("recommendations", Off("INC-7", "bob")).ok());
  Forget();
  ASSERT_TRUE(internal::ClearOverrideWithCause(registry(), "recommendations",
                                               MakeCause("ana", ""))
                  .ok());
  const ChangeEvent e = Only();
  EXPECT_EQ(e.actor, "ana");
  EXPECT_EQ(e.reason, "admin override by bob (\"INC-7\") cleared");
  EXPECT_EQ(e.old_layer, Layer::kAdmin);
  EXPECT_EQ(e.layer, Layer::kDefault);
}

TEST_F(AuditTest, ClearWithAReasonKeepsIt) {
  Define("recommendations");
  ASSERT_TRUE(registry().SetOverride("recommendations", Off("INC-7", "bob")).ok());
  Forget();
  ASSERT_TRUE(internal::ClearOverrideWithCause(registry(), "recommendations",
                                               MakeCause("ana", "vendor recovered"))
                  .ok());
  EXPECT_EQ(Only().reason, "vendor recovered");
}

TEST_F(AuditTest, ClearThroughTheApiIsTheApis) {
  Define("recommendations");
  ASSERT_TRUE(registry().SetOverride("recommendations", Off("INC-7", "bob")).ok());
  Forget();
  ASSERT_TRUE(registry().ClearOverride("recommendations").ok());
  const ChangeEvent e = Only();
  EXPECT_EQ(e.actor, "api");
  EXPECT_EQ(e.reason, "admin override by bob (\"INC-7\") cleared");
}

// ------------------------------------------------------------ admin and code writes

TEST_F(AuditTest, SetOverrideWithoutActorIsTheApis) {
  Define("recs");
  ASSERT_TRUE(registry().SetOverride("recs", Off("why")).ok());
  EXPECT_EQ(Only().actor, "api");
  EXPECT_EQ(Only().reason, "why");
}

TEST_F(AuditTest, RewritingAnOverrideWithANewReasonIsAnEvent) {
  Define("recs");
  ASSERT_TRUE(registry().SetOverride("recs", Off("INC-1", "bob")).ok());
  Forget();
  ASSERT_TRUE(registry().SetOverride("recs", Off("INC-2", "carol")).ok());
  const ChangeEvent e = Only();
  EXPECT_EQ(e.actor, "carol");
  EXPECT_EQ(e.reason, "INC-2");
  EXPECT_EQ(DescribeState(e.old_state), "off");
  EXPECT_EQ(DescribeState(e.new_state), "off");
}

TEST_F(AuditTest, RewritingAnOverrideIdenticallyIsNoEvent) {
  Define("recs");
  ASSERT_TRUE(registry().SetOverride("recs", Off("INC-1", "bob")).ok());
  Forget();
  ASSERT_TRUE(registry().SetOverride("recs", Off("INC-1", "bob")).ok());
  EXPECT_THAT(events(), ::testing::IsEmpty());
}

TEST_F(AuditTest, OverrideWithTtlCarriesItsExpiry) {
  Define("recs");
  ASSERT_TRUE(registry().SetOverride("recs", Off("INC-1", "bob"), absl::Minutes(10)).ok());
  EXPECT_EQ(Only().expires_at, clock_.Now() + absl::Minutes(10));
}

TEST_F(AuditTest, ExtendingAnOverridesTtlIsAnEvent) {
  Define("recs");
  ASSERT_TRUE(registry().SetOverride("recs", Off("INC-1", "bob"), absl::Minutes(10)).ok());
  Forget();
  ASSERT_TRUE(registry().SetOverride("recs", Off("INC-1", "bob"), absl::Minutes(30)).ok());
  EXPECT_EQ(Only().expires_at, clock_.Now() + absl::Minutes(30));
}

TEST_F(AuditTest, BulkAdminWriteIsItsCallers) {
  Define("a");
  Define("b");
  Snapshot s;
  s.switches["a"] = Off();
  s.switches["b"] = Allow(0.5);
  ASSERT_TRUE(internal::ApplySnapshotWithCause(registry(), Layer::kAdmin, std::move(s),
                                               "admin bulk", MakeCause("carol", "INC-9"))
                  .ok());
  const std::vector<ChangeEvent> got = events();
  ASSERT_EQ(got.size(), 2u);
  for (const ChangeEvent& e : got) {
    EXPECT_EQ(e.actor, "carol") << e.name;
    EXPECT_EQ(e.reason, "INC-9") << e.name;
  }
}

TEST_F(AuditTest, AdminWriteWithCauseIsTheRequesters) {
  Define("recs");
  ASSERT_TRUE(internal::SetOverrideWithCause(registry(), "recs", Off(), absl::ZeroDuration(),
                                             MakeCause("dave", "INC-3"))
                  .ok());
  EXPECT_EQ(Only().actor, "dave");
  EXPECT_EQ(Only().reason, "INC-3");
  EXPECT_EQ(registry().Get("recs")->actor, "dave");
}

// ------------------------------------------------------------ expiry

TEST_F(AuditTest, ExpiryNamesTheOverrideThatExpired) {
  Define("recs");
  ASSERT_TRUE(registry().SetOverride("recs", Off("drill-2", "bob"), absl::Minutes(5)).ok());
  Forget();
  clock_.Advance(absl::Minutes(5));
  registry().ProcessExpiries();
  const ChangeEvent e = Only();
  EXPECT_EQ(e.actor, "expiry");
  EXPECT_EQ(e.reason, "admin override by bob (\"drill-2\") expired");
  EXPECT_EQ(e.layer, Layer::kDefault);
  EXPECT_EQ(e.time, clock_.Now());
}

TEST_F(AuditTest, ExpiryOfAFileEntryNamesIt) {
  Define("recs");
  Snapshot s;
  s.switches["recs"] = Off("maintenance", "ops");
  s.switches["recs"].expires_at = clock_.Now() + absl::Hours(1);
  Apply(Layer::kFile, std::move(s), "file /etc/svc/degrade.json");
  Forget();
  clock_.Advance(absl::Hours(1));
  registry().ProcessExpiries();
  EXPECT_EQ(Only().actor, "expiry");
  EXPECT_EQ(Only().reason, "file entry by ops (\"maintenance\") expired");
}

TEST_F(AuditTest, ExpiryOfADrillFaultNamesIt) {
  Define("recs");
  ASSERT_TRUE(registry().SetOverride("recs", Fault50("drill-2", "bob"), absl::Minutes(1)).ok());
  Forget();
  clock_.Advance(absl::Minutes(1));
  registry().ProcessExpiries();
  const ChangeEvent e = Only();
  EXPECT_EQ(e.reason, "admin override by bob (\"drill-2\") expired");
  EXPECT_EQ(e.old_fault_layer, Layer::kAdmin);
  EXPECT_EQ(e.fault_layer, std::nullopt);
}

// ------------------------------------------------------------ sources

TEST_F(AuditTest, FileEntryWithoutActorIsTheFilesReload) {
  Define("recs");
  Snapshot s;
  s.switches["recs"] = Off();
  Apply(Layer::kFile, std::move(s), "file /etc/svc/degrade.json");
  EXPECT_EQ(Only().actor, "file");
  EXPECT_EQ(Only().reason, "/etc/svc/degrade.json reloaded");
}

TEST_F(AuditTest, FileEntryWithActorSpeaksForItself) {
  Define("recs");
  Snapshot s;
  s.switches["recs"] = Off("INC-5", "ops");
  Apply(Layer::kFile, std::move(s), "file /etc/svc/degrade.json");
  EXPECT_EQ(Only().actor, "ops");
  EXPECT_EQ(Only().reason, "INC-5");
}

TEST_F(AuditTest, RemoteRemovingAnEntryIsTheRemotes) {
  Define("recs");
  Snapshot s;
  s.switches["recs"] = Off("INC-5", "ops");
  Apply(Layer::kRemote, std::move(s), "remote http://127.0.0.1:1/degrade.json");
  Forget();
  Apply(Layer::kRemote, Snapshot{}, "remote http://127.0.0.1:1/degrade.json");
  EXPECT_EQ(Only().actor, "remote");
  EXPECT_EQ(Only().reason, "remote http://127.0.0.1:1/degrade.json applied");
}

TEST_F(AuditTest, ClearFallingBackToTheEnvIsTheClearers) {
  env_.Set("DEGRADE_RECS", "off");
  Define("recs");
  ASSERT_TRUE(registry().SetOverride("recs", On()).ok());
  ASSERT_TRUE(registry().ClearOverride("recs").ok());
  const ChangeEvent e = events().back();
  EXPECT_EQ(e.layer, Layer::kEnv);
  EXPECT_EQ(e.actor, "api");
  EXPECT_NE(e.reason, "DEGRADE_RECS=off");
}

TEST_F(AuditTest, EtcdDeltaCarriesItsRevision) {
  Define("recs");
  internal::LayerDelta delta;
  delta.switches["recs"] = Off();
  internal::Cause cause = MakeCause("etcd", "revision 42 applied");
  cause.entries_of = Layer::kRemote;
  cause.revision = 42;
  ASSERT_TRUE(internal::ApplyLayerDelta(registry(), Layer::kRemote, std::move(delta),
                                        "etcd /degrade/", internal::DeltaValues::kBuiltInCode,
                                        cause)
                  .ok());
  const ChangeEvent e = Only();
  EXPECT_EQ(e.actor, "etcd");
  EXPECT_EQ(e.reason, "revision 42 applied");
  EXPECT_EQ(e.revision, 42);
  EXPECT_EQ(nlohmann::json::parse(ChangeEventToJson(e)).at("revision"), 42);
}

TEST_F(AuditTest, EtcdDeltaEntryWithActorSpeaksForItself) {
  Define("recs");
  internal::LayerDelta delta;
  delta.switches["recs"] = Off("INC-8", "erin");
  internal::Cause cause = MakeCause("etcd", "revision 43 applied");
  cause.entries_of = Layer::kRemote;
  ASSERT_TRUE(internal::ApplyLayerDelta(registry(), Layer::kRemote, std::move(delta),
                                        "etcd /degrade/", internal::DeltaValues::kBuiltInCode,
                                        cause)
                  .ok());
  EXPECT_EQ(Only().actor, "erin");
  EXPECT_EQ(Only().reason, "INC-8");
}

// ------------------------------------------------------------ the JSON line

TEST_F(AuditTest, ChangeLineHasEveryFieldOfTheShape) {
  Define("recs");
  registry().SetLogChanges(true);
  ASSERT_TRUE(registry().SetOverride("recs", Off("drill-2", "bob"), absl::Minutes(5)).ok());
  std::vector<std::string> lines;
  for (const LogCapture::Line& l : logs_.Lines()) {
    if (l.level == LogLevel::kChange) lines.push_back(l.message);
  }
  ASSERT_EQ(lines.size(), 1u);
  const nlohmann::json j = nlohmann::json::parse(lines[0]);
  std::set<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"time", "event", "switch", "old", "new", "old_layer",
                                         "layer", "fault_layer", "actor", "reason",
                                         "expires_at"}));
  EXPECT_EQ(j.at("event"), "change");
  EXPECT_EQ(j.at("fault_layer"), nullptr);
  EXPECT_EQ(j.at("actor"), "bob");
  EXPECT_EQ(j.at("reason"), "drill-2");
  EXPECT_EQ(j.at("expires_at"), "2027-01-15T08:05:00+00:00");
}

TEST_F(AuditTest, ChangeLineOfTheIssuesFaultCaseNamesBob) {
  env_.Set("DEGRADE_ANALYTICS", "25%");
  env_.Set("DEGRADE_LOG_CHANGES", "on");
  Define("analytics");
  ASSERT_TRUE(registry().SetOverride("analytics", Fault50("drill-2", "bob")).ok());
  std::vector<std::string> lines;
  for (const LogCapture::Line& l : logs_.Lines()) {
    if (l.level == LogLevel::kChange) lines.push_back(l.message);
  }
  ASSERT_EQ(lines.size(), 1u);
  const nlohmann::json j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j.at("actor"), "bob");
  EXPECT_EQ(j.at("reason"), "drill-2");
  EXPECT_EQ(j.at("layer"), "env");
  EXPECT_EQ(j.at("fault_layer"), "admin");
}

}  // namespace
}  // namespace degrade
