// `degradectl shed N|clear`, run as a subprocess ($DEGRADECTL, set by meson)
// against a real admin endpoint on loopback and against a real etcd
// (tests/etcd_fixture.h): what it sends, what it prints, its exit codes,
// and the usage errors for a bad level (docs/degradectl.md).
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/runtime.h"
#include "etcd/etcd_client.h"
#include "etcd_suite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_ctl.h"
#include "test_http.h"
#include "test_registry.h"

namespace degrade {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "s3cret-token-4711";

using Output = test_util::CtlOutput;
using test_util::RunCtl;

// ------------------------------------------------------------------ usage

TEST(DegradectlShedUsageTest, LevelOutOfRangeIsAUsageError) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "shed", "12"},
                    {absl::StrCat("DEGRADE_ADMIN_TOKEN=", kToken)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("shed level \"12\" is not valid; accepted: an integer from 1 to 9 "
                               "(every switch of that tier or higher is shed), or clear"));
}

TEST(DegradectlShedUsageTest, ZeroIsAUsageError) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "shed", "0"},
                    {absl::StrCat("DEGRADE_ADMIN_TOKEN=", kToken)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("shed level \"0\" is not valid"));
}

TEST(DegradectlShedUsageTest, ClearTakesNoTtl) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "shed", "clear", "--ttl", "5m"},
                    {absl::StrCat("DEGRADE_ADMIN_TOKEN=", kToken)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("shed clear takes no --ttl"));
}

// ------------------------------------------------------------------ admin

class DegradectlShedAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.Define({.name = "recs", .description = "recs", .tier = 6}).ok());
    ASSERT_TRUE(registry_.Define({.name = "search", .description = "search", .tier = 2}).ok());
    runtime_ = test_util::StartAdmin(registry_, kToken);
    ASSERT_NE(runtime_, nullptr);
  }
  Output Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--admin", absl::StrCat("http://127.0.0.1:", runtime_->admin_port())});
    return RunCtl(std::move(args), {absl::StrCat("DEGRADE_ADMIN_TOKEN=", kToken)});
  }

  Registry registry_{test_util::QuietOptions()};
  std::unique_ptr<Runtime> runtime_;
};

TEST_F(DegradectlShedAdminTest, ShedSetsTheAdminShedAndNamesTheSwitches) {
  Output r = Ctl({"shed", "5", "--reason", "INC-7", "--ttl", "30m"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("shed: admin at tier \u2265 5 by ana: INC-7 (expires in 30m)"));
  EXPECT_THAT(r.out, HasSubstr("switches shed by the admin layer: recs\n"));
  const std::optional<Shed> shed = registry_.LayerSnapshot(Layer::kAdmin).shed;
  ASSERT_TRUE(shed.has_value());
  EXPECT_EQ(shed->level, 5);
  EXPECT_EQ(shed->actor, "ana");
  EXPECT_EQ(shed->reason, "INC-7");
  EXPECT_TRUE(shed->expires_at.has_value());
}

TEST_F(DegradectlShedAdminTest, ShedJsonPrintsTheServicesReply) {
  Output r = Ctl({"--json", "shed", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["switches"], nlohmann::json({"recs", "search"}));
}

TEST_F(DegradectlShedAdminTest, ShedClearClearsIt) {
  ASSERT_EQ(Ctl({"shed", "3"}).exit_code, 0);
  Output r = Ctl({"shed", "clear", "--reason", "recovered"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("admin shed at tier \u2265 3 by ana cleared\nno layer sheds now\n"));
  EXPECT_TRUE(registry_.Sheds().empty());
}

TEST_F(DegradectlShedAdminTest, ShedClearWithoutShedSaysSo) {
  Output r = Ctl({"shed", "clear"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("the admin layer had no shed; nothing changed"));
}

TEST_F(DegradectlShedAdminTest, ListShowsTheShedLine) {
  ASSERT_EQ(Ctl({"shed", "4", "--reason", "peak"}).exit_code, 0);
  Output r = Ctl({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith("shed: admin at tier \u2265 4 by ana: peak\n"));
}

TEST_F(DegradectlShedAdminTest, ShedWithoutTokenFails) {
  Output r = RunCtl({"--admin", absl::StrCat("http://127.0.0.1:", runtime_->admin_port()), "shed",
                     "3"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("needs its admin token"));
  EXPECT_TRUE(registry_.Sheds().empty());
}

// ------------------------------------------------------------------ etcd

class DegradectlShedEtcdTest : public test_util::SharedEtcdTest {
 protected:
  Output Ctl(std::vector<std::string> args) {
    std::vector<std::string> all = EtcdArgs();
    all.insert(all.end(), args.begin(), args.end());
    return RunCtl(std::move(all));
  }
};

TEST_F(DegradectlShedEtcdTest, ShedWritesTheShedKey) {
  Output r = Ctl({"shed", "7", "--reason", "INC-7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("(etcd " + prefix_ + "shed rev "));
  const std::optional<nlohmann::json> v = Value("shed");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, nlohmann::json({{"level", 7}, {"reason", "INC-7"}, {"actor", "ana"}}));
}

TEST_F(DegradectlShedEtcdTest, ShedTtlBecomesAnExpiry) {
  ASSERT_EQ(Ctl({"shed", "2", "--ttl", "10m"}).exit_code, 0);
  const std::optional<nlohmann::json> v = Value("shed");
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE((*v)["expires_at"].is_string());
  EXPECT_FALSE(v->contains("ttl_s"));
}

TEST_F(DegradectlShedEtcdTest, ShedClearDeletesTheKey) {
  ASSERT_EQ(Ctl({"shed", "2"}).exit_code, 0);
  Output r = Ctl({"shed", "clear"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("shed key deleted"));
  EXPECT_FALSE(Value("shed").has_value());
}

TEST_F(DegradectlShedEtcdTest, ListShowsTheShedKeyWithoutError) {
  ASSERT_EQ(Ctl({"shed", "2"}).exit_code, 0);
  Output r = Ctl({"--json", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["shed"]["value"]["level"], 2);
  EXPECT_TRUE(j["errors"].empty()) << j["errors"];
}

}  // namespace
}  // namespace degrade
