// The etcd keys PREFIX + "shed" and PREFIX + "governor" against a real etcd
// on loopback (tests/etcd_fixture.h): read with the prefix at start, then
// followed by the watch; a bad value keeps the last good one and is
// reported (docs/shedding.md).
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "degrade/registry.h"
#include "degrade/runtime.h"
#include "etcd/etcd_client.h"
#include "etcd_suite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_wait.h"

namespace degrade {
namespace {

using ::testing::HasSubstr;

bool Eventually(const std::function<bool()>& pred) {
  return test_util::Eventually(pred, std::chrono::milliseconds(10'000));
}

// One etcd for the suite (starting one takes about a second); each test
// uses its own prefix.
class EtcdShedTest : public test_util::SharedEtcdTest {
 protected:
  void SetUp() override {
    SharedEtcdTest::SetUp();
    if (HasFatalFailure()) return;
    Registry::Options options;
    options.getenv = [](std::string_view) { return std::optional<std::string>(); };
    options.log_sink = [](LogLevel, std::string_view) {};
    registry_ = std::make_unique<Registry>(std::move(options));
    t2_ = *registry_->Define({.name = "t2", .description = "tier 2", .tier = 2});
    t5_ = *registry_->Define({.name = "t5", .description = "tier 5", .tier = 5});
    registry_->AddListener([this](const ChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    });
  }
  void TearDown() override {
    runtime_.reset();
    registry_.reset();
  }

  void Delete(const std::string& rel) {
    auto r = client_->Delete(prefix_ + rel);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  void Start() {
    Options o;
    o.registry = registry_.get();
    o.etcd_endpoints = cluster_->endpoints();
    o.etcd_prefix = prefix_;
    auto rt = Runtime::Start(o);
    ASSERT_TRUE(rt.ok()) << rt.status();
    runtime_ = *std::move(rt);
  }
  std::optional<SourceHealth> Health() const {
    for (SourceHealth& h : registry_->sources()) {
      if (h.name == "etcd") return h;
    }
    return std::nullopt;
  }
  std::vector<ChangeEvent> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

  std::unique_ptr<Registry> registry_;
  Switch* t2_ = nullptr;
  Switch* t5_ = nullptr;
  std::unique_ptr<Runtime> runtime_;
  std::mutex mu_;
  std::vector<ChangeEvent> events_;
};

TEST_F(EtcdShedTest, ShedKeyReadAtStartSheds) {
  Put("shed", "3");
  Start();
  EXPECT_FALSE(t5_->enabled());
  EXPECT_TRUE(t2_->enabled());
  const Snapshot layer = registry_->LayerSnapshot(Layer::kRemote);
  ASSERT_TRUE(layer.shed.has_value());
  EXPECT_EQ(layer.shed->level, 3);
}

TEST_F(EtcdShedTest, WatchedShedShedsWithItsActorAndDeleteReleases) {
  Start();
  ASSERT_TRUE(t5_->enabled());
  Put("shed", R"({"level": 2, "actor": "ops", "reason": "INC-9"})");
  ASSERT_TRUE(Eventually([&] { return !t2_->enabled() && !t5_->enabled(); }));
  ASSERT_TRUE(Eventually([&] { return Events().size() >= 2; }));
  const ChangeEvent e = Events()[0];
  EXPECT_EQ(e.layer, Layer::kRemote);
  EXPECT_EQ(e.actor, "ops");
  EXPECT_EQ(e.reason, "shed at tier \u2265 2 by ops: INC-9");
  EXPECT_TRUE(e.revision.has_value());
  Delete("shed");
  ASSERT_TRUE(Eventually([&] { return t2_->enabled() && t5_->enabled(); }));
  EXPECT_FALSE(registry_->LayerSnapshot(Layer::kRemote).shed.has_value());
}

TEST_F(EtcdShedTest, SwitchKeyBeatsShedKey) {
  Put("shed", "1");
  Put("switches/t5", R"("on")");
  Start();
  EXPECT_TRUE(t5_->enabled());
  EXPECT_FALSE(t2_->enabled());
}

TEST_F(EtcdShedTest, BadShedValueKeepsTheLastGoodOneAndIsReported) {
  Put("shed", "5");
  Start();
  ASSERT_FALSE(t5_->enabled());
  Put("shed", "12");
  ASSERT_TRUE(Eventually([&] {
    auto h = Health();
    return h.has_value() && !h->healthy;
  }));
  EXPECT_THAT(Health()->last_error,
              HasSubstr("etcd key " + prefix_ +
                        "shed: shed: 12 is not an integer in [0, 9]; accepted: an integer in "
                        "[0, 9] (0: no shed)"));
  EXPECT_FALSE(t5_->enabled());
  EXPECT_EQ(registry_->LayerSnapshot(Layer::kRemote).shed->level, 5);
}

TEST_F(EtcdShedTest, GovernorKeyIsKeptInTheLayer) {
  Start();
  Put("governor", R"({"enabled": false, "cap": 4, "actor": "sre"})");
  ASSERT_TRUE(Eventually(
      [&] { return registry_->LayerSnapshot(Layer::kRemote).governor.has_value(); }));
  const GovernorSetting g = *registry_->LayerSnapshot(Layer::kRemote).governor;
  EXPECT_EQ(g.enabled, false);
  EXPECT_EQ(g.cap, 4);
  EXPECT_EQ(g.actor, "sre");
}

}  // namespace
}  // namespace degrade
