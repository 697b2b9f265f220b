// flagd flag-definition files wherever a snapshot is read (docs/openfeature.md):
// the config file (DEGRADE_CONFIG_FORMAT / Options::config_format), the HTTP
// remote (remote_format) and the etcd key PREFIX/flagd, each through
// Runtime::Start with real files, a real cpp-httplib server and a real etcd
// on 127.0.0.1. lib/core/flagd.h's mapping itself is flagd_test's.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "degrade/registry.h"
#include "degrade/runtime.h"
#include "degrade/switch.h"
#include "etcd/etcd_client.h"
#include "etcd_fixture.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "test_registry.h"
#include "test_wait.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_registry.h, test_wait.h

constexpr char kRecsOff[] = R"({"flags": {"recs": {"state": "ENABLED",
    "variants": {"on": true, "off": false}, "defaultVariant": "off"}}})";
constexpr char kRecsQuarter[] = R"({"flags": {"recs": {"state": "ENABLED",
    "variants": {"on": true, "off": false}, "defaultVariant": "on",
    "targeting": {"fractional": [["on", 1], ["off", 3]]}}}})";
constexpr char kRecsRule[] = R"({"flags": {"recs": {"state": "ENABLED",
    "variants": {"on": true, "off": false}, "defaultVariant": "on",
    "targeting": {"if": [{"in": ["@example.com", {"var": "email"}]}, "off", "on"]}}}})";

class FlagdSourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Registry::Options o = QuietOptions();
    o.log_sink = logs_.Sink();
    registry_ = std::make_unique<Registry>(std::move(o));
    absl::StatusOr<Switch*> recs = registry_->Define(Spec("recs"));
    ASSERT_TRUE(recs.ok()) << recs.status();
    recs_ = *recs;
    dir_ = MakeTempDir("degrade-flagd");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    runtime_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = (std::filesystem::path(dir_) / name).string();
    std::ofstream(path) << content;
    return path;
  }
  absl::Status StartWith(Options o) {
    o.registry = registry_.get();
    o.file_poll_interval = absl::Milliseconds(20);
    auto rt = Runtime::Start(std::move(o));
    if (!rt.ok()) return rt.status();
    runtime_ = *std::move(rt);
    return absl::OkStatus();
  }
  SwitchValue RemoteEntry() {
    const Snapshot s = registry_->LayerSnapshot(Layer::kRemote);
    auto it = s.switches.find("recs");
    return it == s.switches.end() ? SwitchValue{} : it->second;
  }

  LogCapture logs_;
  std::unique_ptr<Registry> registry_;
  Switch* recs_ = nullptr;
  std::string dir_;
  std::unique_ptr<Runtime> runtime_;
};

TEST_F(FlagdSourcesTest, ConfigFileInFlagdFormatIsDetected) {
  Options o;
  o.config_file = Write("flags.json", kRecsOff);
  ASSERT_TRUE(StartWith(o).ok());
  EXPECT_FALSE(recs_->enabled());
  EXPECT_EQ(registry_->Get("recs")->deciding_layer, Layer::kFile);
}

TEST_F(FlagdSourcesTest, ConfigFileFractionalSetsAllow) {
  Options o;
  o.config_file = Write("flags.json", kRecsQuarter);
  o.config_format = "flagd";
  ASSERT_TRUE(StartWith(o).ok());
  EXPECT_EQ(recs_->state().allow, 0.25);
}

TEST_F(FlagdSourcesTest, RuleTargetingRejectsTheFileAndChangesNothing) {
  Options o;
  o.config_file = Write("flags.json", kRecsRule);
  ASSERT_TRUE(StartWith(o).ok());
  EXPECT_TRUE(recs_->enabled());
  EXPECT_TRUE(registry_->LayerSnapshot(Layer::kFile).empty());
  EXPECT_TRUE(logs_.Contains(LogLevel::kError, "flags.recs.targeting:")) << logs_.All();
  EXPECT_TRUE(logs_.Contains(LogLevel::kError, "is targeting that degrade cannot follow"));
}

TEST_F(FlagdSourcesTest, FlagdFormatRefusesADegradeFile) {
  Options o;
  o.config_file = Write("degrade.json", R"({"switches": {"recs": "off"}})");
  o.config_format = "flagd";
  ASSERT_TRUE(StartWith(o).ok());
  EXPECT_TRUE(recs_->enabled());
  EXPECT_TRUE(logs_.Contains(LogLevel::kError, "has no \"flags\"")) << logs_.All();
}

TEST_F(FlagdSourcesTest, UnknownFormatFailsStart) {
  Options o;
  o.config_file = Write("flags.json", kRecsOff);
  o.config_format = "yaml";
  absl::Status s = StartWith(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "config_format (DEGRADE_CONFIG_FORMAT): \"yaml\" is not a snapshot format; accepted: "
            "\"auto\" (the default: flagd when the document is unambiguously a flagd flag file), "
            "\"degrade\", \"flagd\"");
}

TEST_F(FlagdSourcesTest, EnvironmentSelectsTheFormat) {
  ScopedEnv format("DEGRADE_CONFIG_FORMAT", "flagd");
  ScopedEnv remote("DEGRADE_REMOTE_FORMAT", "degrade");
  absl::StatusOr<Options> o = Runtime::OptionsFromEnv();
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->config_format, "flagd");
  EXPECT_EQ(o->remote_format, "degrade");
}

TEST_F(FlagdSourcesTest, RemoteUrlServingFlagdIsApplied) {
  httplib::Server server;
  server.Get("/flags.json", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kRecsQuarter, "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { server.listen_after_bind(); });
  Options o;
  o.remote_urls = {absl::StrCat("http://127.0.0.1:", port, "/flags.json")};
  o.remote_format = "flagd";
  absl::Status started = StartWith(o);
  runtime_.reset();
  server.stop();
  serving.join();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(RemoteEntry().allow, 0.25);
}

TEST_F(FlagdSourcesTest, EtcdFlagdKeyIsReadAndASwitchKeyOverridesIt) {
  auto cluster = testing::EtcdCluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  internal::EtcdClient::Config wc;
  wc.endpoints = (*cluster)->endpoints();
  internal::EtcdClient writer(wc);
  const std::string prefix = "/degrade/flagd-test/";
  ASSERT_TRUE(writer.Put(prefix + "flagd", kRecsOff).ok());
  Options o;
  o.etcd_endpoints = (*cluster)->endpoints();
  o.etcd_prefix = prefix;
  ASSERT_TRUE(StartWith(o).ok());
  EXPECT_FALSE(recs_->enabled());
  // A new document is applied whole.
  ASSERT_TRUE(writer.Put(prefix + "flagd", kRecsQuarter).ok());
  ASSERT_TRUE(Eventually([&] { return RemoteEntry().allow == 0.25; })) << logs_.All();
  // The switch's own key wins over the document.
  ASSERT_TRUE(writer.Put(prefix + "switches/recs", R"("on")").ok());
  ASSERT_TRUE(Eventually([&] { return RemoteEntry().state == State::kOn; })) << logs_.All();
  ASSERT_TRUE(writer.Delete(prefix + "switches/recs").ok());
  ASSERT_TRUE(Eventually([&] { return RemoteEntry().allow == 0.25; })) << logs_.All();
  // A document degrade cannot follow is rejected; the last good one stays.
  ASSERT_TRUE(writer.Put(prefix + "flagd", kRecsRule).ok());
  ASSERT_TRUE(Eventually([&] {
    return logs_.Contains(LogLevel::kError, "is targeting that degrade cannot follow");
  })) << logs_.All();
  EXPECT_EQ(RemoteEntry().allow, 0.25);
  runtime_.reset();
}

}  // namespace
}  // namespace degrade
