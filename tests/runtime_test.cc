// Runtime options and the real process environment.
#include "degrade/runtime.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "degrade/registry.h"
#include "gtest/gtest.h"
#include "test_registry.h"
#include "test_wait.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

TEST(RuntimeTest, OptionsFromEnvReadsConfigFile) {
  ScopedEnv env("DEGRADE_CONFIG_FILE", "/etc/svc/degrade.json");
  auto o = Runtime::OptionsFromEnv();
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->config_file, "/etc/svc/degrade.json");
}

TEST(RuntimeTest, EmptyConfigFileVariableIsAnError) {
  ScopedEnv env("DEGRADE_CONFIG_FILE", "");
  auto o = Runtime::OptionsFromEnv();
  ASSERT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find("DEGRADE_CONFIG_FILE"), std::string::npos);
}

TEST(RuntimeTest, OptionsFromEnvReadsTimeoutsPollIntervalAndRemoteCa) {
  ScopedEnv a("DEGRADE_REMOTE_TIMEOUT_MS", "750");
  ScopedEnv b("DEGRADE_REMOTE_CA_FILE", " /etc/ssl/cfg-ca.pem ");
  ScopedEnv c("DEGRADE_FILE_POLL_MS", "50");
  ScopedEnv d("DEGRADE_REMOTE_INTERVAL_MS", "1000");
  auto o = Runtime::OptionsFromEnv();
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->remote_timeout, absl::Milliseconds(750));
  EXPECT_EQ(o->remote_ca_file, "/etc/ssl/cfg-ca.pem");
  EXPECT_EQ(o->file_poll_interval, absl::Milliseconds(50));
  EXPECT_EQ(o->remote_interval, absl::Seconds(1));
}

TEST(RuntimeTest, UnsetTimeoutVariablesKeepTheDefaults) {
  ScopedEnv a("DEGRADE_REMOTE_TIMEOUT_MS", nullptr);
  ScopedEnv b("DEGRADE_REMOTE_CA_FILE", nullptr);
  ScopedEnv c("DEGRADE_FILE_POLL_MS", nullptr);
  auto o = Runtime::OptionsFromEnv();
  ASSERT_TRUE(o.ok()) << o.status();
  const Options defaults;
  EXPECT_EQ(o->remote_timeout, defaults.remote_timeout);
  EXPECT_EQ(o->remote_ca_file, "");
  EXPECT_EQ(o->file_poll_interval, defaults.file_poll_interval);
}

// Each bad value names the variable, the value and what is accepted.
TEST(RuntimeTest, BadMillisecondVariablesAreRejectedWithWhatIsAccepted) {
  struct Case {
    const char* var;
    const char* value;
    const char* accepted;
  };
  const Case cases[] = {
      {"DEGRADE_REMOTE_TIMEOUT_MS", "0", "from 10 to 60000"},
      {"DEGRADE_REMOTE_TIMEOUT_MS", "2s", "from 10 to 60000"},
      {"DEGRADE_REMOTE_TIMEOUT_MS", "60001", "from 10 to 60000"},
      {"DEGRADE_REMOTE_TIMEOUT_MS", "-5", "from 10 to 60000"},
      {"DEGRADE_FILE_POLL_MS", "9", "from 10 to 60000"},
      {"DEGRADE_FILE_POLL_MS", "1.5", "from 10 to 60000"},
      {"DEGRADE_REMOTE_INTERVAL_MS", "99", "from 100 to 3600000"},
      {"DEGRADE_REMOTE_INTERVAL_MS", "fast", "from 100 to 3600000"},
  };
  for (const Case& c : cases) {
    ScopedEnv env(c.var, c.value);
    auto o = Runtime::OptionsFromEnv();
    ASSERT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << c.var << "=" << c.value;
    const std::string msg(o.status().message());
    EXPECT_NE(msg.find(c.var), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("\"") + c.value + "\""), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.accepted), std::string::npos) << msg;
  }
  for (const char* var :
       {"DEGRADE_REMOTE_TIMEOUT_MS", "DEGRADE_FILE_POLL_MS", "DEGRADE_REMOTE_CA_FILE"}) {
    ScopedEnv env(var, "  ");
    auto o = Runtime::OptionsFromEnv();
    ASSERT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << var;
    EXPECT_NE(std::string(o.status().message()).find(std::string(var) + " is set but empty"),
              std::string::npos)
        << o.status();
  }
}

// ------------------------------------------------------------------ signs

// "+500" and "-500" are refused in every millisecond variable, and FromEnv
// starts nothing (a config file is set, so a source would have started).
void ExpectSignedMillisRefused(const char* var, const char* accepted_range) {
  const std::filesystem::path dir = MakeTempDir("rt-signed");
  const std::string path = (dir / "degrade.json").string();
  std::ofstream(path) << R"({"all": "off"})";
  ScopedEnv file("DEGRADE_CONFIG_FILE", path.c_str());
  for (const char* value : {"+500", "-500"}) {
    SCOPED_TRACE(std::string(var) + "=" + value);
    ScopedEnv env(var, value);
    Registry registry(QuietOptionsWithRealEnv());
    auto rt = Runtime::FromEnv(&registry);
    ASSERT_EQ(rt.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Message(rt.status()), std::string(var) + ": \"" + value +
                                        "\" is not valid; accepted: a whole number of "
                                        "milliseconds from " + accepted_range +
                                        ", in digits only");
    EXPECT_TRUE(registry.sources().empty());
  }
  std::filesystem::remove_all(dir);
}

TEST(RuntimeTest, SignedRemoteIntervalIsRefused) {
  ExpectSignedMillisRefused("DEGRADE_REMOTE_INTERVAL_MS", "100 to 3600000");
}

TEST(RuntimeTest, SignedRemoteTimeoutIsRefused) {
  ExpectSignedMillisRefused("DEGRADE_REMOTE_TIMEOUT_MS", "10 to 60000");
}

TEST(RuntimeTest, SignedFilePollIntervalIsRefused) {
  ExpectSignedMillisRefused("DEGRADE_FILE_POLL_MS", "10 to 60000");
}

TEST(RuntimeTest, MillisecondsWithSurroundingBlanksAreAccepted) {
  ScopedEnv env("DEGRADE_REMOTE_INTERVAL_MS", " 500 ");
  auto o = Runtime::OptionsFromEnv();
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->remote_interval, absl::Milliseconds(500));
}

// ------------------------------------------------------------------ DEGRADE_LOG_CHANGES

TEST(RuntimeTest, LogChangesAcceptsEachFlagWordInAnyCase) {
  for (const char* value : {"on", "off", "true", "false", "1", "0", "ON", "False", " on "}) {
    ScopedEnv env("DEGRADE_LOG_CHANGES", value);
    auto o = Runtime::OptionsFromEnv();
    EXPECT_TRUE(o.ok()) << "DEGRADE_LOG_CHANGES=" << value << ": " << o.status();
  }
}

// Until now "yes" was logged as "not a switch state" while the runtime
// started with the trail off; nobody reads that log line at start.
TEST(RuntimeTest, LogChangesYesFailsFromEnvAndStartsNothing) {
  const std::filesystem::path dir = MakeTempDir("rt-logchanges");
  const std::string path = (dir / "degrade.json").string();
  std::ofstream(path) << R"({"all": "off"})";
  ScopedEnv file("DEGRADE_CONFIG_FILE", path.c_str());
  ScopedEnv env("DEGRADE_LOG_CHANGES", "yes");
  Registry registry(QuietOptionsWithRealEnv());
  auto rt = Runtime::FromEnv(&registry);
  ASSERT_EQ(rt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(rt.status()),
            R"(DEGRADE_LOG_CHANGES: "yes" is not valid; accepted: on, off, true, false, 1 or 0 )"
            "(any case)");
  EXPECT_TRUE(registry.sources().empty());
  std::filesystem::remove_all(dir);
}

// A switch state such as "25%" is not a yes/no answer.
TEST(RuntimeTest, LogChangesPercentageFailsFromEnv) {
  ScopedEnv env("DEGRADE_LOG_CHANGES", "25%");
  auto o = Runtime::OptionsFromEnv();
  ASSERT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(o.status()),
            R"(DEGRADE_LOG_CHANGES: "25%" is not valid; accepted: on, off, true, false, 1 or 0 )"
            "(any case)");
}

TEST(RuntimeTest, LogChangesEmptyFailsFromEnv) {
  ScopedEnv env("DEGRADE_LOG_CHANGES", " ");
  auto o = Runtime::OptionsFromEnv();
  ASSERT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(o.status()),
            "DEGRADE_LOG_CHANGES is set but empty; accepted: on, off, true, false, 1 or 0 "
            "(any case), or unset");
}

// A bad variable starts nothing: FromEnv fails before any source exists.
TEST(RuntimeTest, BadFilePollVariableStartsNothing) {
  ScopedEnv file("DEGRADE_CONFIG_FILE", "/nonexistent/degrade.json");
  ScopedEnv poll("DEGRADE_FILE_POLL_MS", "soon");
  Registry registry(QuietOptionsWithRealEnv());
  auto rt = Runtime::FromEnv(&registry);
  ASSERT_EQ(rt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry.sources().empty());
}

// DEGRADE_FILE_POLL_MS reaches the file watcher: a change is applied.
TEST(RuntimeTest, FromEnvFilePollIntervalDrivesTheFileLayer) {
  const std::string dir = MakeTempDir("degrade-runtime-poll");
  ASSERT_FALSE(dir.empty());
  const std::string path = dir + "/degrade.json";
  {
    std::ofstream out(path, std::ios::trunc);
    out << R"({"switches": {"rt.poll": "on"}})";
  }
  ScopedEnv file("DEGRADE_CONFIG_FILE", path.c_str());
  ScopedEnv poll("DEGRADE_FILE_POLL_MS", "20");
  Registry registry(QuietOptionsWithRealEnv());
  Switch* sw = *registry.Define({.name = "rt.poll", .description = "x"});
  auto rt = Runtime::FromEnv(&registry);
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_TRUE(sw->enabled());
  {
    std::ofstream out(path + ".new", std::ios::trunc);
    out << R"({"switches": {"rt.poll": "off"}})";
  }
  std::filesystem::rename(path + ".new", path);
  EXPECT_TRUE(Eventually([&] { return !sw->enabled(); }));
  std::filesystem::remove_all(dir);
}

TEST(RuntimeTest, NonPositivePollIntervalIsRejected) {
  Registry registry(QuietOptionsWithRealEnv());
  Options o;
  o.registry = &registry;
  o.config_file = "/nonexistent";
  o.file_poll_interval = absl::ZeroDuration();
  auto rt = Runtime::Start(o);
  ASSERT_EQ(rt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(rt.status().message().find("file_poll_interval"), std::string::npos);
  EXPECT_TRUE(registry.sources().empty()) << "nothing started on error";
}

TEST(RuntimeTest, FromEnvStartsTheFileLayer) {
  const std::string path = std::filesystem::temp_directory_path() / "degrade-runtime-test.json";
  {
    std::ofstream out(path, std::ios::trunc);
    out << R"({"switches": {"rt.recs": "off"}})";
  }
  ScopedEnv env("DEGRADE_CONFIG_FILE", path.c_str());
  Registry registry(QuietOptionsWithRealEnv());
  Switch* recs = *registry.Define({.name = "rt.recs", .description = "x"});
  auto rt = Runtime::FromEnv(&registry);
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_FALSE(recs->enabled());
  EXPECT_EQ(&(*rt)->registry(), &registry);
  std::filesystem::remove(path);
}

TEST(RuntimeTest, NoConfigurationStartsNothing) {
  ScopedEnv env("DEGRADE_CONFIG_FILE", nullptr);
  Registry registry(QuietOptionsWithRealEnv());
  auto rt = Runtime::FromEnv(&registry);
  ASSERT_TRUE(rt.ok());
  EXPECT_TRUE(registry.sources().empty());
}

TEST(RuntimeTest, RealEnvironmentIsReadAtDefinition) {
  ScopedEnv a("DEGRADE_RT_ENV_OFF", "OFF");
  ScopedEnv b("DEGRADE_RT_ENV_DIM", " 25% ");
  ScopedEnv c("DEGRADE_GROUP_RT_GROUP", "false");
  Registry registry(QuietOptionsWithRealEnv());
  Switch* off = *registry.Define({.name = "rt.env-off", .description = "x"});
  Switch* dim = *registry.Define({.name = "rt.env.dim", .description = "x"});
  Switch* grouped = *registry.Define({.name = "rt.member", .description = "x", .groups = {"rt.group"}});
  EXPECT_FALSE(off->enabled());
  EXPECT_EQ(registry.Get("rt.env-off")->deciding_layer, Layer::kEnv);
  EXPECT_DOUBLE_EQ(registry.Get("rt.env.dim")->effective.allow, 0.25);
  EXPECT_FALSE(grouped->enabled());
  (void)dim;
}

// Regression: each definition used to replace the env layer's snapshot while
// earlier switches' views still pointed into the old one (use after free,
// seen by valgrind and ASan once any later layer change re-resolved them).
TEST(RuntimeTest, EnvSettingsSurviveLaterDefinitionsAndLayerChanges) {
  ScopedEnv a("DEGRADE_RT_UAF_A", "off");
  ScopedEnv b("DEGRADE_RT_UAF_B", "30%");
  Registry registry(QuietOptionsWithRealEnv());
  Switch* first = *registry.Define({.name = "rt.uaf.a", .description = "x"});
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(registry.Define({.name = "rt.uaf.b" + std::to_string(i), .description = "x"}).ok());
  }
  ASSERT_TRUE(registry.Define({.name = "rt.uaf.b", .description = "x"}).ok());
  ASSERT_TRUE(registry.ApplySnapshot(Layer::kRemote, Snapshot{}, "test").ok());
  EXPECT_FALSE(first->enabled());
  const SwitchInfo info = *registry.Get("rt.uaf.a");
  EXPECT_EQ(info.deciding_layer, Layer::kEnv);
  EXPECT_EQ(info.reason, "DEGRADE_RT_UAF_A=off");
  EXPECT_DOUBLE_EQ(registry.Get("rt.uaf.b")->effective.allow, 0.3);
}

TEST(RuntimeTest, ProgramWithoutRuntimeGetsDefaultsAndEnv) {
  ScopedEnv a("DEGRADE_RT_NORUNTIME", "0");
  Registry registry(QuietOptionsWithRealEnv());
  Switch* sw = *registry.Define({.name = "rt.noruntime", .description = "x"});
  Switch* plain = *registry.Define({.name = "rt.plain", .description = "x", .default_state = State::kOff});
  EXPECT_FALSE(sw->enabled());
  EXPECT_FALSE(plain->enabled());
  EXPECT_EQ(registry.Get("rt.plain")->deciding_layer, Layer::kDefault);
}

}  // namespace
}  // namespace degrade
