// The fleet view (lib/etcd/registration_view.h) over hand-built
// registrations and etcd keys: no etcd, no processes. The same view with
// real instances is in fleet_test.cc.
#include "etcd/registration_view.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "etcd/registration.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace degrade::internal {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// A registration of `id` at `revision` defining `switches` (name -> {state,
// layer}); the newest layer change it applied is `layer_revision` (default:
// `revision`).
InstanceRecord Instance(const std::string& id, int64_t revision, const json& switches,
                        int64_t layer_revision = -1) {
  json v = {{"id", id},           {"host", "h"},
            {"pid", 1},           {"version", "1.0"},
            {"started_at", "t"},  {"written_at", "t"},
            {"revision", revision},
            {"layer_revision", layer_revision < 0 ? revision : layer_revision},
            {"sources", json::array()}, {"switches", switches}};
  absl::StatusOr<InstanceRecord> r = ParseRegistration("/p/instances/" + id, v.dump());
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

json Sw(const std::string& state, const std::string& layer) {
  return {{"state", state}, {"allow", 1}, {"fault", nullptr}, {"layer", layer},
          {"groups", json::array({"tier2"})}};
}

FleetSnapshot Fleet(std::vector<EtcdKv> layer, std::vector<InstanceRecord> instances) {
  FleetSnapshot f;
  f.prefix = "/p/";
  f.revision = 100;
  f.layer = std::move(layer);
  f.instances = std::move(instances);
  return f;
}

TEST(RegistrationViewTest, EveryInstanceOnEtcdsValueAgrees) {
  const json view = CompareFleet(
      Fleet({{"/p/switches/recs", R"("off")", 10}},
            {Instance("a", 10, {{"recs", Sw("off", "remote")}}),
             // Further on: other instances' registrations moved its revision.
             Instance("b", 12, {{"recs", Sw("off", "remote")}}, 10)}),
      "", kNow);
  EXPECT_EQ(view["agree"], true);
  EXPECT_EQ(view["current"], 2);
  EXPECT_TRUE(view["disagreements"].empty());
}

TEST(RegistrationViewTest, AdminLayerAboveEtcdIsNamed) {
  const json view = CompareFleet(
      Fleet({{"/p/switches/recs", R"("off")", 10}},
            {Instance("a", 10, {{"recs", Sw("on", "admin")}})}),
      "", kNow);
  EXPECT_EQ(view["agree"], false);
  EXPECT_EQ(view["disagreements"][0]["instances"][0]["why"],
            "decided by its admin layer, above etcd");
}

TEST(RegistrationViewTest, InstanceBehindTheKeysRevisionIsStale) {
  const json view = CompareFleet(
      Fleet({{"/p/switches/recs", R"("off")", 10}},
            {Instance("a", 9, {{"recs", Sw("on", "default")}})}),
      "", kNow);
  EXPECT_EQ(view["current"], 0);
  EXPECT_THAT(view["instances"][0]["problems"][0].get<std::string>(),
              HasSubstr("stale: applied revision 9, the latest change is revision 10"));
  EXPECT_THAT(view["disagreements"][0]["instances"][0]["why"].get<std::string>(),
              HasSubstr("stale: applied revision 9"));
}

TEST(RegistrationViewTest, GroupKeyDecidesForItsMembers) {
  const json view = CompareFleet(
      Fleet({{"/p/groups/tier2", R"("off")", 10}},
            {Instance("a", 10, {{"recs", Sw("off", "remote")}})}),
      "", kNow);
  EXPECT_EQ(view["agree"], true);
}

TEST(RegistrationViewTest, ExpiredValueCountsAsNothing) {
  const json view = CompareFleet(
      Fleet({{"/p/switches/recs", R"({"state": "off", "expires_at": "2020-01-01T00:00:00Z"})", 10}},
            {Instance("a", 10, {{"recs", Sw("on", "default")}})}),
      "", kNow);
  EXPECT_EQ(view["agree"], true) << view.dump();
}

TEST(RegistrationViewTest, OnATieTheDefaultsStateIsTheFleets) {
  const json view = CompareFleet(
      Fleet({}, {Instance("a", 5, {{"recs", Sw("on", "default")}}),
                 Instance("pinned", 5, {{"recs", Sw("off", "env")}})}),
      "", kNow);
  ASSERT_EQ(view["disagreements"].size(), 1u);
  EXPECT_EQ(view["disagreements"][0]["instances"][0]["id"], "pinned");
}

TEST(RegistrationViewTest, MissingSwitchMattersOnlyWhenEtcdHasItsKey) {
  const FleetSnapshot silent = Fleet({}, {Instance("new", 5, {{"recs", Sw("on", "default")}}),
                                          Instance("old", 5, json::object())});
  EXPECT_EQ(CompareFleet(silent, "", kNow)["agree"], true);
  const json keyed = CompareFleet(
      Fleet({{"/p/switches/recs", R"("off")", 5}},
            {Instance("new", 5, {{"recs", Sw("off", "remote")}}),
             Instance("old", 5, json::object())}),
      "", kNow);
  EXPECT_THAT(keyed["disagreements"][0]["instances"][0]["why"].get<std::string>(),
              HasSubstr("the switch is not defined there (version 1.0)"));
}

TEST(RegistrationViewTest, RemoteDecisionWithoutAnyKeyIsStale) {
  const json view =
      CompareFleet(Fleet({}, {Instance("a", 5, {{"recs", Sw("off", "remote")}})}), "", kNow);
  EXPECT_THAT(view["disagreements"][0]["instances"][0]["why"].get<std::string>(),
              HasSubstr("still holds a value etcd no longer has"));
}

TEST(RegistrationViewTest, ShedKeyAccountsForARemoteDecisionWithoutAKey) {
  const json view = CompareFleet(
      Fleet({{"/p/shed", "3", 5}}, {Instance("a", 5, {{"recs", Sw("off", "remote")}})}), "",
      kNow);
  EXPECT_EQ(view["agree"], true) << view.dump();
}

TEST(RegistrationViewTest, NoInstanceNeverAgrees) {
  EXPECT_EQ(CompareFleet(Fleet({}, {}), "", kNow)["agree"], false);
}

TEST(RegistrationViewTest, RegistrationWithoutSwitchesIsRejectedNamingThePath) {
  absl::StatusOr<InstanceRecord> r = ParseRegistration(
      "/p/instances/x", R"({"id": "x", "host": "h", "pid": 1, "version": "v", "started_at": "t",
                          "written_at": "t", "revision": 1, "layer_revision": 1})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("registration /p/instances/x: switches is missing or not an object"));
}

TEST(RegistrationViewTest, InstanceIdRulesNameWhatIsAccepted) {
  EXPECT_TRUE(ValidateInstanceId("web-1.eu_west", "id").ok());
  const absl::Status s = ValidateInstanceId("-web", "DEGRADE_INSTANCE_ID");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("does not start with a letter or a digit"));
  EXPECT_FALSE(ValidateInstanceId(std::string(129, 'a'), "id").ok());
  EXPECT_TRUE(ValidateInstanceId(DefaultInstanceId(), "id").ok());
}

}  // namespace
}  // namespace degrade::internal
