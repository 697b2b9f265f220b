// The etcd source against real etcd processes on loopback: a single member,
// a three-member cluster, and several watcher processes. Each test starts
// and stops its own etcd (tests/etcd_fixture.h) and is bounded in time.
#include "etcd/etcd_source.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/runtime.h"
#include "etcd/etcd_client.h"
#include "etcd_fixture.h"
#include "etcd/etcd_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sources/lkg_cache.h"
#include "test_net.h"
#include "test_wait.h"

namespace degrade {
namespace {

namespace fs = std::filesystem;
using ::degrade::internal::EtcdClient;
using ::degrade::testing::EtcdCluster;
using ::testing::HasSubstr;
using Steady = std::chrono::steady_clock;

constexpr char kPrefix[] = "/degrade/shop/";

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// tests/test_wait.h's, with this file's bound (10 s) and absl durations.
bool Eventually(const std::function<bool()>& pred, absl::Duration limit = absl::Seconds(10)) {
  return test_util::Eventually(pred, absl::ToChronoMilliseconds(limit));
}

EtcdCluster::Options Members(int n, std::vector<std::string> flags = {}) {
  EtcdCluster::Options o;
  o.members = n;
  o.extra_flags = std::move(flags);
  return o;
}

EtcdClient::Config ClientFor(const std::vector<std::string>& endpoints) {
  EtcdClient::Config c;
  c.endpoints = endpoints;
  return c;
}

// A registry with switches defined, a log, and a runtime watching etcd.
class Watcher {
 public:
  explicit Watcher(std::vector<std::string> names = {"recs", "search", "ads"}) {
    Registry::Options options;
    options.getenv = [](std::string_view) { return std::optional<std::string>(); };
    options.log_sink = [this](LogLevel level, std::string_view msg) {
      std::lock_guard<std::mutex> lock(mu_);
      logs_.push_back({level, std::string(msg)});
    };
    registry_ = std::make_unique<Registry>(std::move(options));
    for (const std::string& n : names) {
      SwitchSpec spec;
      spec.name = n;
      spec.description = n;
      if (n == "ads") spec.groups = {"tier2"};
      switches_[n] = *registry_->Define(spec);
    }
    registry_->AddListener([this](const ChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    });
  }
  ~Watcher() { runtime_.reset(); }

  Options Base(const std::vector<std::string>& endpoints) const {
    Options o;
    o.registry = registry_.get();
    o.etcd_endpoints = endpoints;
    o.etcd_prefix = kPrefix;
    return o;
  }
  absl::Status Start(const Options& o) {
    auto rt = Runtime::Start(o);
    if (!rt.ok()) return rt.status();
    runtime_ = *std::move(rt);
    return absl::OkStatus();
  }
  void Stop() { runtime_.reset(); }

  bool enabled(const std::string& name) { return switches_.at(name)->enabled(); }
  Registry& registry() { return *registry_; }
  std::optional<SourceHealth> Health(std::string_view name) const {
    for (SourceHealth& h : registry_->sources()) {
      if (h.name == name) return h;
    }
    return std::nullopt;
  }
  int CountLogs(LogLevel level, std::string_view needle) const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(std::count_if(logs_.begin(), logs_.end(), [&](const auto& l) {
      return l.first == level && l.second.find(needle) != std::string::npos;
    }));
  }
  std::string AllLogs() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const auto& [level, msg] : logs_) {
      out += std::string(LogLevelName(level)) + ": " + msg + "\n";
    }
    return out;
  }
  std::vector<ChangeEvent> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // The events once at least `n` have arrived (or all there are after 10 s):
  // listeners run just after a change is visible to enabled(), so a test
  // that saw the last state flip may be a moment ahead of the last event.
  std::vector<ChangeEvent> events(size_t n) const {
    Eventually([&] { return events().size() >= n; });
    return events();
  }

 private:
  std::unique_ptr<Registry> registry_;
  std::map<std::string, Switch*> switches_;
  std::unique_ptr<Runtime> runtime_;
  mutable std::mutex mu_;
  std::vector<std::pair<LogLevel, std::string>> logs_;
  std::vector<ChangeEvent> events_;
};

class EtcdSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = EtcdCluster::Start(Members(1));
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = *std::move(c);
    writer_ = std::make_unique<EtcdClient>(ClientFor(cluster_->endpoints()));
    char tmpl[] = "/tmp/degrade-etcd-source-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    watcher_.reset();
    writer_.reset();
    cluster_.reset();
    fs::remove_all(dir_);
  }
  void Put(const std::string& rel, const std::string& value) {
    auto r = writer_->Put(kPrefix + rel, value);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  void Delete(const std::string& rel) {
    auto r = writer_->Delete(kPrefix + rel);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  void StartWatcher(Options o) {
    absl::Status s = watcher_->Start(o);
    ASSERT_TRUE(s.ok()) << s;
  }

  std::unique_ptr<EtcdCluster> cluster_;
  std::unique_ptr<EtcdClient> writer_;
  std::unique_ptr<Watcher> watcher_ = std::make_unique<Watcher>();
  fs::path dir_;
};

TEST(EtcdSourceHelpersTest, PrefixIsNormalisedToOneTrailingSlash) {
  EXPECT_EQ(internal::NormalizeEtcdPrefix("/degrade/shop"), "/degrade/shop/");
  EXPECT_EQ(internal::NormalizeEtcdPrefix("/degrade/shop/"), "/degrade/shop/");
  EXPECT_EQ(internal::NormalizeEtcdPrefix("/degrade/shop///"), "/degrade/shop/");
  EXPECT_EQ(internal::NormalizeEtcdPrefix("shop"), "shop/");
  EXPECT_EQ(internal::NormalizeEtcdPrefix("/"), "/");
}

TEST(EtcdSourceStartTest, BadEndpointIsRejectedByName) {
  Watcher w;
  Options o = w.Base({"127.0.0.1:2379"});
  absl::Status s = w.Start(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(s), HasSubstr("etcd_endpoints: \"127.0.0.1:2379\" is not an http:// or https://"));
}

TEST(EtcdSourceStartTest, PasswordWithoutUserIsRejected) {
  Watcher w;
  Options o = w.Base({"http://127.0.0.1:2379"});
  o.etcd_password = "x";
  absl::Status s = w.Start(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(s), HasSubstr("etcd_password is set without etcd_user"));
}

TEST(EtcdSourceStartTest, EnvironmentGivesUserPasswordAndCaFile) {
  ::setenv("DEGRADE_ETCD_ENDPOINTS", "http://127.0.0.1:1, http://127.0.0.1:2", 1);
  ::setenv("DEGRADE_ETCD_PREFIX", "/p", 1);
  ::setenv("DEGRADE_ETCD_USER", "svc", 1);
  ::setenv("DEGRADE_ETCD_PASSWORD", "pw", 1);
  ::setenv("DEGRADE_ETCD_CA_FILE", "/etc/ca.pem", 1);
  auto o = Runtime::OptionsFromEnv();
  ::setenv("DEGRADE_ETCD_CA_FILE", "", 1);
  auto empty = Runtime::OptionsFromEnv();
  for (const char* v : {"DEGRADE_ETCD_ENDPOINTS", "DEGRADE_ETCD_PREFIX", "DEGRADE_ETCD_USER",
                        "DEGRADE_ETCD_PASSWORD", "DEGRADE_ETCD_CA_FILE"}) {
    ::unsetenv(v);
  }
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->etcd_endpoints, (std::vector<std::string>{"http://127.0.0.1:1", "http://127.0.0.1:2"}));
  EXPECT_EQ(o->etcd_user, "svc");
  EXPECT_EQ(o->etcd_password, "pw");
  EXPECT_EQ(o->etcd_ca_file, "/etc/ca.pem");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(empty.status()), HasSubstr("DEGRADE_ETCD_CA_FILE is set but empty"));
}

TEST_F(EtcdSourceTest, InitialStateIsAppliedBeforeStartReturns) {
  Put("switches/recs", R"("off")");
  Put("groups/tier2", R"({"state":"off","reason":"INC-1"})");
  Put("all", R"({"state":"on","allow":0.5})");
  StartWatcher(watcher_->Base({cluster_->endpoint(0)}));
  EXPECT_FALSE(watcher_->enabled("recs"));
  EXPECT_FALSE(watcher_->enabled("ads"));  // through its group
  Snapshot layer = watcher_->registry().LayerSnapshot(Layer::kRemote);
  EXPECT_EQ(layer.switches.size(), 1u);
  EXPECT_EQ(layer.groups.count("tier2"), 1u);
  ASSERT_TRUE(layer.all.has_value());
  EXPECT_EQ(layer.all->allow, 0.5);
  auto h = watcher_->Health("etcd");
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(h->healthy) << h->last_error;
  EXPECT_EQ(h->applied, 1u);
  EXPECT_THAT(h->target, HasSubstr(cluster_->endpoint(0)));
}

TEST_F(EtcdSourceTest, PrefixWithoutTrailingSlashIsTheSame) {
  Put("switches/recs", R"("off")");
  ASSERT_TRUE(writer_->Put("/degrade/shopping/switches/search", R"("off")").ok());
  Options o = watcher_->Base({cluster_->endpoint(0)});
  o.etcd_prefix = "/degrade/shop";
  StartWatcher(o);
  EXPECT_FALSE(watcher_->enabled("recs"));
  EXPECT_TRUE(watcher_->enabled("search"));  // another prefix entirely
}

TEST_F(EtcdSourceTest, PutAndDeleteChangeTheStateAtOnce) {
  StartWatcher(watcher_->Base({cluster_->endpoint(0)}));
  ASSERT_TRUE(watcher_->enabled("recs"));
  std::vector<double> latencies_ms;
  for (int i = 0; i < 10; ++i) {
    const auto start = Steady::now();
    Put("switches/recs", R"("off")");
    ASSERT_TRUE(Eventually([&] { return !watcher_->enabled("recs"); }));
    latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(Steady::now() - start).count());
    Delete("switches/recs");
    ASSERT_TRUE(Eventually([&] { return watcher_->enabled("recs"); }));
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  // A figure for the report, not an assertion: the machine is shared.
  std::printf("put -> enabled() changed: min %.2f ms, median %.2f ms, max %.2f ms (10 puts)\n",
              latencies_ms.front(), latencies_ms[latencies_ms.size() / 2], latencies_ms.back());
  EXPECT_EQ(watcher_->registry().Get("recs")->deciding_layer, Layer::kDefault);
}

TEST_F(EtcdSourceTest, WatchedChangeIsEtcdsWithItsRevision) {
  StartWatcher(watcher_->Base({cluster_->endpoint(0)}));
  absl::StatusOr<int64_t> revision = writer_->Put(kPrefix + std::string("switches/recs"), R"("off")");
  ASSERT_TRUE(revision.ok()) << revision.status();
  const std::vector<ChangeEvent> got = watcher_->events(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].actor, "etcd");
  EXPECT_EQ(got[0].reason, absl::StrCat("revision ", *revision, " applied"));
  EXPECT_EQ(got[0].revision, *revision);
}

TEST_F(EtcdSourceTest, WatchedValueWithAnActorSpeaksForItself) {
  StartWatcher(watcher_->Base({cluster_->endpoint(0)}));
  absl::StatusOr<int64_t> revision =
      writer_->Put(kPrefix + std::string("switches/recs"),
                   R"({"state":"off","actor":"erin","reason":"INC-8"})");
  ASSERT_TRUE(revision.ok()) << revision.status();
  const std::vector<ChangeEvent> got = watcher_->events(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].actor, "erin");
  EXPECT_EQ(got[0].reason, "INC-8");
  EXPECT_EQ(got[0].revision, *revision);
}

TEST_F(EtcdSourceTest, BadValueUnderOneKeyKeepsItsLastGoodValueAndIsReported) {
  Put("switches/recs", R"("off")");
  StartWatcher(watcher_->Base({cluster_->endpoint(0)}));
  ASSERT_FALSE(watcher_->enabled("recs"));
  Put("switches/recs", R"({"state":"on","allow":2})");
  Put("switches/search", R"("off")");  // another key keeps working
  ASSERT_TRUE(Eventually([&] { return !watcher_->enabled("search"); }));
  EXPECT_FALSE(watcher_->enabled("recs"));  // kept its last good value
  // The source reports its health after it has applied the message, so a
  // reader can see search change a moment before the health does.
  ASSERT_TRUE(Eventually([&] {
    auto health = watcher_->Health("etcd");
    return health.has_value() && !health->healthy;
  }));
  auto h = watcher_->Health("etcd");
  ASSERT_TRUE(h.has_value());
  EXPECT_FALSE(h->healthy);
  EXPECT_THAT(h->last_error, HasSubstr("etcd key /degrade/shop/switches/recs: value.allow: 2 is "
                                       "not in [0, 1]"));
  EXPECT_EQ(watcher_->CountLogs(LogLevel::kError, "etcd key /degrade/shop/switches/recs"), 1)
      << watcher_->AllLogs();
  EXPECT_THAT(watcher_->registry().errors().back().message, HasSubstr("keeps its last good value"));

  Put("switches/recs", R"("on")");  // fixed
  ASSERT_TRUE(Eventually([&] { return watcher_->enabled("recs"); }));
  ASSERT_TRUE(Eventually([&] { return watcher_->Health("etcd")->healthy; }));
}

TEST_F(EtcdSourceTest, DuplicateKeyInAValueKeepsItsLastGoodValueAndIsNamed) {
  Put("switches/recs", R"("off")");
  StartWatcher(watcher_->Base({cluster_->endpoint(0)}));
  ASSERT_FALSE(watcher_->enabled("recs"));
  Put("switches/recs", R"({"state": "on", "breaker": {"open_s": 30, "open_s": 60}})");
  Put("switches/search", R"("off")");  // a later revision, applied after recs's
  ASSERT_TRUE(Eventually([&] { return !watcher_->enabled("search"); }));
  ASSERT_TRUE(Eventually([&] {
    auto health = watcher_->Health("etcd");
    return health.has_value() && !health->healthy;
  }));
  EXPECT_FALSE(watcher_->enabled("recs"));
  EXPECT_THAT(watcher_->Health("etcd")->last_error,
              HasSubstr(R"(etcd key /degrade/shop/switches/recs: value.breaker: duplicate key )"
                        R"("open_s"; each key may appear once)"));
}

TEST_F(EtcdSourceTest, BadValueAtStartLeavesTheEntryUnsetAndOthersApply) {
  Put("switches/recs", "{not json");
  Put("switches/Bad_Name", R"("off")");
  Put("switches/search", R"("off")");
  StartWatcher(watcher_->Base({cluster_->endpoint(0)}));
  EXPECT_TRUE(watcher_->enabled("recs"));
  EXPECT_FALSE(watcher_->enabled("search"));
  auto h = watcher_->Health("etcd");
  ASSERT_TRUE(h.has_value());
  EXPECT_FALSE(h->healthy);
  EXPECT_THAT(h->last_error, HasSubstr("2 keys rejected"));
  EXPECT_THAT(h->last_error, HasSubstr("etcd key /degrade/shop/switches/recs: value: invalid JSON"));
  EXPECT_THAT(h->last_error, HasSubstr("etcd key /degrade/shop/switches/Bad_Name: switch name"));
}

TEST_F(EtcdSourceTest, KeysOutsideTheLayoutAreWarnedOnceAndIgnored) {
  Put("config/colour", "blue");
  StartWatcher(watcher_->Base({cluster_->endpoint(0)}));
  Put("config/colour", "green");
  Put("switches/recs", R"("off")");
  ASSERT_TRUE(Eventually([&] { return !watcher_->enabled("recs"); }));
  EXPECT_EQ(watcher_->CountLogs(LogLevel::kWarning,
                                "etcd key /degrade/shop/config/colour: outside the layout"),
            1)
      << watcher_->AllLogs();
  EXPECT_TRUE(watcher_->Health("etcd")->healthy);
}

TEST_F(EtcdSourceTest, TransactionOfSeveralKeysIsAppliedAtOnce) {
  StartWatcher(watcher_->Base({cluster_->endpoint(0)}));
  // Two keys in one revision: a listener must never see one without the
  // other.
  // The listener may still run after this body returns, until TearDown's
  // watcher_.reset() joins the watch thread: it holds the Watcher itself (not
  // watcher_, which that reset writes) and shares its flag.
  auto torn = std::make_shared<std::atomic<bool>>(false);
  Watcher* w = watcher_.get();
  w->registry().AddListener([w, torn](const ChangeEvent&) {
    if (w->enabled("recs") != w->enabled("search")) *torn = true;
  });
  nlohmann::json txn = {
      {"success",
       {{{"request_put",
          {{"key", internal::EtcdBase64(std::string(kPrefix) + "switches/recs")},
           {"value", internal::EtcdBase64("\"off\"")}}}},
        {{"request_put",
          {{"key", internal::EtcdBase64(std::string(kPrefix) + "switches/search")},
           {"value", internal::EtcdBase64("\"off\"")}}}}}}};
  ASSERT_TRUE(cluster_->Post(0, "/v3/kv/txn", txn.dump()).ok());
  ASSERT_TRUE(Eventually([&] { return !watcher_->enabled("recs"); }));
  EXPECT_FALSE(watcher_->enabled("search"));
  EXPECT_FALSE(*torn);
}

TEST_F(EtcdSourceTest, EtcdRestartWhileWatchingLosesNoUpdate) {
  StartWatcher(watcher_->Base({cluster_->endpoint(0)}));
  Put("switches/recs", R"("off")");  // acknowledged just before the crash
  ASSERT_TRUE(cluster_->Kill(0).ok());
  ASSERT_TRUE(cluster_->Restart(0).ok());
  // Written before the watcher is back: it must resume from its revision.
  Put("switches/search", R"("off")");
  Put("groups/tier2", R"("off")");
  Put("switches/recs", R"("on")");
  ASSERT_TRUE(Eventually([&] { return !watcher_->enabled("ads"); }, absl::Seconds(20)))
      << watcher_->AllLogs();
  ASSERT_TRUE(Eventually([&] { return watcher_->enabled("recs"); }));
  EXPECT_FALSE(watcher_->enabled("search"));
  // Every update was applied once, and recs=on after recs=off. Whether the
  // rest comes one revision at a time (catching up) or partly from reading
  // the prefix again (when the watch had delivered recs=off before the
  // crash: one apply, in name order) depends on the crash's timing.
  std::vector<std::string> order;
  for (const ChangeEvent& e : watcher_->events(4)) {
    order.push_back(e.name + "=" + (e.new_state.state == State::kOff ? "off" : "on"));
  }
  EXPECT_THAT(order, ::testing::UnorderedElementsAre("recs=off", "search=off", "ads=off",
                                                     "recs=on"))
      << watcher_->AllLogs();
  EXPECT_LT(std::find(order.begin(), order.end(), "recs=off"),
            std::find(order.begin(), order.end(), "recs=on"));
  ASSERT_TRUE(Eventually([&] { return watcher_->Health("etcd")->healthy; }));
}

// A TCP proxy in front of etcd that can refuse and cut connections: the
// watcher's link fails while etcd itself keeps taking writes.
class TcpProxy {
 public:
  explicit TcpProxy(int target_port) : target_port_(target_port) {
    const test_util::BoundSocket s = test_util::BindLoopback(/*backlog=*/64);
    if (s.fd < 0) {
      ADD_FAILURE() << "proxy listen: " << std::strerror(errno);
      return;
    }
    listen_fd_ = s.fd;
    port_ = s.port;
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~TcpProxy() {
    stop_ = true;
    if (accept_thread_.joinable()) accept_thread_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : pumps_) t.join();
    ::close(listen_fd_);
  }
  std::string endpoint() const { return absl::StrCat("http://127.0.0.1:", port_); }
  // Closes every open connection and, while on, closes new ones at once.
  // Under mu_, as the accept loop's last check: a connection accepted just
  // before is either in open_ (and shut here) or sees refusing_ (and closed
  // there), never neither.
  void SetRefusing(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    refusing_ = on;
    if (!on) return;
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      if (refusing_) {
        ::close(client);
        continue;
      }
      const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const sockaddr_in addr = test_util::LoopbackAddress(target_port_);
      if (::connect(upstream, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(client);
        ::close(upstream);
        continue;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (refusing_) {
          ::close(client);
          ::close(upstream);
          continue;
        }
        open_.insert(client);
        open_.insert(upstream);
      }
      pumps_.emplace_back([this, client, upstream] { Pump(client, upstream); });
    }
  }
  void Pump(int a, int b) {
    char buf[16384];
    pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    while (!stop_) {
      if (::poll(p, 2, 20) <= 0) continue;
      bool closed = false;
      for (int i = 0; i < 2 && !closed; ++i) {
        if (p[i].revents == 0) continue;
        const ssize_t n = ::read(p[i].fd, buf, sizeof(buf));
        // MSG_NOSIGNAL: a peer gone mid-write must not SIGPIPE the test.
        if (n <= 0 || ::send(p[1 - i].fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) {
          closed = true;
        }
      }
      if (closed) break;
    }
    std::lock_guard<std::mutex> lock(mu_);
    open_.erase(a);
    open_.erase(b);
    ::close(a);
    ::close(b);
  }

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> refusing_{false};
  std::mutex mu_;
  std::set<int> open_;
  std::vector<std::thread> pumps_;  // touched by the accept thread, then the destructor
  std::thread accept_thread_;
};

int PortOf(const std::string& endpoint) {
  return std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
}

TEST_F(EtcdSourceTest, CompactionPastTheWatchersRevisionReadsThePrefixAgain) {
  TcpProxy proxy(PortOf(cluster_->endpoint(0)));
  // Built directly, to keep member discovery from bypassing the proxy.
  internal::EtcdSource::Config config;
  config.client = ClientFor({proxy.endpoint()});
  config.prefix = kPrefix;
  config.discover_members = false;
  config.backoff_max = absl::Milliseconds(200);
  Put("switches/recs", R"("off")");
  auto source = std::make_unique<internal::EtcdSource>(watcher_->registry(), config);
  ASSERT_FALSE(watcher_->enabled("recs"));
  ASSERT_TRUE(Eventually([&] { return watcher_->Health("etcd")->healthy; }));

  proxy.SetRefusing(true);
  ASSERT_TRUE(Eventually([&] { return !watcher_->Health("etcd")->healthy; }));
  Put("switches/recs", R"("on")");
  Put("switches/search", R"("off")");
  Delete("switches/search");
  auto last = writer_->Put(std::string(kPrefix) + "groups/tier2", R"("off")");
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(writer_->Compact(*last).ok());
  proxy.SetRefusing(false);

  ASSERT_TRUE(Eventually([&] { return !watcher_->enabled("ads"); }, absl::Seconds(20)))
      << watcher_->AllLogs();
  EXPECT_TRUE(watcher_->enabled("recs"));
  EXPECT_TRUE(watcher_->enabled("search"));
  EXPECT_GE(watcher_->CountLogs(LogLevel::kWarning, "was compacted"), 1) << watcher_->AllLogs();
  // Still watching after the re-read.
  Put("switches/recs", R"("off")");
  ASSERT_TRUE(Eventually([&] { return !watcher_->enabled("recs"); }));
  source.reset();
}

TEST_F(EtcdSourceTest, CatchUpAfterAnOutageAppliesEachRevisionInTurn) {
  TcpProxy proxy(PortOf(cluster_->endpoint(0)));
  internal::EtcdSource::Config config;
  config.client = ClientFor({proxy.endpoint()});
  config.prefix = kPrefix;
  config.discover_members = false;
  config.backoff_max = absl::Milliseconds(200);
  auto source = std::make_unique<internal::EtcdSource>(watcher_->registry(), config);
  ASSERT_TRUE(Eventually([&] { return watcher_->Health("etcd")->healthy; }));

  proxy.SetRefusing(true);
  ASSERT_TRUE(Eventually([&] { return !watcher_->Health("etcd")->healthy; }));
  Put("switches/recs", R"("off")");
  Put("switches/recs", R"("on")");
  Put("switches/search", R"("off")");
  proxy.SetRefusing(false);
  // The missed revisions arrive in one watch message; each is its own step.
  ASSERT_TRUE(Eventually([&] { return !watcher_->enabled("search"); }, absl::Seconds(20)))
      << watcher_->AllLogs();
  std::vector<std::string> order;
  for (const ChangeEvent& e : watcher_->events(3)) {
    order.push_back(e.name + "=" + (e.new_state.state == State::kOff ? "off" : "on"));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"recs=off", "recs=on", "search=off"}));
  EXPECT_EQ(watcher_->CountLogs(LogLevel::kWarning, "was compacted"), 0);
}

// A consumer that stops reading during a burst: the stream backs up into
// etcd, which then falls behind on one of the split watch's watchers (a
// "slow watcher") and delivers that side late, after later revisions of
// the other side, or sends a catch-up larger than the message limit. In
// runs before the fix for it, 1 in 5 took the first path and lost every
// revision of the late side. Whichever path etcd takes, nothing may be
// lost: the state must end as etcd's.
TEST_F(EtcdSourceTest, StalledWatchUnderABurstLosesNothing) {
  internal::EtcdSource::Config config;
  config.client = ClientFor({cluster_->endpoint(0)});
  config.prefix = kPrefix;
  config.discover_members = false;
  auto source = std::make_unique<internal::EtcdSource>(watcher_->registry(), config);
  ASSERT_TRUE(Eventually([&] { return watcher_->Health("etcd")->healthy; }));

  // The watch thread applies each change and runs the listeners: hold it
  // in one at the first change until the burst is written. Shared, as the
  // listener may run until TearDown joins the watch thread.
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool held = false;
    bool open = false;
  };
  auto gate = std::make_shared<Gate>();
  watcher_->registry().AddListener([gate](const ChangeEvent&) {
    std::unique_lock<std::mutex> lock(gate->mu);
    gate->held = true;
    gate->cv.notify_all();
    gate->cv.wait(lock, [&] { return gate->open; });
  });
  Put("switches/recs", R"("off")");
  {
    std::unique_lock<std::mutex> lock(gate->mu);
    ASSERT_TRUE(gate->cv.wait_for(lock, std::chrono::seconds(10), [&] { return gate->held; }));
  }
  // Transactions of 128 keys (one watch message each, about 13 KB),
  // alternating sides of PREFIX/instances/: groups/ before it, switches/
  // after it. 600 of them back the stream up past etcd's send buffer.
  constexpr int kRounds = 600;
  for (int round = 0; round < kRounds; ++round) {
    const bool before = round % 2 == 0;
    std::vector<std::pair<std::string, std::string>> kvs;
    for (size_t k = 0; k < EtcdClient::kMaxTxnOps; ++k) {
      kvs.emplace_back(absl::StrCat(kPrefix, before ? "groups/g" : "switches/s", k),
                       absl::StrCat(R"({"state":")", round % 4 < 2 ? "off" : "on",
                                    R"(","reason":"round )", round, R"("})"));
    }
    // The real switches change once each, in the middle.
    if (round == kRounds / 2) kvs.back() = {absl::StrCat(kPrefix, "groups/tier2"), R"("off")"};
    if (round == kRounds / 2 + 1) {
      kvs.back() = {absl::StrCat(kPrefix, "switches/search"), R"("off")"};
    }
    auto r = writer_->PutAll(kvs);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  Put("switches/recs", R"("on")");
  {
    std::lock_guard<std::mutex> lock(gate->mu);
    gate->open = true;
  }
  gate->cv.notify_all();

  // Every key of the last round of each side holds that round's value.
  // Waited for: when etcd delivers one side late, the other side's last
  // change (recs=on) may show before the late side is read again.
  auto differences = [&] {
    std::string out;
    const Snapshot layer = watcher_->registry().LayerSnapshot(Layer::kRemote);
    for (size_t k = 0; k < EtcdClient::kMaxTxnOps; ++k) {
      const std::string g = absl::StrCat("g", k);
      const std::string s = absl::StrCat("s", k);
      const std::string g_want = absl::StrCat("round ", kRounds - 2);
      const std::string s_want = absl::StrCat("round ", kRounds - 1);
      auto gi = layer.groups.find(g);
      auto si = layer.switches.find(s);
      if (gi == layer.groups.end() || gi->second.reason != g_want) absl::StrAppend(&out, g, " ");
      if (si == layer.switches.end() || si->second.reason != s_want) absl::StrAppend(&out, s, " ");
    }
    if (!watcher_->enabled("recs")) out += "recs ";
    if (watcher_->enabled("search")) out += "search ";
    if (watcher_->enabled("ads")) out += "ads ";
    return out;
  };
  ASSERT_TRUE(Eventually([&] { return differences().empty(); }, absl::Seconds(60)))
      << "not as etcd holds them: " << differences() << "\n"
      << watcher_->AllLogs();
  const internal::EtcdSource::Stats stats = source->stats();
  RecordProperty("out_of_order", static_cast<int>(stats.out_of_order));
  RecordProperty("stuck_recoveries", static_cast<int>(stats.stuck_recoveries));
  source.reset();
}

TEST_F(EtcdSourceTest, IdleWatchIsReopenedQuietlyAndKeepsWorking) {
  internal::EtcdSource::Config config;
  config.client = ClientFor(cluster_->endpoints());
  // Each reopened watch must get its "created" within this (an attempt that
  // gets nothing is a real failure, logged as an error): 3 s, long enough for
  // a reconnect on a loaded or sanitized machine, where 1 s was not.
  config.client.watch_idle_timeout = absl::Seconds(3);
  config.prefix = kPrefix;
  auto source = std::make_unique<internal::EtcdSource>(watcher_->registry(), config);
  ASSERT_TRUE(Eventually([&] { return watcher_->Health("etcd")->healthy; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(9500));  // 3 idle timeouts
  auto h = watcher_->Health("etcd");
  EXPECT_TRUE(h->healthy) << h->last_error;
  EXPECT_EQ(h->consecutive_failures, 0u);
  EXPECT_EQ(watcher_->CountLogs(LogLevel::kError, ""), 0) << watcher_->AllLogs();
  Put("switches/recs", R"("off")");
  ASSERT_TRUE(Eventually([&] { return !watcher_->enabled("recs"); }));
}

TEST_F(EtcdSourceTest, CacheCoversARestartWhileEtcdIsDown) {
  const std::string cache = (dir_ / "etcd-cache.json").string();
  Options o = watcher_->Base({cluster_->endpoint(0)});
  o.cache_file = cache;
  o.etcd_timeout = absl::Milliseconds(500);
  StartWatcher(o);
  Put("switches/recs", R"({"state":"off","reason":"INC-7"})");
  ASSERT_TRUE(Eventually([&] { return !watcher_->enabled("recs"); }));
  ASSERT_TRUE(Eventually([&] {
    auto c = internal::ReadCache(cache, absl::Now());
    return c.ok() && c->switches.count("recs") == 1;
  }));
  watcher_->Stop();
  ASSERT_TRUE(cluster_->Kill(0).ok());

  // A new process start while etcd is down: the cache decides.
  watcher_ = std::make_unique<Watcher>();
  o.registry = &watcher_->registry();
  StartWatcher(o);
  EXPECT_FALSE(watcher_->enabled("recs"));
  EXPECT_EQ(watcher_->registry().Get("recs")->reason, "INC-7");
  auto cache_health = watcher_->Health("cache");
  ASSERT_TRUE(cache_health.has_value());
  EXPECT_TRUE(cache_health->healthy);
  EXPECT_FALSE(watcher_->Health("etcd")->healthy);
  EXPECT_GE(watcher_->CountLogs(LogLevel::kWarning, "no etcd endpoint answered at start"), 1);

  // etcd comes back: its state replaces the cache's.
  ASSERT_TRUE(cluster_->Restart(0).ok());
  Delete("switches/recs");
  ASSERT_TRUE(Eventually([&] { return watcher_->enabled("recs"); }, absl::Seconds(20)))
      << watcher_->AllLogs();
}

TEST_F(EtcdSourceTest, EtcdDownAtStartWithoutCacheChangesNothingAndIsReported) {
  ASSERT_TRUE(cluster_->Kill(0).ok());
  Options o = watcher_->Base({cluster_->endpoint(0)});
  StartWatcher(o);
  EXPECT_TRUE(watcher_->enabled("recs"));
  auto h = watcher_->Health("etcd");
  ASSERT_TRUE(h.has_value());
  EXPECT_FALSE(h->healthy);
  EXPECT_THAT(h->last_error, HasSubstr(absl::StrCat("etcd ", cluster_->endpoint(0),
                                                    ": range /degrade/shop/: cannot connect")));
  ASSERT_TRUE(cluster_->Restart(0).ok());
  Put("switches/recs", R"("off")");
  ASSERT_TRUE(Eventually([&] { return !watcher_->enabled("recs"); }, absl::Seconds(20)));
}

TEST_F(EtcdSourceTest, AuthenticatedSourceWatches) {
  ASSERT_TRUE(cluster_->EnableAuth("secret").ok());
  EtcdClient::Config wc = ClientFor(cluster_->endpoints());
  wc.user = "root";
  wc.password = "secret";
  writer_ = std::make_unique<EtcdClient>(wc);
  Put("switches/recs", R"("off")");
  Options o = watcher_->Base({cluster_->endpoint(0)});
  o.etcd_user = "root";
  o.etcd_password = "secret";
  StartWatcher(o);
  EXPECT_FALSE(watcher_->enabled("recs"));
  Put("switches/recs", R"("on")");
  ASSERT_TRUE(Eventually([&] { return watcher_->enabled("recs"); }));
}

TEST_F(EtcdSourceTest, WrongPasswordIsReportedAndChangesNothing) {
  ASSERT_TRUE(cluster_->EnableAuth("secret").ok());
  Options o = watcher_->Base({cluster_->endpoint(0)});
  o.etcd_user = "root";
  o.etcd_password = "wrong";
  StartWatcher(o);
  EXPECT_TRUE(watcher_->enabled("recs"));
  auto h = watcher_->Health("etcd");
  ASSERT_TRUE(h.has_value());
  EXPECT_FALSE(h->healthy);
  EXPECT_THAT(h->last_error, HasSubstr("authenticate as root: etcdserver: authentication failed"));
  EXPECT_EQ(h->last_error.find("wrong"), std::string::npos);  // the password is never shown
}

// A self-signed certificate for 127.0.0.1 (openssl CLI), its own CA.
bool MakeCertificate(const fs::path& dir, std::string* cert, std::string* key) {
  *cert = (dir / "etcd.crt").string();
  *key = (dir / "etcd.key").string();
  const std::string cmd = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 ",
      "-addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:TRUE ",
      "-keyout ", *key, " -out ", *cert, " >/dev/null 2>&1");
  return std::system(cmd.c_str()) == 0;
}

// A temporary directory, removed on scope exit (also when an ASSERT fails).
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/degrade-etcd-tls-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
  fs::path path;
};

TEST(EtcdTlsSourceTest, HttpsEndpointIsVerifiedAgainstTheCaFile) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  std::string cert, key;
  ASSERT_TRUE(MakeCertificate(dir.path, &cert, &key)) << "openssl failed";
  EtcdCluster::Options co = Members(1);
  co.cert_file = cert;
  co.key_file = key;
  auto c = EtcdCluster::Start(co);
  ASSERT_TRUE(c.ok()) << c.status();
  std::unique_ptr<EtcdCluster> cluster = *std::move(c);
  ASSERT_EQ(cluster->endpoint(0).rfind("https://", 0), 0u);
  EtcdClient::Config wc = ClientFor(cluster->endpoints());
  wc.ca_file = cert;
  EtcdClient writer(wc);
  ASSERT_TRUE(writer.Put(std::string(kPrefix) + "switches/recs", R"("off")").ok());

  {
    Watcher w;
    Options o = w.Base(cluster->endpoints());
    o.etcd_ca_file = cert;
    ASSERT_TRUE(w.Start(o).ok());
    EXPECT_FALSE(w.enabled("recs"));
    ASSERT_TRUE(writer.Put(std::string(kPrefix) + "switches/recs", R"("on")").ok());
    EXPECT_TRUE(Eventually([&] { return w.enabled("recs"); }));
  }
  {
    // Without the CA file the system store does not know this certificate.
    Watcher w;
    ASSERT_TRUE(w.Start(w.Base(cluster->endpoints())).ok());
    auto h = w.Health("etcd");
    ASSERT_TRUE(h.has_value());
    EXPECT_FALSE(h->healthy);
    EXPECT_THAT(h->last_error, HasSubstr("TLS certificate verification failed against the system "
                                         "CA store"));
  }
}

// ----------------------------------------------------------- three members

TEST(EtcdClusterSourceTest, LeaderKillWhileUpdatesKeepComingMissesNothing) {
  auto c = EtcdCluster::Start(Members(3));
  ASSERT_TRUE(c.ok()) << c.status();
  std::unique_ptr<EtcdCluster> cluster = *std::move(c);
  constexpr int kUpdates = 40;
  constexpr int kKillAfter = 10;
  std::vector<std::string> names;
  for (int i = 0; i < kUpdates; ++i) names.push_back(absl::StrCat("k", i));
  // Three watchers, each configured with every member but starting on a
  // different one, so one of them is watching the leader when it dies.
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int w = 0; w < 3; ++w) {
    watchers.push_back(std::make_unique<Watcher>(names));
    std::vector<std::string> eps = cluster->endpoints();
    std::rotate(eps.begin(), eps.begin() + w, eps.end());
    absl::Status s = watchers.back()->Start(watchers.back()->Base(eps));
    ASSERT_TRUE(s.ok()) << s;
  }
  auto leader = cluster->Leader();
  ASSERT_TRUE(leader.ok()) << leader.status();

  EtcdClient writer(ClientFor(cluster->endpoints()));
  Steady::time_point killed_at;
  double resume_ms = -1;
  for (int i = 0; i < kUpdates; ++i) {
    if (i == kKillAfter) {
      ASSERT_TRUE(cluster->Kill(*leader).ok());
      killed_at = Steady::now();
    }
    // Each update turns one more switch off; the writer retries through the
    // election (bounded).
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    absl::StatusOr<int64_t> r;
    do {
      r = writer.Put(absl::StrCat(kPrefix, "switches/k", i), R"("off")");
    } while (!r.ok() && absl::Now() < deadline);
    ASSERT_TRUE(r.ok()) << r.status();
    if (i == kKillAfter) {
      resume_ms = std::chrono::duration<double, std::milli>(Steady::now() - killed_at).count();
    }
  }
  std::printf("leader kill -> next write accepted: %.0f ms\n", resume_ms);
  const auto last_write = Steady::now();
  for (auto& w : watchers) {
    ASSERT_TRUE(Eventually([&] { return !w->enabled(names.back()); }, absl::Seconds(20)))
        << w->AllLogs();
  }
  std::printf("last write -> every watcher has it: %.0f ms\n",
              std::chrono::duration<double, std::milli>(Steady::now() - last_write).count());
  for (auto& w : watchers) {
    // Exactly the last written state...
    Snapshot layer = w->registry().LayerSnapshot(Layer::kRemote);
    EXPECT_EQ(layer.switches.size(), static_cast<size_t>(kUpdates));
    for (const std::string& n : names) EXPECT_FALSE(w->enabled(n)) << n;
    // ...reached through every update, each applied once: in order, unless
    // the watch on the killed leader was cut while it was delivering, when
    // the source reads the prefix again (one apply for the rest).
    std::vector<std::string> order;
    for (const ChangeEvent& e : w->events(names.size())) order.push_back(e.name);
    EXPECT_THAT(order, ::testing::UnorderedElementsAreArray(names));
    if (w->CountLogs(LogLevel::kInfo, "the watch ended while delivering") == 0) {
      EXPECT_EQ(order, names);
    }
  }
}

// ------------------------------------------------------------ processes

// A child process running tests/etcd_watcher, its stdout read line by line.
class WatcherProcess {
 public:
  WatcherProcess(const std::string& binary, const std::string& endpoints,
                 const std::vector<std::string>& switches) {
    int out[2], in[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe: " << std::strerror(errno);
      return;
    }
    std::vector<std::string> args = {binary};
    args.insert(args.end(), switches.begin(), switches.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string env_endpoints = "DEGRADE_ETCD_ENDPOINTS=" + endpoints;
    const std::string env_prefix = std::string("DEGRADE_ETCD_PREFIX=") + kPrefix;
    std::vector<char*> envp = {const_cast<char*>(env_endpoints.c_str()),
                               const_cast<char*>(env_prefix.c_str()), nullptr};
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~WatcherProcess() {
    if (stdin_ >= 0) ::close(stdin_);  // the watcher exits when stdin closes
    if (pid_ > 0) {
      int status = 0;
      for (int i = 0; i < 200 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (::waitpid(pid_, &status, WNOHANG) == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    if (stdout_ >= 0) ::close(stdout_);
  }
  // Reads what is available; returns the last complete line seen so far.
  std::string LastLine() {
    char buf[4096];
    pollfd p{stdout_, POLLIN, 0};
    while (::poll(&p, 1, 0) > 0) {
      const ssize_t n = ::read(stdout_, buf, sizeof(buf));
      if (n <= 0) break;
      pending_.append(buf, static_cast<size_t>(n));
    }
    size_t nl;
    while ((nl = pending_.find('\n')) != std::string::npos) {
      last_ = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
    }
    return last_;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string pending_;
  std::string last_;
};

TEST(EtcdProcessesTest, SeveralWatcherProcessesConverge) {
  const char* binary = std::getenv("DEGRADE_ETCD_WATCHER");
  ASSERT_NE(binary, nullptr) << "DEGRADE_ETCD_WATCHER (the etcd_watcher binary) is not set";
  auto c = EtcdCluster::Start(Members(1));
  ASSERT_TRUE(c.ok()) << c.status();
  std::unique_ptr<EtcdCluster> cluster = *std::move(c);
  EtcdClient writer(ClientFor(cluster->endpoints()));
  ASSERT_TRUE(writer.Put(std::string(kPrefix) + "switches/recs", R"("off")").ok());

  constexpr int kProcesses = 4;
  std::vector<std::unique_ptr<WatcherProcess>> procs;
  for (int i = 0; i < kProcesses; ++i) {
    procs.push_back(std::make_unique<WatcherProcess>(binary, cluster->endpoints_csv(),
                                                     std::vector<std::string>{"recs", "search"}));
  }
  auto all_show = [&](const std::string& line) {
    return Eventually([&] {
      for (auto& p : procs) {
        if (p->LastLine() != line) return false;
      }
      return true;
    }, absl::Seconds(20));
  };
  ASSERT_TRUE(all_show("state recs=off search=on"));
  ASSERT_TRUE(writer.Put(std::string(kPrefix) + "all", R"("off")").ok());
  ASSERT_TRUE(writer.Put(std::string(kPrefix) + "switches/recs", R"("on")").ok());
  ASSERT_TRUE(all_show("state recs=on search=off"));
  ASSERT_TRUE(writer.DeletePrefix(kPrefix).ok());
  ASSERT_TRUE(all_show("state recs=on search=on"));
}

}  // namespace
}  // namespace degrade
