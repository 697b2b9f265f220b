// The environment-variable conventions: name -> variable, reserved
// variables, and every accepted and rejected value form.
#include "degrade/env.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "degrade/registry.h"
#include "degrade/state.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_registry.h"

namespace degrade {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr std::string_view kVar = "DEGRADE_RECS";

// What every rejection must say: the variable, the value as given (quoted)
// and the accepted forms.
void ExpectRejected(std::string_view value) {
  SCOPED_TRACE(::testing::Message() << "value \"" << std::string(value) << "\"");
  absl::StatusOr<SwitchValue> parsed = ParseEnvValue(kVar, value);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(parsed.status().message());
  EXPECT_THAT(message, AllOf(HasSubstr("DEGRADE_RECS"),
                             HasSubstr("\"" + std::string(value) + "\""),
                             HasSubstr("accepted: on, off, true, false, 1, 0"),
                             HasSubstr("0.25"), HasSubstr("25%")));
}

SwitchValue MustParse(std::string_view value) {
  absl::StatusOr<SwitchValue> parsed = ParseEnvValue(kVar, value);
  EXPECT_TRUE(parsed.ok()) << "value \"" << value << "\": " << parsed.status();
  return parsed.ok() ? *parsed : SwitchValue{};
}

// ------------------------------------------------------------------ mapping

TEST(EnvTest, SwitchVarIsUpperCasedWithPrefix) {
  EXPECT_EQ(EnvVarForSwitch("recommendations"), "DEGRADE_RECOMMENDATIONS");
}

TEST(EnvTest, SwitchVarTurnsDotsAndDashesIntoUnderscores) {
  EXPECT_EQ(EnvVarForSwitch("payments.fraud-score"), "DEGRADE_PAYMENTS_FRAUD_SCORE");
}

TEST(EnvTest, SwitchVarKeepsDigitsAndUnderscores) {
  EXPECT_EQ(EnvVarForSwitch("v2_api.eu-1"), "DEGRADE_V2_API_EU_1");
}

TEST(EnvTest, GroupVarHasGroupPrefix) {
  EXPECT_EQ(EnvVarForGroup("tier2"), "DEGRADE_GROUP_TIER2");
  EXPECT_EQ(EnvVarForGroup("vendor.api-x"), "DEGRADE_GROUP_VENDOR_API_X");
}

TEST(EnvTest, AllVarIsDegradeAll) { EXPECT_EQ(kEnvAll, "DEGRADE_ALL"); }

// ------------------------------------------------------------------ reserved

TEST(EnvTest, ConfigurationVariablesAreReserved) {
  for (std::string_view var :
       {"DEGRADE_ALL", "DEGRADE_CONFIG_FILE", "DEGRADE_REMOTE_URLS", "DEGRADE_REMOTE_INTERVAL_MS",
        "DEGRADE_ETCD_ENDPOINTS", "DEGRADE_ETCD_PREFIX", "DEGRADE_ETCD_USER",
        "DEGRADE_ETCD_PASSWORD", "DEGRADE_ETCD_CA_FILE", "DEGRADE_CACHE_FILE",
        "DEGRADE_ADMIN_ADDR", "DEGRADE_ADMIN_TOKEN", "DEGRADE_LOG_CHANGES"}) {
    EXPECT_TRUE(IsReservedEnvVar(var)) << var;
  }
}

// Every whole string literal "DEGRADE_..." in lib/ and tools/ is a variable
// they read (or name in a message), and so must be reserved: a switch named
// "instance.id" would otherwise be set by DEGRADE_INSTANCE_ID=off, which is
// also the instance's id. Prefixes ("DEGRADE_GROUP_") and the macro named
// in a message are not variables.
TEST(EnvTest, EveryVariableReadIsReserved) {
  const char* root = std::getenv("DEGRADE_TEST_SOURCE_ROOT");
  ASSERT_NE(root, nullptr) << "DEGRADE_TEST_SOURCE_ROOT (set by tests/meson.build)";
  const std::set<std::string> not_variables = {"DEGRADE_DECLARE_SWITCH"};
  const std::regex literal("\"(DEGRADE_[A-Z0-9_]*[A-Z0-9])\"");
  std::set<std::string> seen;
  int files = 0;
  for (const char* dir : {"lib", "tools"}) {
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(std::filesystem::path(root) / dir)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
      ++files;
      std::ifstream in(entry.path());
      const std::string text((std::istreambuf_iterator<char>(in)), {});
      for (std::sregex_iterator m(text.begin(), text.end(), literal), end; m != end; ++m) {
        if (!not_variables.contains((*m)[1].str())) seen.insert((*m)[1].str());
      }
    }
  }
  EXPECT_GT(files, 50);
  // The list holds what DESIGN.md's variables table gives, at least.
  for (const char* v : {"DEGRADE_ALL", "DEGRADE_CONFIG_FILE", "DEGRADE_INSTANCE_ID",
                        "DEGRADE_ETCD_REGISTER", "DEGRADE_GOVERNOR_TARGET_MS", "DEGRADE_SHED"}) {
    EXPECT_TRUE(seen.contains(v)) << v << " was not found in lib/ or tools/";
  }
  for (const std::string& var : seen) EXPECT_TRUE(IsReservedEnvVar(var)) << var;
}

TEST(EnvTest, GroupVariablesAreReserved) {
  EXPECT_TRUE(IsReservedEnvVar("DEGRADE_GROUP_X"));
  EXPECT_TRUE(IsReservedEnvVar(EnvVarForSwitch("group.x")));
}

TEST(EnvTest, OrdinarySwitchVariablesAreNotReserved) {
  EXPECT_FALSE(IsReservedEnvVar("DEGRADE_RECS"));
  EXPECT_FALSE(IsReservedEnvVar("DEGRADE_CONFIG"));         // a prefix of a reserved one
  EXPECT_FALSE(IsReservedEnvVar("DEGRADE_CONFIG_FILE_2"));  // extends a reserved one
  EXPECT_FALSE(IsReservedEnvVar("DEGRADE_GROUP"));          // switch "group"
  EXPECT_FALSE(IsReservedEnvVar(""));
}

TEST(EnvTest, ReservedCheckIsCaseSensitive) {
  EXPECT_FALSE(IsReservedEnvVar("degrade_all"));
}

// ------------------------------------------------------------------ accepted values

TEST(EnvTest, OnWordsMeanPlainOn) {
  for (std::string_view v : {"on", "ON", "On", "true", "TRUE", "True", "1"}) {
    const SwitchValue parsed = MustParse(v);
    EXPECT_EQ(parsed.state, State::kOn) << v;
    EXPECT_FALSE(parsed.allow.has_value()) << v;
    EXPECT_FALSE(parsed.SetsFault()) << v;
  }
}

TEST(EnvTest, OffWordsMeanOff) {
  for (std::string_view v : {"off", "OFF", "oFf", "false", "FALSE", "False", "0"}) {
    const SwitchValue parsed = MustParse(v);
    EXPECT_EQ(parsed.state, State::kOff) << v;
    EXPECT_FALSE(parsed.allow.has_value()) << v;
  }
}

TEST(EnvTest, SurroundingBlanksAreIgnored) {
  EXPECT_EQ(MustParse("  off ").state, State::kOff);
  EXPECT_EQ(MustParse("\ton\n").state, State::kOn);
  EXPECT_EQ(MustParse(" 1 ").state, State::kOn);
  const SwitchValue fraction = MustParse(" 0.25\t");
  EXPECT_EQ(fraction.state, State::kOn);
  EXPECT_EQ(fraction.allow, 0.25);
}

TEST(EnvTest, FractionMeansOnWithAllow) {
  const SwitchValue parsed = MustParse("0.25");
  EXPECT_EQ(parsed.state, State::kOn);
  EXPECT_EQ(parsed.allow, 0.25);
}

TEST(EnvTest, FractionWithoutLeadingZeroIsAccepted) {
  const SwitchValue parsed = MustParse(".5");
  EXPECT_EQ(parsed.state, State::kOn);
  EXPECT_EQ(parsed.allow, 0.5);
}

TEST(EnvTest, PercentageMeansOnWithAllow) {
  const SwitchValue parsed = MustParse("25%");
  EXPECT_EQ(parsed.state, State::kOn);
  EXPECT_EQ(parsed.allow, 0.25);
}

TEST(EnvTest, HundredPercentIsPlainOn) {
  const SwitchValue parsed = MustParse("100%");
  EXPECT_EQ(parsed.state, State::kOn);
  EXPECT_FALSE(parsed.allow.has_value());
}

TEST(EnvTest, ZeroPercentIsOff) {
  const SwitchValue parsed = MustParse("0%");
  EXPECT_EQ(parsed.state, State::kOff);
  EXPECT_FALSE(parsed.allow.has_value());
}

TEST(EnvTest, ZeroFractionIsOff) {
  const SwitchValue parsed = MustParse("0.0");
  EXPECT_EQ(parsed.state, State::kOff);
  EXPECT_FALSE(parsed.allow.has_value());
}

TEST(EnvTest, OneFractionIsPlainOn) {
  const SwitchValue parsed = MustParse("1.0");
  EXPECT_EQ(parsed.state, State::kOn);
  EXPECT_FALSE(parsed.allow.has_value());
}

TEST(EnvTest, ParsedValueCarriesNoReasonActorOrExpiry) {
  const SwitchValue parsed = MustParse("off");
  EXPECT_EQ(parsed.reason, "");
  EXPECT_EQ(parsed.actor, "");
  EXPECT_FALSE(parsed.expires_at.has_value());
}

// ------------------------------------------------------------------ rejected values

TEST(EnvTest, EmptyValueIsRejected) { ExpectRejected(""); }
TEST(EnvTest, BlankValueIsRejected) { ExpectRejected("   "); }
TEST(EnvTest, MisspelledWordIsRejected) { ExpectRejected("of"); }
TEST(EnvTest, YesIsRejected) { ExpectRejected("yes"); }
TEST(EnvTest, IntegerAboveOneIsRejected) { ExpectRejected("2"); }
TEST(EnvTest, NegativeFractionIsRejected) { ExpectRejected("-0.1"); }
TEST(EnvTest, FractionAboveOneIsRejected) { ExpectRejected("1.5"); }
TEST(EnvTest, PercentageAboveHundredIsRejected) { ExpectRejected("150%"); }
TEST(EnvTest, NegativePercentageIsRejected) { ExpectRejected("-5%"); }
TEST(EnvTest, ExponentIsRejected) { ExpectRejected("1e-1"); }
TEST(EnvTest, HexIsRejected) { ExpectRejected("0x1"); }
TEST(EnvTest, NanIsRejected) { ExpectRejected("nan"); }
TEST(EnvTest, InfIsRejected) { ExpectRejected("inf"); }
TEST(EnvTest, BarePercentSignIsRejected) { ExpectRejected("%"); }
// Found by fuzz/env_value_fuzz: the percentage form took what the fraction
// form rejects.
TEST(EnvTest, ExponentPercentageIsRejected) { ExpectRejected("1e1%"); }
TEST(EnvTest, BlankBeforePercentSignIsRejected) { ExpectRejected("5 %"); }
TEST(EnvTest, BareDotIsRejected) { ExpectRejected("."); }
TEST(EnvTest, TwoDotsAreRejected) { ExpectRejected("0.2.5"); }

TEST(EnvTest, RejectionKeepsTheValueAsGivenNotLowerCased) {
  absl::StatusOr<SwitchValue> parsed = ParseEnvValue(kVar, " OF ");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("\" OF \""));
}

TEST(EnvTest, RejectionNamesTheVariableGiven) {
  absl::StatusOr<SwitchValue> parsed = ParseEnvValue("DEGRADE_GROUP_TIER2", "bogus");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()),
              AllOf(HasSubstr("DEGRADE_GROUP_TIER2"), HasSubstr("\"bogus\"")));
}

// ------------------------------------------------------------------ DEGRADE_LOG_CHANGES

// The number of change lines a registry built with DEGRADE_LOG_CHANGES=value
// writes for one override, and its error lines.
struct LogChangesOutcome {
  int change_lines = 0;
  std::vector<std::string> errors;
};

LogChangesOutcome WithLogChanges(const std::string& value) {
  test_util::FakeEnv env;
  env.Set("DEGRADE_LOG_CHANGES", value);
  test_util::LogCapture logs;
  LogChangesOutcome out;
  {
    Registry::Options options = test_util::QuietOptions();
    options.getenv = env.Getenv();
    options.log_sink = logs.Sink();
    Registry registry(std::move(options));
    EXPECT_TRUE(registry.Define({.name = "recs", .description = "recs"}).ok());
    EXPECT_TRUE(registry.SetOverride("recs", test_util::Off()).ok());
  }
  for (const test_util::LogCapture::Line& line : logs.Lines()) {
    if (line.level == LogLevel::kChange) ++out.change_lines;
    if (line.level == LogLevel::kError) out.errors.push_back(line.message);
  }
  return out;
}

TEST(EnvTest, LogChangesOnWordsTurnTheTrailOn) {
  for (const char* value : {"on", "true", "1", "ON", "True", " on "}) {
    SCOPED_TRACE(value);
    LogChangesOutcome out = WithLogChanges(value);
    EXPECT_EQ(out.change_lines, 1);
    EXPECT_THAT(out.errors, ::testing::IsEmpty());
  }
}

TEST(EnvTest, LogChangesOffWordsLeaveTheTrailOff) {
  for (const char* value : {"off", "false", "0", "OFF", "False"}) {
    SCOPED_TRACE(value);
    LogChangesOutcome out = WithLogChanges(value);
    EXPECT_EQ(out.change_lines, 0);
    EXPECT_THAT(out.errors, ::testing::IsEmpty());
  }
}

TEST(EnvTest, LogChangesYesIsReportedWithTheAcceptedWords) {
  LogChangesOutcome out = WithLogChanges("yes");
  EXPECT_EQ(out.change_lines, 0);
  EXPECT_THAT(out.errors, ::testing::ElementsAre(
                              R"(env: DEGRADE_LOG_CHANGES: "yes" is not valid; accepted: on, off, )"
                              "true, false, 1 or 0 (any case); ignored"));
}

// "25%" is a switch state, not a yes/no answer: it no longer turns the
// trail on.
TEST(EnvTest, LogChangesPercentageIsReportedAndLeavesTheTrailOff) {
  LogChangesOutcome out = WithLogChanges("25%");
  EXPECT_EQ(out.change_lines, 0);
  EXPECT_THAT(out.errors, ::testing::ElementsAre(
                              R"(env: DEGRADE_LOG_CHANGES: "25%" is not valid; accepted: on, off, )"
                              "true, false, 1 or 0 (any case); ignored"));
}

}  // namespace
}  // namespace degrade
