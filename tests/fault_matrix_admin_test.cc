// The admin-endpoint row of docs/fault-matrix.md: the endpoint flooded with
// requests, from more clients than it has workers, while the hot path runs.
// A real admin server on 127.0.0.1 and real httplib clients. Suite `http`,
// beside admin_server_test: like it, it drives cpp-httplib from many
// connections at once.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "degrade/degrade.h"
#include "gtest/gtest.h"
#include "test_probes.h"
#include "test_wait.h"

namespace degrade {
namespace {

namespace fs = std::filesystem;
using test_util::Eventually;  // tests/test_wait.h
using test_util::StableThreadCount;
using test_util::ThreadCount;

constexpr char kToken[] = "fault-matrix-token";

class FaultMatrixAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Registry::Options options;
    options.getenv = [](std::string_view) { return std::optional<std::string>(); };
    options.log_sink = [](LogLevel, std::string_view) {};
    registry_ = std::make_unique<Registry>(std::move(options));
    recs_ = *registry_->Define({.name = "recs", .description = "recommendations"});
  }
  void TearDown() override { runtime_.reset(); }
  void Start(const Options& o) {
    auto rt = Runtime::Start(o);
    ASSERT_TRUE(rt.ok()) << rt.status();
    runtime_ = *std::move(rt);
  }
  Layer Deciding() const { return registry_->Get("recs")->deciding_layer; }

  std::unique_ptr<Registry> registry_;
  Switch* recs_ = nullptr;
  std::unique_ptr<Runtime> runtime_;
};

TEST_F(FaultMatrixAdminTest, FloodedAdminEndpointLeavesTheHotPathAndTheStateExact) {
  Switch* search = *registry_->Define({.name = "search", .description = "suggestions"});
  Options o;
  o.registry = registry_.get();
  o.admin_addr = "127.0.0.1:0";
  o.admin_token = kToken;
  Start(o);
  const int port = runtime_->admin_port();
  ASSERT_GT(port, 0);
  // cpp-httplib creates its worker pool inside the listening thread, after
  // the port is bound (and Start has returned): one answered request proves
  // the pool exists, so the baseline counts it (under TSan the pool used to
  // appear after the baseline was read).
  {
    httplib::Client probe("127.0.0.1", port);
    auto res = probe.Get("/healthz");
    ASSERT_TRUE(res && res->status == 200);
  }
  const int baseline_threads = StableThreadCount();

  std::atomic<bool> stop{false};
  // The hot path: two threads calling through recs (never flipped) and
  // search (flipped by the writer below), counting what they saw.
  constexpr int kHot = 2;
  std::atomic<uint64_t> hot_calls{0}, hot_primary{0}, search_calls{0}, search_primary{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kHot; ++i) {
    threads.emplace_back([&] {
      uint64_t calls = 0, primary = 0, scalls = 0, sprimary = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        calls += 1;
        primary += static_cast<uint64_t>(Call(*recs_, [] { return 1; }, [] { return 0; }));
        scalls += 1;
        sprimary += static_cast<uint64_t>(Call(*search, [] { return 1; }, [] { return 0; }));
      }
      hot_calls += calls;
      hot_primary += primary;
      search_calls += scalls;
      search_primary += sprimary;
    });
  }
  // The flood: more clients than the server has workers (8), each opening a
  // new connection per request, reading the listing and metrics and sending
  // writes that must all be refused.
  constexpr int kFlooders = 12;
  constexpr int kRequestsEach = 150;
  std::atomic<int> answered{0}, unexpected{0};
  std::mutex unexpected_mu;
  std::vector<std::string> unexpected_what;
  for (int i = 0; i < kFlooders; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(10, 0);
      client.set_connection_timeout(10, 0);
      const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
      const httplib::Headers wrong = {{"Authorization", "Bearer not-the-token"}};
      for (int r = 0; r < kRequestsEach && !stop; ++r) {
        int expected = 200;
        auto send = [&]() -> httplib::Result {
          switch ((i + r) % 5) {
            case 0:
              return client.Get("/degrade/v1/switches");
            case 1:
              return client.Get("/metrics");
            case 2:
              expected = 400;
              return client.Put("/degrade/v1/switches/recs", auth, "{\"state\": \"of\"}",
                                "application/json");
            case 3:
              expected = 401;
              return client.Put("/degrade/v1/switches/recs", wrong, "\"off\"", "application/json");
            default:
              expected = 413;
              return client.Put("/degrade/v1/switches/recs", auth, std::string(70 << 10, ' '),
                                "application/json");
          }
        };
        httplib::Result res = send();
        if (!res) {
          // The server may close a kept-alive connection between two
          // requests (idle while every worker is busy: docs/security.md), and
          // a request sent at that moment gets no answer. HTTP clients retry
          // such a request once on a new connection (RFC 9112, 9.3.1);
          // cpp-httplib does not, so the test does.
          client.stop();
          res = send();
        }
        if (res && res->status == expected) {
          ++answered;
        } else {
          ++unexpected;
          std::lock_guard<std::mutex> lock(unexpected_mu);
          unexpected_what.push_back(
              absl::StrCat("request ", (i + r) % 5, " wanted ", expected, ", got ",
                           res ? absl::StrCat("HTTP ", res->status)
                               : absl::StrCat("no answer: ", httplib::to_string(res.error()))));
        }
      }
    });
  }
  // One operator flipping search through the same endpoint meanwhile; the
  // last write that got a 200 is the state search must end in.
  std::optional<bool> last_ok_off;
  int peak_threads = 0;
  {
    httplib::Client writer("127.0.0.1", port);
    writer.set_read_timeout(10, 0);
    const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
    for (int r = 0; r < 41; ++r) {
      const bool off = r % 2 == 0;
      auto res = writer.Put("/degrade/v1/switches/search", auth, off ? "\"off\"" : "\"on\"",
                            "application/json");
      if (res && res->status == 200) last_ok_off = off;
      peak_threads = std::max(peak_threads, ThreadCount());
    }
    // The endpoint still answers a probe in the middle of the flood.
    auto health = writer.Get("/healthz");
    EXPECT_TRUE(health && health->status == 200);
  }
  for (size_t t = kHot; t < threads.size(); ++t) threads[t].join();
  stop = true;
  for (int t = 0; t < kHot; ++t) threads[static_cast<size_t>(t)].join();

  EXPECT_EQ(unexpected, 0) << absl::StrJoin(unexpected_what, "\n");
  EXPECT_EQ(answered, kFlooders * kRequestsEach);
  // Bounded: the server never grew past its fixed pool (our own threads were
  // 2 hot + 12 flooders; nothing else may appear).
  EXPECT_LE(peak_threads, baseline_threads + kHot + kFlooders) << "baseline " << baseline_threads;
  // Every thread the test started has been joined; the kernel drops a
  // joined thread from /proc/self/task a moment later, so the count returns
  // to the baseline (and stays above it if the server kept any).
  EXPECT_TRUE(Eventually([&] { return ThreadCount() == baseline_threads; },
                         std::chrono::seconds(10)))
      << "threads now " << ThreadCount() << ", baseline " << baseline_threads;
  // Nothing the flood sent changed recs; the writer's last accepted write
  // decided search.
  EXPECT_TRUE(recs_->enabled());
  EXPECT_EQ(Deciding(), Layer::kDefault);
  ASSERT_TRUE(last_ok_off.has_value());
  EXPECT_EQ(search->enabled(), !*last_ok_off);
  // The hot path's counts add up exactly.
  const Counters rc = registry_->Get("recs")->counters;
  EXPECT_EQ(rc.calls, hot_calls.load());
  EXPECT_EQ(rc.primary_ok, hot_primary.load());
  EXPECT_EQ(rc.primary_ok, rc.calls);
  const Counters sc = registry_->Get("search")->counters;
  EXPECT_EQ(sc.calls, search_calls.load());
  EXPECT_EQ(sc.primary_ok, search_primary.load());
  EXPECT_EQ(sc.skipped, search_calls.load() - search_primary.load());
  EXPECT_EQ(sc.fallbacks, sc.skipped);
  EXPECT_GT(rc.calls, 0u);
  std::printf("[ measure ] hot path during the flood: %llu calls through recs; %d requests "
              "answered; threads baseline %d, peak %d\n",
              static_cast<unsigned long long>(rc.calls), answered.load(), baseline_threads,
              peak_threads);
}

}  // namespace
}  // namespace degrade
