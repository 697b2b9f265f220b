// The etcd source when etcd is large or sick, against real etcd processes on
// loopback (tests/etcd_fixture.h): a catch-up larger than the watch message
// limit, a 10,000-key prefix, a member stopped with SIGSTOP (alone, and one
// of three). Each test starts and stops its own etcd and is bounded in time.
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "etcd/etcd_client.h"
#include "etcd/etcd_source.h"
#include "etcd_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace degrade {
namespace {

using ::degrade::internal::EtcdClient;
using ::degrade::internal::EtcdSource;
using ::degrade::testing::EtcdCluster;
using ::testing::HasSubstr;

constexpr char kPrefix[] = "/degrade/scale/";

bool Eventually(const std::function<bool()>& pred, absl::Duration limit) {
  return test_util::Eventually(pred, absl::ToChronoMilliseconds(limit));
}

EtcdClient::Config ClientFor(const std::vector<std::string>& endpoints) {
  EtcdClient::Config c;
  c.endpoints = endpoints;
  return c;
}

// A registry with one defined switch ("flip") and its log.
class Service {
 public:
  Service() {
    Registry::Options options;
    options.getenv = [](std::string_view) { return std::optional<std::string>(); };
    options.log_sink = [this](LogLevel level, std::string_view msg) {
      std::lock_guard<std::mutex> lock(mu_);
      logs_.emplace_back(level, std::string(msg));
    };
    registry_ = std::make_unique<Registry>(std::move(options));
    SwitchSpec spec;
    spec.name = "flip";
    spec.description = "the switch the tests flip";
    flip_ = *registry_->Define(spec);
  }
  ~Service() { source_.reset(); }

  void Start(EtcdSource::Config config) {
    source_ = std::make_unique<EtcdSource>(*registry_, std::move(config));
  }
  EtcdSource& source() { return *source_; }
  bool flip_enabled() const { return flip_->enabled(); }
  std::optional<SourceHealth> Health() const {
    for (SourceHealth& h : registry_->sources()) {
      if (h.name == "etcd") return h;
    }
    return std::nullopt;
  }
  bool Healthy() const {
    std::optional<SourceHealth> h = Health();
    return h.has_value() && h->healthy;
  }
  int CountLogs(LogLevel level, std::string_view needle) const {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& [l, m] : logs_) n += l == level && m.find(needle) != std::string::npos;
    return n;
  }
  std::string AllLogs() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const auto& [l, m] : logs_) out += std::string(LogLevelName(l)) + ": " + m + "\n";
    return out;
  }

 private:
  std::unique_ptr<Registry> registry_;
  Switch* flip_ = nullptr;
  std::unique_ptr<EtcdSource> source_;
  mutable std::mutex mu_;
  std::vector<std::pair<LogLevel, std::string>> logs_;
};

EtcdSource::Config SourceConfig(const std::vector<std::string>& endpoints) {
  EtcdSource::Config c;
  c.client = ClientFor(endpoints);
  c.prefix = kPrefix;
  return c;
}

std::unique_ptr<EtcdCluster> StartCluster(int members) {
  EtcdCluster::Options o;
  o.members = members;
  auto c = EtcdCluster::Start(o);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

// Writes the flip switch off and waits until the service sees it.
bool FlipSeen(EtcdClient& writer, Service& service, absl::Duration limit) {
  auto put = writer.Put(absl::StrCat(kPrefix, "switches/flip"), "\"off\"");
  EXPECT_TRUE(put.ok()) << put.status();
  return Eventually([&] { return !service.flip_enabled(); }, limit);
}

TEST(EtcdScaleTest, CatchUpLargerThanTheWatchMessageLimitRecoversByReadingThePrefix) {
  std::unique_ptr<EtcdCluster> cluster = StartCluster(1);
  ASSERT_NE(cluster, nullptr);
  Service service;
  EtcdSource::Config config = SourceConfig(cluster->endpoints());
  // Long enough for the member to restart and take five writes before the
  // source comes back (at least 4 s with the jitter).
  config.backoff_initial = absl::Seconds(5);
  config.backoff_max = absl::Seconds(5);
  service.Start(config);
  ASSERT_TRUE(Eventually([&] { return service.Healthy(); }, absl::Seconds(10)));

  ASSERT_TRUE(cluster->Kill(0).ok());
  ASSERT_TRUE(cluster->Restart(0).ok());
  EtcdClient writer(ClientFor(cluster->endpoints()));
  // Five values of 1 MB on separate revisions: about 6.7 MB of base64 in
  // the one catch-up message, over the 4 MiB limit. Outside the layout, as
  // large blobs an operator keeps beside the switches would be.
  const std::string blob(1'000'000, 'x');
  for (int i = 0; i < 5; ++i) {
    auto r = writer.Put(absl::StrCat(kPrefix, "blobs/", i), blob);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  ASSERT_TRUE(FlipSeen(writer, service, absl::Seconds(30))) << service.AllLogs();
  EXPECT_GE(service.source().stats().stuck_recoveries, 1u);
  EXPECT_EQ(service.CountLogs(LogLevel::kWarning, "larger than the watch message limit"), 1)
      << service.AllLogs();
  EXPECT_TRUE(Eventually([&] { return service.Healthy(); }, absl::Seconds(10)));
}

TEST(EtcdScaleTest, TenThousandKeysThenAFlipAppliesEachRevisionAsADelta) {
  std::unique_ptr<EtcdCluster> cluster = StartCluster(1);
  ASSERT_NE(cluster, nullptr);
  Service service;
  service.Start(SourceConfig(cluster->endpoints()));
  ASSERT_TRUE(Eventually([&] { return service.Healthy(); }, absl::Seconds(10)));

  EtcdClient writer(ClientFor(cluster->endpoints()));
  // 9,500 keys in transactions, then 500 one by one: 10,000 keys under the
  // prefix, each revision watched while the prefix grows.
  constexpr int kBatched = 9500, kSingle = 500;
  std::vector<std::pair<std::string, std::string>> batch;
  for (int i = 0; i < kBatched; ++i) {
    batch.emplace_back(absl::StrFormat("%sswitches/k%05d", kPrefix, i), "\"on\"");
    if (batch.size() == EtcdClient::kMaxTxnOps || i + 1 == kBatched) {
      auto r = writer.PutAll(batch);
      ASSERT_TRUE(r.ok()) << r.status();
      batch.clear();
    }
  }
  for (int i = kBatched; i < kBatched + kSingle; ++i) {
    auto r = writer.Put(absl::StrFormat("%sswitches/k%05d", kPrefix, i), "\"on\"");
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // Before: 65 s for this flip, a whole-layer apply per revision.
  ASSERT_TRUE(FlipSeen(writer, service, absl::Seconds(30))) << service.AllLogs();
  const EtcdSource::Stats stats = service.source().stats();
  EXPECT_EQ(stats.full_reads, 1u);
  EXPECT_EQ(stats.full_applies, 1u);  // the start's, none per event
  EXPECT_EQ(stats.events, static_cast<uint64_t>(kBatched + kSingle + 1));
  EXPECT_EQ(service.source().stats().stuck_recoveries, 0u);
  EXPECT_TRUE(Eventually(
      [&] { return service.Health()->applied == 1 + service.source().stats().delta_applies; },
      absl::Seconds(5)));
}

TEST(EtcdScaleTest, StoppedOnlyMemberTurnsUnhealthyWithin10sAndRecovers) {
  std::unique_ptr<EtcdCluster> cluster = StartCluster(1);
  ASSERT_NE(cluster, nullptr);
  Service service;
  service.Start(SourceConfig(cluster->endpoints()));
  ASSERT_TRUE(Eventually([&] { return service.Healthy(); }, absl::Seconds(10)));

  ASSERT_TRUE(cluster->Pause(0).ok());
  const bool noticed = Eventually([&] { return !service.Healthy(); }, absl::Seconds(10));
  const std::optional<SourceHealth> h = service.Health();
  ASSERT_TRUE(cluster->Resume(0).ok());
  ASSERT_TRUE(noticed) << "healthy 10 s after SIGSTOP\n" << service.AllLogs();
  EXPECT_THAT(h->last_error, HasSubstr("liveness check"));
  EXPECT_GE(h->consecutive_failures, 1u);

  EXPECT_TRUE(Eventually([&] { return service.Healthy(); }, absl::Seconds(15)))
      << service.AllLogs();
  EtcdClient writer(ClientFor(cluster->endpoints()));
  EXPECT_TRUE(FlipSeen(writer, service, absl::Seconds(15))) << service.AllLogs();
}

TEST(EtcdScaleTest, StoppedWatchedMemberOfThreeFailsOverAndChangesKeepComing) {
  std::unique_ptr<EtcdCluster> cluster = StartCluster(3);
  ASSERT_NE(cluster, nullptr);
  Service service;
  // Only member 0 configured (the others are discovered): the watch is on
  // member 0, the one stopped.
  service.Start(SourceConfig({cluster->endpoint(0)}));
  ASSERT_TRUE(Eventually([&] { return service.Healthy(); }, absl::Seconds(10)));

  ASSERT_TRUE(cluster->Pause(0).ok());
  EtcdClient writer(ClientFor({cluster->endpoint(1), cluster->endpoint(2)}));
  // A write the two live members accept once they agree on a leader.
  bool written = Eventually(
      [&] {
        return writer.Put(absl::StrCat(kPrefix, "switches/flip"), "\"off\"").ok();
      },
      absl::Seconds(15));
  const bool seen =
      written && Eventually([&] { return !service.flip_enabled(); }, absl::Seconds(15));
  const std::string logs = service.AllLogs();
  ASSERT_TRUE(cluster->Resume(0).ok());
  ASSERT_TRUE(written);
  EXPECT_TRUE(seen) << "a change 15 s after SIGSTOP of the watched member was not applied\n"
                    << logs;
  EXPECT_THAT(logs, HasSubstr("liveness check"));
}

}  // namespace
}  // namespace degrade
