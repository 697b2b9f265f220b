// OFREP on the admin endpoint (lib/admin/ofrep.h) against a real admin
// server on 127.0.0.1 with a cpp-httplib client: values, variants, reasons
// and metadata of each kind of switch, the sticky answer for a targetingKey,
// the bulk answer's ETag and 304, the configuration, and one refusal per
// kind of bad request, with its exact status and OFREP error code.
// tests/openfeature/ofrep.test.mjs drives the same routes with the
// OpenFeature SDK's own OFREP provider.
#include "admin/ofrep.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "admin/admin_server.h"
#include "degrade/registry.h"
#include "degrade/switch.h"
#include "degrade/testing.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "test_http.h"
#include "test_registry.h"

namespace degrade {
namespace {

using internal::AdminConfig;
using internal::AdminServer;
using namespace ::degrade::test_util;  // tests/test_registry.h, test_http.h

constexpr char kToken[] = "0123456789abcdef0123";
constexpr char kJson[] = "application/json";
constexpr char kWithKey[] = R"({"context": {"targetingKey": "user-42"}})";

class OfrepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Registry::Options o = QuietOptions(&clock_);
    o.timer_threads = false;
    registry_ = std::make_unique<Registry>(std::move(o));
    for (const char* name : {"analytics", "recs", "search"}) {
      absl::StatusOr<Switch*> sw = registry_->Define(Spec(name));
      ASSERT_TRUE(sw.ok()) << sw.status();
    }
    ASSERT_TRUE(registry_->SetOverride("recs", Off("INC-7 vendor 5xx", "ana"), absl::Hours(1)).ok());
    ASSERT_TRUE(registry_->SetOverride("search", Allow(0.3)).ok());
    AdminConfig config;
    config.addr = "127.0.0.1:0";
    config.token = kToken;
    auto server = AdminServer::Start(*registry_, config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(5, 0);
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
  }

  httplib::Result Post(const std::string& path, const std::string& body,
                       const httplib::Headers& headers = {}) {
    return client_->Post(path, headers, body, kJson);
  }
  static nlohmann::json FlagOf(const nlohmann::json& bulk, const std::string& key) {
    for (const nlohmann::json& f : bulk["flags"]) {
      if (f["key"] == key) return f;
    }
    return nullptr;
  }

  testing::FakeClock clock_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<AdminServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(OfrepTest, OnSwitchIsTrueStatic) {
  auto r = Post("/ofrep/v1/evaluate/flags/analytics", kWithKey);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const nlohmann::json j = Json(r);
  EXPECT_EQ(j["key"], "analytics");
  EXPECT_EQ(j["value"], true);
  EXPECT_EQ(j["variant"], "on");
  EXPECT_EQ(j["reason"], "STATIC");
  EXPECT_EQ(j["metadata"]["layer"], "default");
}

TEST_F(OfrepTest, OffSwitchIsFalseDisabledWithItsDecidingEntry) {
  auto r = Post("/ofrep/v1/evaluate/flags/recs", R"({"context": {}})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const nlohmann::json j = Json(r);
  EXPECT_EQ(j["value"], false);
  EXPECT_EQ(j["variant"], "off");
  EXPECT_EQ(j["reason"], "DISABLED");
  EXPECT_EQ(j["metadata"]["layer"], "admin");
  EXPECT_EQ(j["metadata"]["actor"], "ana");
  EXPECT_EQ(j["metadata"]["reason"], "INC-7 vendor 5xx");
  EXPECT_EQ(j["metadata"]["expires_at"],
            absl::FormatTime(absl::RFC3339_full, clock_.Now() + absl::Hours(1),
                             absl::UTCTimeZone()));
}

TEST_F(OfrepTest, DimmedSwitchAnswersAsTheStickySwitchDoesForEveryKey) {
  const Switch* search = registry_->Find("search");
  ASSERT_NE(search, nullptr);
  int in = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string key = absl::StrCat("user-", i);
    auto r = Post("/ofrep/v1/evaluate/flags/search",
                  nlohmann::json{{"context", {{"targetingKey", key}}}}.dump());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const nlohmann::json j = Json(r);
    ASSERT_EQ(j["value"], search->enabled(key)) << key;
    EXPECT_EQ(j["variant"], search->enabled(key) ? "on" : "off");
    EXPECT_EQ(j["reason"], "SPLIT");
    EXPECT_EQ(j["metadata"]["allow"], 0.3);
    in += j["value"] == true ? 1 : 0;
  }
  EXPECT_GT(in, 0);
  EXPECT_LT(in, 200);
}

TEST_F(OfrepTest, DimmedSwitchWithoutTargetingKeyIs400TargetingKeyMissing) {
  auto r = Post("/ofrep/v1/evaluate/flags/search", R"({"context": {"targetingKey": ""}})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 400) << r->body;
  const nlohmann::json j = Json(r);
  EXPECT_EQ(j["key"], "search");
  EXPECT_EQ(j["errorCode"], "TARGETING_KEY_MISSING");
  EXPECT_EQ(j["errorDetails"],
            "switch \"search\" is dimmed to allow 0.3, so whether to call the dependency depends "
            "on who asks; accepted: a context with a non-empty string targetingKey (a user, "
            "session or tenant id)");
}

TEST_F(OfrepTest, DimmedToZeroIsFalseForEveryoneWithoutAKey) {
  ASSERT_TRUE(registry_->SetOverride("search", Allow(0)).ok());
  auto r = Post("/ofrep/v1/evaluate/flags/search", R"({"context": {}})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Json(r)["value"], false);
  EXPECT_EQ(Json(r)["reason"], "SPLIT");
}

TEST_F(OfrepTest, UnknownFlagIs404FlagNotFound) {
  auto r = Post("/ofrep/v1/evaluate/flags/nope", kWithKey);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 404) << r->body;
  const nlohmann::json j = Json(r);
  EXPECT_EQ(j["key"], "nope");
  EXPECT_EQ(j["errorCode"], "FLAG_NOT_FOUND");
  EXPECT_EQ(j["errorDetails"],
            "no switch \"nope\" is defined in this process; POST /ofrep/v1/evaluate/flags lists "
            "every flag");
}

TEST_F(OfrepTest, UnknownEntryOfALayerIsNotAFlag) {
  Snapshot s;
  s.switches["ghost"] = Off();
  ASSERT_TRUE(registry_->ApplySnapshot(Layer::kFile, s, "test").ok());
  auto r = Post("/ofrep/v1/evaluate/flags/ghost", kWithKey);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
}

TEST_F(OfrepTest, BodyThatIsNotJsonIs400ParseError) {
  auto r = Post("/ofrep/v1/evaluate/flags/recs", "{context");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(Json(r)["errorCode"], "PARSE_ERROR");
  EXPECT_NE(Json(r)["errorDetails"].get<std::string>().find(
                "body: invalid JSON: parse error at line 1, column 2"),
            std::string::npos)
      << r->body;
}

TEST_F(OfrepTest, EmptyBodyIs400ParseError) {
  auto r = Post("/ofrep/v1/evaluate/flags/recs", "");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(Json(r)["errorCode"], "PARSE_ERROR");
  EXPECT_EQ(Json(r)["errorDetails"],
            "the request has no body; accepted: a JSON object {\"context\": {\"targetingKey\": "
            "\"<user, session or tenant id>\", ...}}");
}

TEST_F(OfrepTest, MissingContextIs400InvalidContext) {
  auto r = Post("/ofrep/v1/evaluate/flags/recs", "{}");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(Json(r)["key"], "recs");
  EXPECT_EQ(Json(r)["errorCode"], "INVALID_CONTEXT");
  EXPECT_EQ(Json(r)["errorDetails"],
            "body.context: is missing; accepted: a JSON object {\"context\": {\"targetingKey\": "
            "\"<user, session or tenant id>\", ...}}");
}

TEST_F(OfrepTest, NonStringTargetingKeyIs400InvalidContext) {
  auto r = Post("/ofrep/v1/evaluate/flags", R"({"context": {"targetingKey": 42}})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 400) << r->body;
  EXPECT_FALSE(Json(r).contains("key"));
  EXPECT_EQ(Json(r)["errorCode"], "INVALID_CONTEXT");
  EXPECT_EQ(Json(r)["errorDetails"],
            "body.context.targetingKey: 42 is not a string; accepted: a string (a user, session "
            "or tenant id)");
}

TEST_F(OfrepTest, GetOnAnEvaluationIs405GeneralWithAllow) {
  auto r = client_->Get("/ofrep/v1/evaluate/flags/recs");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 405) << r->body;
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  EXPECT_EQ(Json(r)["errorCode"], "GENERAL");
}

TEST_F(OfrepTest, UnknownOfrepPathIs404General) {
  auto r = Post("/ofrep/v2/evaluate", kWithKey);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 404) << r->body;
  EXPECT_EQ(Json(r)["errorCode"], "GENERAL");
}

TEST_F(OfrepTest, WrongPresentedTokenIs401) {
  auto r = Post("/ofrep/v1/evaluate/flags/recs", kWithKey,
                {{"Authorization", "Bearer wrong-token-wrong-token"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 401) << r->body;
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer realm=\"degrade\"");
  EXPECT_EQ(Json(r)["errorCode"], "GENERAL");
}

TEST_F(OfrepTest, RightTokenIsAccepted) {
  auto r = Post("/ofrep/v1/evaluate/flags/recs", kWithKey,
                {{"Authorization", absl::StrCat("Bearer ", kToken)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(OfrepTest, CrossOriginPostIs403InOfrepShape) {
  auto r = Post("/ofrep/v1/evaluate/flags", kWithKey, {{"Origin", "https://evil.example"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 403) << r->body;
  EXPECT_EQ(Json(r)["errorCode"], "GENERAL");
  EXPECT_NE(Json(r)["errorDetails"].get<std::string>().find("cross-origin POST refused"),
            std::string::npos);
}

TEST_F(OfrepTest, ForeignHostIs421InOfrepShape) {
  auto r = Post("/ofrep/v1/evaluate/flags", kWithKey, {{"Host", "evil.example"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 421) << r->body;
  EXPECT_EQ(Json(r)["errorCode"], "GENERAL");
}

TEST_F(OfrepTest, TokenInTheBodyIs400) {
  auto r = Post("/ofrep/v1/evaluate/flags/recs",
                absl::StrCat(R"({"context": {"targetingKey": ")", kToken, "\"}}"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(Json(r)["errorCode"], "GENERAL");
  EXPECT_EQ(r->body.find(kToken), std::string::npos);
}

TEST_F(OfrepTest, BulkListsEveryDefinedSwitchWithAnETag) {
  auto r = Post("/ofrep/v1/evaluate/flags", kWithKey);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const nlohmann::json j = Json(r);
  ASSERT_EQ(j["flags"].size(), 3u);
  EXPECT_EQ(FlagOf(j, "analytics")["reason"], "STATIC");
  EXPECT_EQ(FlagOf(j, "recs")["reason"], "DISABLED");
  EXPECT_EQ(FlagOf(j, "search")["value"], registry_->Find("search")->enabled("user-42"));
  const std::string etag = r->get_header_value("ETag");
  EXPECT_EQ(etag.size(), 18u) << etag;
  EXPECT_EQ(etag.front(), '"');
}

TEST_F(OfrepTest, BulkWithoutKeyReportsDimmedSwitchesAsErrors) {
  auto r = Post("/ofrep/v1/evaluate/flags", R"({"context": {}})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const nlohmann::json search = FlagOf(Json(r), "search");
  EXPECT_EQ(search["errorCode"], "TARGETING_KEY_MISSING");
  EXPECT_FALSE(search.contains("value"));
}

TEST_F(OfrepTest, MatchingIfNoneMatchIs304WithoutBody) {
  auto first = Post("/ofrep/v1/evaluate/flags", kWithKey);
  ASSERT_TRUE(first);
  const std::string etag = first->get_header_value("ETag");
  auto r = Post("/ofrep/v1/evaluate/flags", kWithKey, {{"If-None-Match", etag}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 304);
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(r->get_header_value("ETag"), etag);
}

TEST_F(OfrepTest, ChangeGivesANewETagAnd200) {
  auto first = Post("/ofrep/v1/evaluate/flags", kWithKey);
  ASSERT_TRUE(first);
  const std::string etag = first->get_header_value("ETag");
  ASSERT_TRUE(registry_->ClearOverride("recs").ok());
  auto r = Post("/ofrep/v1/evaluate/flags", kWithKey, {{"If-None-Match", etag}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("ETag"), etag);
  EXPECT_EQ(FlagOf(Json(r), "recs")["value"], true);
}

TEST_F(OfrepTest, AnotherTargetingKeyDoesNotMatchTheETag) {
  auto first = Post("/ofrep/v1/evaluate/flags", kWithKey);
  ASSERT_TRUE(first);
  auto r = Post("/ofrep/v1/evaluate/flags", R"({"context": {"targetingKey": "user-43"}})",
                {{"If-None-Match", first->get_header_value("ETag")}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(OfrepTest, SwitchDefinedLaterAppearsOnceTheTableAges) {
  auto first = Post("/ofrep/v1/evaluate/flags", kWithKey);
  ASSERT_TRUE(first);
  ASSERT_TRUE(registry_->Define(Spec("late")).ok());
  clock_.Advance(internal::OfrepRoutes::kTableMaxAge);
  auto r = Post("/ofrep/v1/evaluate/flags", kWithKey,
                {{"If-None-Match", first->get_header_value("ETag")}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(FlagOf(Json(r), "late")["value"], true);
}

TEST_F(OfrepTest, ConcurrentBulkReadsDuringChangesAreWholeAnswers) {
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      httplib::Client c("127.0.0.1", server_->port());
      c.set_read_timeout(5, 0);
      for (int i = 0; i < 30; ++i) {
        auto r = c.Post("/ofrep/v1/evaluate/flags", kWithKey, kJson);
        if (!r || r->status != 200 || Json(r)["flags"].size() != 3) ++bad;
      }
    });
  }
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(registry_->SetOverride("analytics", i % 2 == 0 ? Off() : On()).ok());
  }
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  // After the last change, the answer is the last state.
  auto r = Post("/ofrep/v1/evaluate/flags", kWithKey);
  ASSERT_TRUE(r);
  EXPECT_EQ(FlagOf(Json(r), "analytics")["value"], true);
}

TEST_F(OfrepTest, ConfigurationAnnouncesPollingAndBooleanFlags) {
  auto r = client_->Get("/ofrep/v1/configuration");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Json(r), nlohmann::json::parse(R"({"name": "degrade", "capabilities": {
      "cacheInvalidation": {"polling": {"enabled": true, "minPollingIntervalMs": 1000}},
      "flagEvaluation": {"supportedTypes": ["boolean"]}}})"));
  auto again = client_->Get("/ofrep/v1/configuration",
                            {{"If-None-Match", r->get_header_value("ETag")}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
}

TEST_F(OfrepTest, OfrepEvaluateMatchesTheSwitchWordAtTheEdges) {
  const std::optional<std::string> key = "k";
  EXPECT_EQ(internal::OfrepEvaluate("x", State::kOn, 1.0, std::nullopt)->reason, "STATIC");
  EXPECT_EQ(internal::OfrepEvaluate("x", State::kOff, 1.0, std::nullopt)->reason, "DISABLED");
  EXPECT_FALSE(internal::OfrepEvaluate("x", State::kOn, 0.5, std::nullopt).has_value());
  EXPECT_EQ(internal::OfrepEvaluate("x", State::kOn, 0.5, key)->value,
            StickyPoint("x", "k") < (uint64_t{1} << 31));
}

}  // namespace
}  // namespace degrade
