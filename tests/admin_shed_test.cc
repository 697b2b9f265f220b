// PUT/GET/DELETE /degrade/v1/shed against a real admin server on 127.0.0.1
// (port 0): the admin layer's shed level, its exact replies and codes, and
// the change events it causes (docs/admin.md, docs/shedding.md).
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/runtime.h"
#include "degrade/testing.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "test_http.h"
#include "test_registry.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

constexpr char kToken[] = "s3cret-t0ken-4711";
constexpr char kShed[] = "/degrade/v1/shed";

class AdminShedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t2_ = *registry_.Define({.name = "t2", .description = "tier 2", .tier = 2});
    t5_ = *registry_.Define({.name = "t5", .description = "tier 5", .tier = 5});
    untiered_ = *registry_.Define({.name = "untiered", .description = "no tier"});
    runtime_ = StartAdmin(registry_, kToken);
    ASSERT_NE(runtime_, nullptr);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", runtime_->admin_port());
    client_->set_read_timeout(5, 0);
  }

  static httplib::Headers Auth() { return {{"Authorization", std::string("Bearer ") + kToken}}; }
  httplib::Result Put(const std::string& body, httplib::Headers headers = Auth()) {
    return client_->Put(kShed, headers, body, "application/json");
  }

  testing::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  Registry registry_{QuietOptions(&clock_)};  // outlives the runtime
  Switch* t2_ = nullptr;
  Switch* t5_ = nullptr;
  Switch* untiered_ = nullptr;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AdminShedTest, PutShedsTheTiersAtOrAboveTheLevel) {
  auto r = Put(R"({"level": 3, "reason": "INC-7 db hot", "actor": "bob"})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Json(r).dump(),
            R"({"shed":[{"actor":"bob","expires_at":null,"layer":"admin","level":3,)"
            R"("reason":"INC-7 db hot"}],"switches":["t5"]})");
  EXPECT_FALSE(t5_->enabled());
  EXPECT_TRUE(t2_->enabled());
  EXPECT_TRUE(untiered_->enabled());
}

TEST_F(AdminShedTest, PutEventsCarryTheRequestsActorAndTheShedText) {
  std::mutex mu;
  std::vector<ChangeEvent> events;
  registry_.AddListener([&](const ChangeEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(e);
  });
  httplib::Headers headers = Auth();
  headers.emplace("X-Degrade-Actor", "carol");
  auto r = Put(R"({"level": 5, "reason": "peak"})", headers);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "t5");
  EXPECT_EQ(events[0].actor, "carol");
  EXPECT_EQ(events[0].reason, "shed at tier \u2265 5 by carol: peak");
}

TEST_F(AdminShedTest, PutWithTtlSetsTheExpiry) {
  auto r = Put(R"({"level": 2, "ttl_s": 60})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Json(r)["shed"][0]["expires_at"], "2027-01-15T08:01:00+00:00");
}

TEST_F(AdminShedTest, PutWithoutLevelIs400AndChangesNothing) {
  auto r = Put(R"({"reason": "x"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Json(r)["error"],
            "admin PUT shed: shed.level: missing; accepted: an integer in [0, 9] (0: no shed)");
  EXPECT_TRUE(registry_.Sheds().empty());
}

TEST_F(AdminShedTest, PutWithLevelTwelveIs400) {
  auto r = Put(R"({"level": 12})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Json(r)["error"],
            "admin PUT shed: shed.level: 12 is not an integer in [0, 9]; accepted: an integer in "
            "[0, 9] (0: no shed)");
}

TEST_F(AdminShedTest, PutWithLevelZeroIs400) {
  auto r = Put(R"({"level": 0})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Json(r)["error"],
            "admin PUT shed: shed.level: 0 is not a shed level to set; accepted: an integer in "
            "[1, 9] (DELETE /degrade/v1/shed clears the shed)");
}

TEST_F(AdminShedTest, PutWithPastExpiryIs400AndChangesNothing) {
  auto r = Put(R"({"level": 2, "expires_at": "2020-01-01T00:00:00Z"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Json(r)["error"],
            "admin PUT shed: shed.expires_at: \"2020-01-01T00:00:00Z\" is not in the future (now "
            "2027-01-15T08:00:00Z); accepted: an RFC 3339 time after now, or ttl_s (DELETE "
            "clears the shed)");
  EXPECT_TRUE(t5_->enabled());
}

TEST_F(AdminShedTest, PutWithoutTokenIs401) {
  auto r = Put(R"({"level": 2})", {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_TRUE(t5_->enabled());
}

TEST_F(AdminShedTest, PutFromAnotherOriginIs403) {
  httplib::Headers headers = Auth();
  headers.emplace("Origin", "http://evil.example");
  auto r = Put(R"({"level": 2})", headers);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_TRUE(t5_->enabled());
}

TEST_F(AdminShedTest, PutWithFormBodyIs415) {
  auto r = client_->Put(kShed, Auth(), "level=2", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
}

TEST_F(AdminShedTest, DeleteClearsTheShed) {
  ASSERT_EQ(Put(R"({"level": 2, "actor": "bob", "reason": "x"})")->status, 200);
  auto r = client_->Delete(kShed, Auth());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Json(r).dump(),
            R"({"cleared":true,"message":"admin shed at tier ≥ 2 by bob (\"x\") cleared",)"
            R"("shed":[]})");
  EXPECT_TRUE(t5_->enabled());
}

TEST_F(AdminShedTest, DeleteWithoutShedIs200AndSaysSo) {
  auto r = client_->Delete(kShed, Auth());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Json(r).dump(),
            R"({"cleared":false,"message":"the admin layer had no shed; nothing changed",)"
            R"("shed":[]})");
}

TEST_F(AdminShedTest, DeleteWithoutTokenIs401) {
  ASSERT_EQ(Put(R"({"level": 2})")->status, 200);
  auto r = client_->Delete(kShed);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_FALSE(t5_->enabled());
}

TEST_F(AdminShedTest, GetListsEveryLayersShed) {
  ASSERT_EQ(Put(R"({"level": 4})")->status, 200);
  auto r = client_->Get(kShed);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(Json(r)["shed"][0]["level"], 4);
  EXPECT_EQ(Json(r)["shed"][0]["actor"], "admin");
}

TEST_F(AdminShedTest, BulkWriteMayHoldAShedThatTakesTheWritesActorAndTtl) {
  httplib::Headers headers = Auth();
  headers.emplace("X-Degrade-Actor", "dave");
  auto r = client_->Put("/degrade/v1/switches", headers, R"({"shed": 5, "ttl_s": 60})",
                        "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const std::optional<Shed> shed = registry_.LayerSnapshot(Layer::kAdmin).shed;
  ASSERT_TRUE(shed.has_value());
  EXPECT_EQ(shed->actor, "dave");
  EXPECT_EQ(shed->expires_at, clock_.Now() + absl::Seconds(60));
  EXPECT_FALSE(t5_->enabled());
  EXPECT_EQ(Json(r)["shed"][0]["level"], 5);
}

TEST_F(AdminShedTest, PostIs405) {
  auto r = client_->Post(kShed, Auth(), "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD, PUT, DELETE");
}

}  // namespace
}  // namespace degrade
