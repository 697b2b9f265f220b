// GET /degrade/v1/events, the admin endpoint's change stream
// (lib/admin/events_route.h), against a real server on 127.0.0.1: numbering,
// after=, gaps, long-polls, bad parameters; and the attribution of admin
// writes and clears it reports.
#include <future>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "degrade/registry.h"
#include "degrade/runtime.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "test_http.h"
#include "test_registry.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_registry.h

constexpr char kToken[] = "s3cret-t0ken-4711";
constexpr char kEvents[] = "/degrade/v1/events";

class AdminEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.Set("DEGRADE_ANALYTICS", "25%");
    Registry::Options o = QuietOptions();
    o.getenv = env_.Getenv();
    registry_ = std::make_unique<Registry>(std::move(o));
    ASSERT_TRUE(registry_->Define(Spec("analytics")).ok());
    ASSERT_TRUE(registry_->Define(Spec("recommendations")).ok());
    runtime_ = test_util::StartAdmin(*registry_, kToken);
    ASSERT_NE(runtime_, nullptr);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", runtime_->admin_port());
    client_->set_read_timeout(5, 0);
  }

  void TearDown() override {
    client_.reset();
    runtime_.reset();
  }

  httplib::Headers Auth(std::string actor = "", std::string reason = "") {
    httplib::Headers h = {{"Authorization", absl::StrCat("Bearer ", kToken)}};
    if (!actor.empty()) h.emplace("X-Degrade-Actor", actor);
    if (!reason.empty()) h.emplace("X-Degrade-Reason", reason);
    return h;
  }
  void Put(const std::string& name, const std::string& body) {
    auto r = client_->Put(absl::StrCat("/degrade/v1/switches/", name), Auth(), body,
                          "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }
  nlohmann::json Events(const std::string& query) {
    auto r = client_->Get(absl::StrCat(kEvents, query));
    EXPECT_TRUE(r);
    if (!r) return nullptr;
    EXPECT_EQ(r->status, 200) << r->body;
    return Json(r);
  }

  FakeEnv env_;
  std::unique_ptr<Registry> registry_;  // outlives the runtime
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AdminEventsTest, FaultByBobOverAnEnvDecidedSwitchIsBobs) {
  Put("analytics", R"({"fault":{"kind":"error","rate":0.5},"reason":"drill-2","actor":"bob"})");
  const nlohmann::json j = Events("?after=0");
  ASSERT_EQ(j["events"].size(), 1u);
  const nlohmann::json& e = j["events"][0];
  EXPECT_EQ(e["seq"], 1);
  EXPECT_EQ(e["switch"], "analytics");
  EXPECT_EQ(e["actor"], "bob");
  EXPECT_EQ(e["reason"], "drill-2");
  EXPECT_EQ(e["layer"], "env");
  EXPECT_EQ(e["fault_layer"], "admin");
  EXPECT_EQ(j["next"], 1);
  EXPECT_EQ(j["missed"], 0);
}

TEST_F(AdminEventsTest, ClearByAnaIsAnas) {
  Put("recommendations", R"({"state":"off","reason":"INC-7","actor":"bob"})");
  auto r = client_->Delete("/degrade/v1/switches/recommendations", Auth("ana"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const nlohmann::json j = Events("?after=1");
  ASSERT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["actor"], "ana");
  EXPECT_EQ(j["events"][0]["reason"], "admin override by bob (\"INC-7\") cleared");
  EXPECT_EQ(j["events"][0]["layer"], "default");
}

TEST_F(AdminEventsTest, ClearCarriesTheReasonHeader) {
  Put("recommendations", R"({"state":"off","reason":"INC-7","actor":"bob"})");
  auto r = client_->Delete("/degrade/v1/switches/recommendations",
                           Auth("ana", "vendor recovered"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(Events("?after=1")["events"][0]["reason"], "vendor recovered");
}

TEST_F(AdminEventsTest, ClearWithoutActorIsTheAdmins) {
  Put("recommendations", R"({"state":"off","reason":"INC-7","actor":"bob"})");
  auto r = client_->Delete("/degrade/v1/switches/recommendations", Auth());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(Events("?after=1")["events"][0]["actor"], "admin");
}

TEST_F(AdminEventsTest, WithoutAfterStartsFromNow) {
  Put("recommendations", R"({"state":"off"})");
  const nlohmann::json j = Events("");
  EXPECT_EQ(j["events"], nlohmann::json::array());
  EXPECT_EQ(j["next"], 1);
  EXPECT_EQ(j["missed"], 0);
}

TEST_F(AdminEventsTest, AfterSkipsWhatWasSeen) {
  Put("recommendations", R"({"state":"off"})");
  Put("recommendations", R"({"state":"on"})");
  const nlohmann::json j = Events("?after=1");
  ASSERT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["seq"], 2);
  EXPECT_EQ(j["events"][0]["new"]["state"], "on");
  EXPECT_EQ(j["next"], 2);
}

TEST_F(AdminEventsTest, EventIsTheChangeLineWithItsNumber) {
  std::string line;
  registry_->AddListener([&](const ChangeEvent& e) { line = ChangeEventToJson(e); });
  Put("recommendations", R"({"state":"off","reason":"INC-7","actor":"bob"})");
  nlohmann::json e = Events("?after=0")["events"][0];
  e.erase("seq");
  EXPECT_EQ(e.dump(), line);
}

TEST_F(AdminEventsTest, OverflowedRingReportsWhatWasMissed) {
  for (int i = 0; i < 1100; ++i) {
    ASSERT_TRUE(registry_->SetOverride("recommendations", i % 2 == 0 ? Off() : On()).ok());
  }
  const nlohmann::json j = Events("?after=0");
  ASSERT_EQ(j["events"].size(), 1024u);
  EXPECT_EQ(j["events"][0]["seq"], 77);
  EXPECT_EQ(j["missed"], 76);
  EXPECT_EQ(j["next"], 1100);
}

TEST_F(AdminEventsTest, LongPollReturnsAnEventThatArrivesWhileWaiting) {
  auto pending = std::async(std::launch::async, [&] {
    httplib::Client c("127.0.0.1", runtime_->admin_port());
    c.set_read_timeout(5, 0);
    auto r = c.Get(absl::StrCat(kEvents, "?after=0&wait_ms=2000"));
    return r ? Json(r) : nlohmann::json(nullptr);
  });
  Put("recommendations", R"({"state":"off"})");
  const nlohmann::json j = pending.get();
  ASSERT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["switch"], "recommendations");
}

TEST_F(AdminEventsTest, LongPollWithNothingNewAnswersEmpty) {
  const nlohmann::json j = Events("?after=0&wait_ms=50");
  EXPECT_EQ(j["events"], nlohmann::json::array());
  EXPECT_EQ(j["next"], 0);
}

struct BadQuery {
  std::string query;
  std::string error;
};

class AdminEventsBadQueryTest : public AdminEventsTest,
                                public ::testing::WithParamInterface<BadQuery> {};

TEST_P(AdminEventsBadQueryTest, Is400WithAMessageAndChangesNothing) {
  Put("recommendations", R"({"state":"off"})");
  const std::string before = client_->Get("/degrade/v1/switches")->body;
  auto r = client_->Get(absl::StrCat(kEvents, GetParam().query));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(ErrorOf(r), GetParam().error);
  EXPECT_EQ(client_->Get("/degrade/v1/switches")->body, before);
  EXPECT_EQ(Events("?after=0")["next"], 1);
}

INSTANTIATE_TEST_SUITE_P(
    Queries, AdminEventsBadQueryTest,
    ::testing::Values(
        BadQuery{"?after=abc",
                 "after: \"abc\" is not a sequence number; accepted: a whole number from 0 (the "
                 "\"next\" of the previous answer)"},
        BadQuery{"?after=-1",
                 "after: \"-1\" is not a sequence number; accepted: a whole number from 0 (the "
                 "\"next\" of the previous answer)"},
        BadQuery{"?after=5",
                 "after: 5 is beyond the latest event (1); accepted: a whole number from 0 to 1 "
                 "(the server may have restarted: start again without after)"},
        BadQuery{"?wait_ms=5000",
                 "wait_ms: \"5000\" is not accepted; accepted: a whole number of milliseconds "
                 "from 0 to 2000"},
        BadQuery{"?wait_ms=1.5",
                 "wait_ms: \"1.5\" is not accepted; accepted: a whole number of milliseconds "
                 "from 0 to 2000"},
        BadQuery{"?since=3",
                 "unknown parameter \"since\"; accepted: after, wait_ms (GET "
                 "/degrade/v1/events?after=SEQ&wait_ms=N)"},
        BadQuery{"?after=1&after=2",
                 "parameter \"after\" is given more than once; accepted: each of after, wait_ms "
                 "at most once (GET /degrade/v1/events?after=SEQ&wait_ms=N)"}));

TEST_F(AdminEventsTest, WriteMethodIs405) {
  auto r = client_->Post(kEvents, {{"Authorization", absl::StrCat("Bearer ", kToken)}}, "{}",
                         "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
}

}  // namespace
}  // namespace degrade
