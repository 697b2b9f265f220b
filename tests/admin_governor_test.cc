// GET/PUT/DELETE /degrade/v1/governor against a real admin server on
// 127.0.0.1 (port 0): the admin layer's governor setting (off, on, cap),
// its exact replies and codes, and that it takes effect at once
// (docs/governor.md). The governor is stepped by the test (no timer
// threads), with synthetic latencies.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "degrade/governor.h"
#include "degrade/registry.h"
#include "degrade/runtime.h"
#include "degrade/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "test_http.h"
#include "test_registry.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h
using ::testing::HasSubstr;

constexpr char kToken[] = "s3cret-t0ken-4711";
constexpr char kPath[] = "/degrade/v1/governor";

Registry::Options SteppedOptions(Clock* clock) {
  Registry::Options o = QuietOptions(clock);
  o.timer_threads = false;
  return o;
}

class AdminGovernorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ads_ = *registry_.Define({.name = "ads", .description = "tier 9", .tier = 9});
    recs_ = *registry_.Define({.name = "recs", .description = "tier 3", .tier = 3});
    GovernorOptions g;
    g.target = absl::Milliseconds(100);
    ASSERT_TRUE(registry_.ConfigureGovernor(g).ok());
    runtime_ = StartAdmin(registry_, kToken);
    ASSERT_NE(runtime_, nullptr);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", runtime_->admin_port());
    client_->set_read_timeout(5, 0);
  }

  // Periods of 100 requests that each took `ms`.
  void Overload(int periods, double ms = 1000) {
    for (int p = 0; p < periods; ++p) {
      for (int i = 0; i < 100; ++i) registry_.RecordLatency(absl::Milliseconds(ms));
      registry_.StepGovernor();
    }
  }

  static httplib::Headers Auth() { return {{"Authorization", std::string("Bearer ") + kToken}}; }
  httplib::Result Put(const std::string& body, httplib::Headers headers = Auth()) {
    return client_->Put(kPath, headers, body, "application/json");
  }

  testing::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  Registry registry_{SteppedOptions(&clock_)};  // outlives the runtime
  Switch* ads_ = nullptr;
  Switch* recs_ = nullptr;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AdminGovernorTest, GetShowsTheStatus) {
  Overload(1, 150);
  auto r = client_->Get(kPath, Auth());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  nlohmann::json g = Json(r)["governor"];
  EXPECT_EQ(g["configured"], true);
  EXPECT_EQ(g["enabled"], true);
  EXPECT_EQ(g["target_ms"], 100.0);
  EXPECT_EQ(g["tier"], 9);
  EXPECT_EQ(g["samples"], 100);
  EXPECT_LT(g["served"].get<double>(), 1.0);
}

TEST_F(AdminGovernorTest, OffBringsBackWhatItDimmedAtOnce) {
  Overload(8);
  ASSERT_FALSE(ads_->enabled());
  auto r = Put(R"({"enabled": false, "reason": "INC-9", "actor": "oncall"})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(ads_->enabled());  // before any further period
  EXPECT_TRUE(recs_->enabled());
  nlohmann::json g = Json(r)["governor"];
  EXPECT_EQ(g["enabled"], false);
  EXPECT_EQ(g["setting"].dump(), R"({"actor":"oncall","layer":"admin","reason":"INC-9"})");
  Overload(3);  // it does not act while off
  EXPECT_TRUE(ads_->enabled());
  EXPECT_TRUE(registry_.LayerSnapshot(Layer::kGovernor).empty());
}

TEST_F(AdminGovernorTest, DeleteLetsItActAgain) {
  ASSERT_EQ(Put(R"("off")")->status, 200);
  auto r = client_->Delete(kPath, Auth());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Json(r)["cleared"], true);
  EXPECT_EQ(Json(r)["message"], "the admin layer's governor setting was cleared");
  Overload(8);
  EXPECT_FALSE(ads_->enabled());
  r = client_->Delete(kPath, Auth());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Json(r)["cleared"], false);
  EXPECT_EQ(Json(r)["message"], "the admin layer had no governor setting; nothing changed");
}

TEST_F(AdminGovernorTest, ACapKeepsItAwayFromLowerTiersAtOnce) {
  Overload(30);  // long enough to reach tier 3
  ASSERT_FALSE(ads_->enabled());

  ASSERT_FALSE(recs_->enabled());
  auto r = Put(R"({"cap": 5})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(recs_->enabled());
  EXPECT_EQ(registry_.Get("recs")->deciding_layer, Layer::kDefault);
  EXPECT_FALSE(ads_->enabled());
  EXPECT_EQ(Json(r)["governor"]["cap"], 5);
}

TEST_F(AdminGovernorTest, BadBodiesAre400AndChangeNothing) {
  const struct {
    const char* body;
    const char* message;
  } cases[] = {
      {R"({"cap": 12})", "governor.cap: 12"},
      {R"({"enabled": "no"})", "governor.enabled: \"no\""},
      {R"({"reason": "only a reason"})", "says neither enabled nor cap"},
      {R"({"enabled": false, "expires_at": "2020-01-01T00:00:00Z"})", "is in the past"},
      {R"("sometimes")", "governor: \"sometimes\" is not a governor setting"},
      {R"({"cap": 3, "cap": 4})", "duplicate key \"cap\""},
  };
  for (const auto& c : cases) {
    auto r = Put(c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << c.body;
    EXPECT_THAT(ErrorOf(r), HasSubstr(c.message)) << c.body;
  }
  EXPECT_FALSE(registry_.LayerSnapshot(Layer::kAdmin).governor.has_value());
}

TEST_F(AdminGovernorTest, WritesNeedTheToken) {
  auto r = Put(R"("off")", {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_FALSE(registry_.LayerSnapshot(Layer::kAdmin).governor.has_value());
}

TEST_F(AdminGovernorTest, OtherMethodsAre405) {
  auto r = client_->Post(kPath, Auth(), "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD, PUT, DELETE");
}

TEST_F(AdminGovernorTest, ChangeEventsSayWhoTurnedItOff) {
  Overload(8);
  std::mutex mu;
  std::vector<ChangeEvent> events;
  registry_.AddListener([&](const ChangeEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(e);
  });
  ASSERT_EQ(Put(R"({"enabled": false, "reason": "INC-9", "actor": "oncall"})")->status, 200);
  std::lock_guard<std::mutex> lock(mu);
  bool ads = false;
  for (const ChangeEvent& e : events) {
    ads = ads || e.name == "ads";
    EXPECT_EQ(e.actor, "governor") << e.name;
    EXPECT_EQ(e.reason, "governor turned off by oncall: INC-9") << e.name;
  }
  EXPECT_TRUE(ads);
}

}  // namespace
}  // namespace degrade
