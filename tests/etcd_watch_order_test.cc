// The etcd source's split watch against a scripted etcd: a cpp-httplib
// server on loopback that speaks etcd's HTTP gateway (/v3/kv/range and a
// streamed /v3/watch) and sends watch messages in an order chosen by the
// test.
//
// Why scripted and not real etcd: the orders tested here are ones real etcd
// produces only under races (a write between a watcher's "created" reply
// and its registration) or back-pressure (a "slow watcher" caught up after
// the other watcher's later revisions). etcd_source_test's
// StalledWatchUnderABurstLosesNothing provokes the second with a real etcd,
// but cannot choose which of the possible outcomes it gets; here each is
// made to happen every time.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "degrade/registry.h"
#include "etcd/etcd_json.h"
#include "etcd/etcd_source.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "test_wait.h"

namespace degrade {
namespace {

using json = nlohmann::json;

constexpr char kPrefix[] = "/degrade/shop/";

bool Eventually(const std::function<bool()>& pred) {
  return test_util::Eventually(pred, std::chrono::seconds(10));
}

// One etcd key as the gateway shows it.
struct Kv {
  std::string rel;  // under kPrefix
  std::string value;
  int64_t mod_revision;
};

json KvJson(const Kv& kv) {
  return {{"key", internal::EtcdBase64(kPrefix + kv.rel)},
          {"value", internal::EtcdBase64(kv.value)},
          {"create_revision", std::to_string(kv.mod_revision)},
          {"mod_revision", std::to_string(kv.mod_revision)},
          {"version", "1"}};
}

// A watch message line. etcd leaves watch_id out when it is 0.
std::string Created(int64_t watch_id, int64_t header) {
  json r = {{"header", {{"revision", std::to_string(header)}}}, {"created", true}};
  if (watch_id != 0) r["watch_id"] = std::to_string(watch_id);
  return json{{"result", r}}.dump() + "\n";
}
std::string Events(int64_t watch_id, int64_t header, const std::vector<Kv>& kvs) {
  json events = json::array();
  for (const Kv& kv : kvs) events.push_back({{"kv", KvJson(kv)}});
  json r = {{"header", {{"revision", std::to_string(header)}}}, {"events", events}};
  if (watch_id != 0) r["watch_id"] = std::to_string(watch_id);
  return json{{"result", r}}.dump() + "\n";
}

// Ends a script: the server closes the stream after it, as a member that
// goes away does.
constexpr char kClose[] = "<close>";

// One answer to a range of the prefix: the store at a revision.
struct Store {
  int64_t revision = 1;
  std::vector<Kv> kvs;
};

// The scripted etcd. The n-th range gets stores[n] (the last one for any
// later range; an empty store at revision 1 if none is set); the n-th watch
// request gets scripts[n] (the last script for any later one),
// then stays open and silent until the server stops, or is closed if the
// script ends with kClose.
class ScriptedEtcd {
 public:
  ScriptedEtcd() {
    server_.Post("/v3/kv/range", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      const Store store = stores_.empty() ? Store{}
                                          : stores_[std::min<size_t>(ranges_, stores_.size() - 1)];
      json kvs = json::array();
      for (const Kv& kv : store.kvs) kvs.push_back(KvJson(kv));
      json r = {{"header", {{"revision", std::to_string(store.revision)}}},
                {"kvs", kvs},
                {"count", std::to_string(store.kvs.size())}};
      ++ranges_;
      res.set_content(r.dump(), "application/json");
    });
    server_.Post("/v3/watch", [this](const httplib::Request& req, httplib::Response& res) {
      std::string script;
      {
        std::lock_guard<std::mutex> lock(mu_);
        watch_bodies_.push_back(req.body);
        const size_t n = watch_bodies_.size() - 1;
        if (!scripts_.empty()) script = scripts_[std::min(n, scripts_.size() - 1)];
      }
      const bool close = script.ends_with(kClose);
      if (close) script.resize(script.size() - std::string_view(kClose).size());
      res.set_chunked_content_provider(
          "application/json", [this, script, close](size_t offset, httplib::DataSink& sink) {
            if (offset == 0 && !script.empty() && !sink.write(script.data(), script.size())) {
              return false;
            }
            if (close) return false;  // cuts the connection
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stopping_; });
            if (stopping_) {
              sink.done();
              return true;
            }
            // Keeps the stream open: a newline between messages is allowed.
            return sink.write("\n", 1);
          });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ > 0) thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~ScriptedEtcd() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  bool ok() const { return port_ > 0 && Eventually([this] { return server_.is_running(); }); }
  std::string endpoint() const { return absl::StrCat("http://127.0.0.1:", port_); }

  void SetStores(std::vector<Store> stores) {
    std::lock_guard<std::mutex> lock(mu_);
    stores_ = std::move(stores);
  }
  void SetScripts(std::vector<std::string> scripts) {
    std::lock_guard<std::mutex> lock(mu_);
    scripts_ = std::move(scripts);
  }
  // Each watch request's create_requests, in order.
  std::vector<std::vector<json>> Watches() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::vector<json>> out;
    for (const std::string& body : watch_bodies_) {
      std::vector<json> creates;
      // The body is the create requests one after another.
      std::istringstream in(body);
      while ((in >> std::ws).peek() != std::char_traits<char>::eof()) {
        json request;
        in >> request;
        creates.push_back(request["create_request"]);
      }
      out.push_back(std::move(creates));
    }
    return out;
  }
  size_t ranges() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ranges_;
  }

 private:
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<Store> stores_;
  size_t ranges_ = 0;
  std::vector<std::string> scripts_;
  std::vector<std::string> watch_bodies_;
};

class EtcdWatchOrderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.ok());
    Registry::Options options;
    options.getenv = [](std::string_view) { return std::optional<std::string>(); };
    options.log_sink = [this](LogLevel level, std::string_view msg) {
      std::lock_guard<std::mutex> lock(mu_);
      logs_ += std::string(LogLevelName(level)) + ": " + std::string(msg) + "\n";
    };
    registry_ = std::make_unique<Registry>(std::move(options));
    for (const char* name : {"search", "ads"}) {
      SwitchSpec spec;
      spec.name = name;
      spec.description = name;
      if (spec.name == "ads") spec.groups = {"tier2"};
      switches_.push_back(*registry_->Define(spec));
    }
  }
  void TearDown() override { source_.reset(); }

  void StartSource() {
    internal::EtcdSource::Config config;
    config.client.endpoints = {etcd_.endpoint()};
    config.prefix = kPrefix;
    config.discover_members = false;
    config.liveness_interval = absl::ZeroDuration();
    config.backoff_initial = absl::Milliseconds(10);
    config.backoff_max = absl::Milliseconds(50);
    source_ = std::make_unique<internal::EtcdSource>(*registry_, config);
  }
  std::string Logs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return logs_;
  }
  bool search() const { return switches_[0]->enabled(); }
  bool ads() const { return switches_[1]->enabled(); }

  ScriptedEtcd etcd_;
  std::unique_ptr<Registry> registry_;
  std::vector<Switch*> switches_;
  std::unique_ptr<internal::EtcdSource> source_;
  mutable std::mutex mu_;
  std::string logs_;
};

// The split watch is three watchers: keys before PREFIX/instances/, keys
// after it, and the fence on PREFIX/instances/ itself, created last.
TEST_F(EtcdWatchOrderTest, SplitWatchIsTwoRangesAndAFenceCreatedLast) {
  etcd_.SetScripts({Created(0, 1) + Created(1, 1) + Created(2, 1)});
  StartSource();
  ASSERT_TRUE(Eventually([&] { return !etcd_.Watches().empty(); }));
  const std::vector<json> creates = etcd_.Watches()[0];
  ASSERT_EQ(creates.size(), 3u);
  const std::string instances = absl::StrCat(kPrefix, "instances/");
  EXPECT_EQ(creates[0]["key"], internal::EtcdBase64(kPrefix));
  EXPECT_EQ(creates[0]["range_end"], internal::EtcdBase64(instances));
  EXPECT_EQ(creates[1]["key"], internal::EtcdBase64(internal::EtcdPrefixEnd(instances)));
  EXPECT_EQ(creates[1]["range_end"], internal::EtcdBase64(internal::EtcdPrefixEnd(kPrefix)));
  EXPECT_EQ(creates[2]["key"], internal::EtcdBase64(instances));
  EXPECT_FALSE(creates[2].contains("range_end"));
  for (const json& c : creates) EXPECT_EQ(c["start_revision"], "2");
}

// etcd reports a watcher's revision before it registers the watcher: both
// range watchers may say 1 and still have started behind a write. The
// fence, created after them, says 2: the source must not trust the split
// watch, and catches up on the whole prefix (one watcher, in order) first.
TEST_F(EtcdWatchOrderTest, FenceBehindTheStoreMeansCatchingUpOnTheWholePrefix) {
  etcd_.SetScripts({
      Created(0, 1) + Created(1, 1) + Created(2, 2),
      Created(0, 2) + Events(0, 2, {{"switches/search", R"("off")", 2}}),
      Created(0, 2) + Created(1, 2) + Created(2, 2),
  });
  StartSource();
  ASSERT_TRUE(Eventually([&] { return !search(); })) << Logs();
  ASSERT_TRUE(Eventually([&] { return etcd_.Watches().size() >= 3; })) << Logs();
  const std::vector<std::vector<json>> watches = etcd_.Watches();
  ASSERT_EQ(watches[1].size(), 1u);
  EXPECT_EQ(watches[1][0]["key"], internal::EtcdBase64(kPrefix));
  EXPECT_EQ(watches[1][0]["range_end"], internal::EtcdBase64(internal::EtcdPrefixEnd(kPrefix)));
  EXPECT_EQ(watches[1][0]["start_revision"], "2");
  // Caught up at revision 2: the split watch takes over after it.
  ASSERT_EQ(watches[2].size(), 3u);
  EXPECT_EQ(watches[2][0]["start_revision"], "3");
  EXPECT_EQ(etcd_.ranges(), 1u);  // no read of the prefix was needed
}

// An event for a range watcher before the fence's "created": the store
// moved while the watch was being set up. Nothing of it is applied from
// this watch; the whole prefix is watched from the same revision.
TEST_F(EtcdWatchOrderTest, EventBeforeTheFenceExistsMeansCatchingUp) {
  etcd_.SetScripts({
      Created(0, 1) + Created(1, 1) + Events(1, 2, {{"switches/search", R"("off")", 2}}),
      Created(0, 2) + Events(0, 2, {{"switches/search", R"("off")", 2}}),
      Created(0, 2) + Created(1, 2) + Created(2, 2),
  });
  StartSource();
  ASSERT_TRUE(Eventually([&] { return etcd_.Watches().size() >= 3; })) << Logs();
  EXPECT_FALSE(search());
  const std::vector<std::vector<json>> watches = etcd_.Watches();
  ASSERT_EQ(watches[1].size(), 1u);
  EXPECT_EQ(watches[1][0]["start_revision"], "2");
  EXPECT_EQ(source_->stats().events, 1u);  // applied once, from the catch-up
}

// etcd fell behind on the switches/ watcher ("slow watcher") and delivers
// its revision 2 after the groups/ watcher's revision 3. Revision 2 must
// not be taken for one already applied: the source reads the prefix again,
// which applies both.
TEST_F(EtcdWatchOrderTest, WatchersOutOfStepLoseNothing) {
  etcd_.SetScripts({
      Created(0, 1) + Created(1, 1) + Created(2, 1) +
          Events(0, 3, {{"groups/tier2", R"("off")", 3}}) +
          Events(1, 3, {{"switches/search", R"("off")", 2}}),
      Created(0, 3) + Created(1, 3) + Created(2, 3),
  });
  // The re-read sees the store as it is now.
  etcd_.SetStores({{}, {3, {{"switches/search", R"("off")", 2}, {"groups/tier2", R"("off")", 3}}}});
  StartSource();
  ASSERT_TRUE(Eventually([&] { return !search(); })) << Logs();
  EXPECT_FALSE(ads());
  EXPECT_EQ(source_->stats().out_of_order, 1u);
  EXPECT_NE(Logs().find("etcd delivered revision 2 (/degrade/shop/switches/search) after "
                        "revision 3 (its watchers fell out of step); reading the prefix again"),
            std::string::npos)
      << Logs();
  ASSERT_TRUE(Eventually([&] { return etcd_.Watches().size() >= 2; }));
  // Watching again after the re-read's revision.
  EXPECT_EQ(etcd_.Watches()[1][0]["start_revision"], "4");
}

// A transaction that wrote keys on both sides comes as one message from
// each watcher, at the same revision: both halves are applied.
TEST_F(EtcdWatchOrderTest, RevisionOnBothSidesIsAppliedFromEachHalf) {
  etcd_.SetScripts({
      Created(0, 1) + Created(1, 1) + Created(2, 1) +
          Events(0, 2, {{"groups/tier2", R"("off")", 2}}) +
          Events(1, 2, {{"switches/search", R"("off")", 2}}),
  });
  StartSource();
  ASSERT_TRUE(Eventually([&] { return !search() && !ads(); })) << Logs();
  EXPECT_EQ(source_->stats().out_of_order, 0u);
  EXPECT_EQ(source_->stats().events, 2u);
  EXPECT_EQ(etcd_.ranges(), 1u);
}

// The stream is cut after the first half of a revision written on both
// sides: watching again after revision 2 would never bring the other half,
// so the source reads the prefix again.
TEST_F(EtcdWatchOrderTest, CutAfterHalfARevisionReadsThePrefixAgain) {
  etcd_.SetScripts({
      Created(0, 1) + Created(1, 1) + Created(2, 1) +
          Events(0, 2, {{"groups/tier2", R"("off")", 2}}) + kClose,
      Created(0, 2) + Created(1, 2) + Created(2, 2),
  });
  etcd_.SetStores({{}, {2, {{"switches/search", R"("off")", 2}, {"groups/tier2", R"("off")", 2}}}});
  StartSource();
  ASSERT_TRUE(Eventually([&] { return !search(); })) << Logs();
  EXPECT_EQ(etcd_.ranges(), 2u);
  EXPECT_NE(Logs().find("the watch ended while delivering, after revision 2; reading the prefix again"), std::string::npos) << Logs();
  ASSERT_TRUE(Eventually([&] { return etcd_.Watches().size() >= 2; }));
  EXPECT_EQ(etcd_.Watches()[1][0]["start_revision"], "3");
}

// A watch cut before it delivered anything resumes where it was: nothing
// of a revision can be half applied.
TEST_F(EtcdWatchOrderTest, CutBeforeAnyEventResumesWithoutReading) {
  etcd_.SetScripts({
      Created(0, 1) + Created(1, 1) + Created(2, 1) + kClose,
      Created(0, 1) + Created(1, 1) + Created(2, 1) +
          Events(1, 2, {{"switches/search", R"("off")", 2}}),
  });
  StartSource();
  ASSERT_TRUE(Eventually([&] { return !search(); })) << Logs();
  EXPECT_EQ(etcd_.ranges(), 1u);
  EXPECT_EQ(etcd_.Watches()[1][0]["start_revision"], "2");
}

}  // namespace
}  // namespace degrade
