// Runtime options and the real process environment.
#include "degrade/runtime.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "degrade/registry.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

// Sets an environment variable for one test and restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

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
