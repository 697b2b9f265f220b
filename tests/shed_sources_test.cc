// Shed levels through real sources: a snapshot file (the file layer) and a
// snapshot served over HTTP by a cpp-httplib server on 127.0.0.1 (the remote
// layer), each read by a Runtime (docs/shedding.md). The registry's rules are
// in shed_test.cc; this holds that the sources carry the field through.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "degrade/registry.h"
#include "degrade/runtime.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "test_registry.h"
#include "test_wait.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

class ShedSourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t3_ = *registry_.Define({.name = "t3", .description = "tier 3", .tier = 3});
    t8_ = *registry_.Define({.name = "t8", .description = "tier 8", .groups = {"g"}, .tier = 8});
  }

  Registry registry_{QuietOptions()};
  Switch* t3_ = nullptr;
  Switch* t8_ = nullptr;
};

TEST_F(ShedSourcesTest, FileLayerShedsFromTheFile) {
  const std::filesystem::path dir = MakeTempDir("degrade-shed-file");
  const std::filesystem::path file = dir / "degrade.json";
  std::ofstream(file) << R"({"shed": {"level": 3, "actor": "ops", "reason": "INC-7"}})";
  Options o;
  o.registry = &registry_;
  o.config_file = file.string();
  auto rt = Runtime::Start(o);
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_FALSE(t3_->enabled());
  EXPECT_FALSE(t8_->enabled());
  absl::StatusOr<SwitchInfo> info = registry_.Get("t3");
  EXPECT_EQ(info->deciding_layer, Layer::kFile);
  EXPECT_EQ(info->reason, "shed at tier \u2265 3 by ops: INC-7");
  rt->reset();
  std::filesystem::remove_all(dir);
}

TEST_F(ShedSourcesTest, RemoteLayerShedsFromAnHttpSnapshot) {
  httplib::Server server;
  server.Get("/degrade.json", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"shed": 5, "groups": {"g": "on"}})", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&] { server.listen_after_bind(); });
  if (!Eventually([&] { return server.is_running(); })) {
    server.stop();
    thread.join();
    FAIL() << "the snapshot server did not start";
  }
  {
    Options o;
    o.registry = &registry_;
    o.remote_urls = {absl::StrCat("http://127.0.0.1:", port, "/degrade.json")};
    auto rt = Runtime::Start(o);
    ASSERT_TRUE(rt.ok()) << rt.status();
    EXPECT_TRUE(t3_->enabled());  // below the level
    EXPECT_TRUE(t8_->enabled());  // its group's entry beats the shed
    EXPECT_EQ(registry_.LayerSnapshot(Layer::kRemote).shed->level, 5);
  }
  server.stop();
  thread.join();
}

}  // namespace
}  // namespace degrade
