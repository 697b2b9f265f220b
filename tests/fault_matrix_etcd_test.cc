// The etcd row of docs/fault-matrix.md that tests/etcd_source_test.cc does
// not cover on its own: etcd going down mid-run and staying down for a while
// -- the switches keep their state, the source reports it, and the watch
// picks up again when etcd is back. A real etcd process on 127.0.0.1
// (tests/etcd_fixture.h), killed and restarted by the test.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "degrade/degrade.h"
#include "etcd/etcd_client.h"
#include "etcd_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_wait.h"

namespace degrade {
namespace {

using ::degrade::internal::EtcdClient;
using ::degrade::testing::EtcdCluster;
using ::testing::HasSubstr;
using std::chrono::milliseconds;

const std::string kPrefix = "/degrade/matrix/";

// tests/test_wait.h's, with this file's bound (20 s: etcd restarts).
bool Eventually(const std::function<bool()>& pred, milliseconds limit = milliseconds(20000)) {
  return test_util::Eventually(pred, limit);
}

TEST(FaultMatrixEtcdTest, EtcdDownMidRunChangesNothingUntilItIsBack) {
  auto started = EtcdCluster::Start({});
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<EtcdCluster> cluster = *std::move(started);
  EtcdClient::Config wc;
  wc.endpoints = cluster->endpoints();
  auto writer = std::make_unique<EtcdClient>(wc);

  std::mutex mu;
  std::vector<std::pair<LogLevel, std::string>> logs;
  std::atomic<int> changes{0};
  Registry::Options ro;
  ro.getenv = [](std::string_view) { return std::optional<std::string>(); };
  ro.log_sink = [&](LogLevel level, std::string_view msg) {
    std::lock_guard<std::mutex> lock(mu);
    logs.push_back({level, std::string(msg)});
  };
  Registry registry(std::move(ro));
  Switch* recs = *registry.Define({.name = "recs", .description = "recommendations"});
  registry.AddListener([&](const ChangeEvent&) { ++changes; });
  auto health = [&]() -> std::optional<SourceHealth> {
    for (SourceHealth& h : registry.sources()) {
      if (h.name == "etcd") return h;
    }
    return std::nullopt;
  };
  auto all_logs = [&] {
    std::lock_guard<std::mutex> lock(mu);
    std::string out;
    for (const auto& [level, msg] : logs) out += std::string(LogLevelName(level)) + ": " + msg + "\n";
    return out;
  };

  Options o;
  o.registry = &registry;
  o.etcd_endpoints = cluster->endpoints();
  o.etcd_prefix = kPrefix;
  o.etcd_timeout = absl::Milliseconds(500);
  auto runtime = Runtime::Start(o);
  ASSERT_TRUE(runtime.ok()) << runtime.status();

  ASSERT_TRUE(writer->Put(kPrefix + "switches/recs", R"({"state":"off","reason":"INC-9"})").ok());
  ASSERT_TRUE(Eventually([&] { return !recs->enabled(); })) << all_logs();
  // Listeners run just after the new state is published, so the flip can be
  // seen a moment before the listener has counted it.
  ASSERT_TRUE(Eventually([&] { return changes.load() >= 1; })) << all_logs();
  const Snapshot before = registry.LayerSnapshot(Layer::kRemote);
  ASSERT_EQ(changes.load(), 1);

  // etcd dies and stays down for a while: the watch fails, reconnects fail
  // with backoff, and nothing changes.
  ASSERT_TRUE(cluster->Kill(0).ok());
  ASSERT_TRUE(Eventually([&] { return health() && !health()->healthy; })) << all_logs();
  ASSERT_TRUE(Eventually([&] { return health()->consecutive_failures >= 2; })) << all_logs();
  EXPECT_FALSE(recs->enabled());
  EXPECT_EQ(registry.Get("recs")->deciding_layer, Layer::kRemote);
  EXPECT_EQ(registry.Get("recs")->reason, "INC-9");
  EXPECT_EQ(registry.LayerSnapshot(Layer::kRemote), before);
  EXPECT_EQ(changes.load(), 1);
  EXPECT_THAT(health()->last_error, HasSubstr(cluster->endpoint(0)));

  // etcd is back: the watch resumes and the next instruction applies.
  ASSERT_TRUE(cluster->Restart(0).ok());
  ASSERT_TRUE(writer->Put(kPrefix + "switches/recs", R"("on")").ok());
  ASSERT_TRUE(Eventually([&] { return recs->enabled(); })) << all_logs();
  ASSERT_TRUE(Eventually([&] { return health()->healthy; })) << all_logs();
  ASSERT_TRUE(Eventually([&] { return changes.load() >= 2; })) << all_logs();
  EXPECT_EQ(changes.load(), 2);
}

}  // namespace
}  // namespace degrade
