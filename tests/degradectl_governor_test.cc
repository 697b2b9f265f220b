// `degradectl governor off|on|cap N|clear`, run as a subprocess
// ($DEGRADECTL, set by meson) against a real admin endpoint on loopback:
// what it sets, what it prints, its exit codes and its usage errors
// (docs/degradectl.md, docs/governor.md).
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

TEST(DegradectlGovernorUsageTest, BadWordsAndTiersAreUsageErrors) {
  const struct {
    std::vector<std::string> args;
    const char* message;
  } cases[] = {
      {{"governor", "pause"},
       "governor \"pause\" is not valid; accepted: off, on, cap N (N from 1 to 9), clear"},
      {{"governor", "cap"}, "governor cap needs a tier: an integer from 1 to 9"},
      {{"governor", "cap", "0"}, "governor cap \"0\" is not valid; accepted: an integer tier"},
      {{"governor", "cap", "10"}, "governor cap \"10\" is not valid"},
      {{"governor", "off", "now"}, "governor off takes nothing more; unexpected \"now\""},
      {{"governor", "clear", "--ttl", "5m"}, "governor clear takes no --ttl"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"--admin", "http://127.0.0.1:1"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    Output r = RunCtl(args, {absl::StrCat("DEGRADE_ADMIN_TOKEN=", kToken)});
    EXPECT_EQ(r.exit_code, 2) << c.message;
    EXPECT_THAT(r.err, HasSubstr(c.message));
  }
}

// ------------------------------------------------------------------ admin

class DegradectlGovernorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.Define({.name = "ads", .description = "ads", .tier = 9}).ok());
    GovernorOptions g;
    g.target = absl::Milliseconds(200);
    ASSERT_TRUE(registry_.ConfigureGovernor(g).ok());
    runtime_ = test_util::StartAdmin(registry_, kToken);
    ASSERT_NE(runtime_, nullptr);
  }
  Output Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--admin", absl::StrCat("http://127.0.0.1:", runtime_->admin_port())});
    return RunCtl(std::move(args), {absl::StrCat("DEGRADE_ADMIN_TOKEN=", kToken)});
  }
  static Registry::Options Stepped() {
    Registry::Options o = test_util::QuietOptions();
    o.timer_threads = false;
    return o;
  }
  Registry registry_{Stepped()};
  std::unique_ptr<Runtime> runtime_;
};

TEST_F(DegradectlGovernorTest, OffSetsTheAdminSettingAndSaysSo) {
  Output r = Ctl({"governor", "off", "--reason", "INC-9", "--ttl", "1h"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "governor: off (admin by ana: INC-9)\n");
  const std::optional<GovernorSetting> g = registry_.LayerSnapshot(Layer::kAdmin).governor;
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->enabled, false);
  EXPECT_EQ(g->actor, "ana");
  EXPECT_TRUE(g->expires_at.has_value());
  EXPECT_FALSE(registry_.governor().enabled);
}

TEST_F(DegradectlGovernorTest, CapAndClear) {
  Output r = Ctl({"governor", "cap", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("target 200 ms, serving 100% of tiered work; capped at tier 7"));
  EXPECT_EQ(registry_.governor().cap, 7);
  r = Ctl({"governor", "clear"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("the admin layer's governor setting was cleared\n"));
  EXPECT_EQ(registry_.governor().cap, 1);
}

TEST_F(DegradectlGovernorTest, ListShowsTheGovernorLine) {
  for (int i = 0; i < 100; ++i) registry_.RecordLatency(absl::Milliseconds(400));
  registry_.StepGovernor();
  Output r = Ctl({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex(
                         "governor: p95 [34][0-9]{2} ms, target 200 ms, serving [0-9]+% of "
                         "tiered work \\(tier 9 at [0-9]+%\\)"));
}

}  // namespace
}  // namespace degrade
