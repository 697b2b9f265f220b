// Fleet registration and the fleet commands of degradectl --etcd (status,
// --wait, typo refusal, history) against real etcd processes on loopback
// (tests/etcd_fixture.h) and real instances: fleet_child processes
// ($FLEET_CHILD), each a Runtime from its environment, as a service runs.
//
// One single-member etcd is shared by the suite, each test under its own
// prefix; the three-member test starts its own cluster. Lease TTLs are the
// shortest etcd grants (2 s) where expiry is tested.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "degrade/degrade.h"
#include "etcd/etcd_client.h"
#include "etcd/etcd_json.h"
#include "etcd/registration.h"
#include "etcd_fixture.h"
#include "etcd_suite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "subprocess.h"
#include "test_net.h"
#include "test_wait.h"

namespace degrade {
namespace {

using internal::EtcdClient;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::Subprocess;

constexpr absl::Duration kPatience = absl::Seconds(20);

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

struct Output {
  int exit_code = -1;
  std::string out, err;
};

class FleetTest : public test_util::SharedEtcdTest {
 protected:
  void SetUp() override {
    SharedEtcdTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_FALSE(Env("DEGRADECTL").empty()) << "DEGRADECTL is not set (meson sets it)";
    ASSERT_FALSE(Env("FLEET_CHILD").empty()) << "FLEET_CHILD is not set (meson sets it)";
  }

  void TearDown() override {
    // All at once: each takes about a second to stop its runtime.
    for (auto& c : children_) {
      c->Signal(SIGCONT);
      c->Signal(SIGTERM);
    }
    for (auto& c : children_) c->Finish(kPatience);
  }

  // A fleet_child registered as `id` defining `switches`, with `env` added;
  // returns once it printed "ready" (its runtime started).
  Subprocess* StartChild(const std::string& id, std::vector<std::string> switches,
                         std::vector<std::string> env = {},
                         const std::string& endpoints = "") {
    std::vector<std::string> argv = {Env("FLEET_CHILD")};
    argv.insert(argv.end(), switches.begin(), switches.end());
    env.insert(env.end(),
               {absl::StrCat("DEGRADE_ETCD_ENDPOINTS=",
                             endpoints.empty() ? cluster_->endpoints_csv() : endpoints),
                absl::StrCat("DEGRADE_ETCD_PREFIX=", prefix_),
                absl::StrCat("DEGRADE_INSTANCE_ID=", id)});
    children_.push_back(std::make_unique<Subprocess>(std::move(argv), std::move(env)));
    Subprocess* c = children_.back().get();
    EXPECT_TRUE(c->started()) << c->error();
    EXPECT_TRUE(c->WaitForStdout("ready", kPatience)) << c->err();
    return c;
  }

  Output Ctl(std::vector<std::string> args, const std::string& endpoints = "") {
    args.insert(args.begin(), {Env("DEGRADECTL"), "--etcd",
                               endpoints.empty() ? cluster_->endpoints_csv() : endpoints,
                               "--prefix", prefix_});
    Subprocess p(std::move(args), {"PATH=/usr/bin:/bin", "HOME=/tmp", "USER=ana"});
    Output o;
    o.exit_code = p.Finish(kPatience);
    o.out = p.out();
    o.err = p.err();
    return o;
  }

  // The registration of `id`, parsed; nullopt when there is none.
  std::optional<json> Registration(const std::string& id) { return Value("instances/" + id); }

  // Waits until `id` reports at least `revision`.
  bool Reports(const std::string& id, int64_t revision) {
    return test_util::Eventually(
        [&] {
          std::optional<json> v = Registration(id);
          return v.has_value() && (*v)["revision"].get<int64_t>() >= revision;
        },
        std::chrono::milliseconds(10000));
  }

  std::vector<std::unique_ptr<Subprocess>> children_;
};

// ------------------------------------------------------------ registration

TEST_F(FleetTest, InstanceRegistersWhatItApplied) {
  const int64_t rev = Put("switches/recs", R"("off")");
  Subprocess* c = StartChild("shop-1", {"recs", "search"});
  ASSERT_TRUE(Reports("shop-1", rev));
  const json v = *Registration("shop-1");
  EXPECT_EQ(v["id"], "shop-1");
  EXPECT_EQ(v["pid"], c->pid());
  EXPECT_FALSE(v["version"].get<std::string>().empty());
  EXPECT_EQ(v["switches"]["recs"]["state"], "off");
  EXPECT_EQ(v["switches"]["recs"]["layer"], "remote");
  EXPECT_EQ(v["switches"]["search"]["state"], "on");
  EXPECT_EQ(v["switches"]["search"]["layer"], "default");
  EXPECT_EQ(v["sources"][0]["name"], "etcd");
}

TEST_F(FleetTest, RegistrationFollowsAChange) {
  StartChild("shop-1", {"recs"});
  ASSERT_TRUE(Registration("shop-1").has_value() ||
              test_util::Eventually([&] { return Registration("shop-1").has_value(); }));
  const int64_t rev = Put("switches/recs", R"({"state": "on", "allow": 0.25})");
  ASSERT_TRUE(Reports("shop-1", rev));
  const json v = *Registration("shop-1");
  EXPECT_EQ(v["switches"]["recs"]["allow"], 0.25);
  EXPECT_EQ(v["layer_revision"], rev);
}

TEST_F(FleetTest, FrequentWritesDoNotLetTheLeaseLapse) {
  // A put does not renew a lease; only keep-alives do, whatever the writes.
  Registry registry;
  internal::Registration::Config config;
  config.client.endpoints = cluster_->endpoints();
  config.prefix = prefix_;
  config.id = "busy";
  config.version = "test";
  config.ttl = absl::Seconds(2);
  config.min_interval = absl::ZeroDuration();
  internal::Registration reg(registry, config);
  const absl::Time end = absl::Now() + absl::Seconds(3);  // 1.5 x the TTL
  int64_t rev = 1;
  while (absl::Now() < end) {
    const uint64_t before = reg.stats().writes;
    reg.Applied(rev, rev);
    ++rev;
    ASSERT_TRUE(test_util::Eventually([&] { return reg.stats().writes > before; }));
  }
  EXPECT_EQ(reg.stats().grants, 1u);  // never lost, so never granted again
  EXPECT_GE(reg.stats().keepalives, 2u);
  EXPECT_TRUE(Registration("busy").has_value());
}

TEST_F(FleetTest, KilledInstanceDisappearsWhenItsLeaseRunsOut) {
  Subprocess* c = StartChild("doomed", {"recs"}, {"DEGRADE_ETCD_REGISTER_TTL_S=2"});
  ASSERT_TRUE(test_util::Eventually([&] { return Registration("doomed").has_value(); }));
  c->Signal(SIGKILL);
  // etcd's lease checks run every 500 ms: a 2 s lease goes within about 3 s.
  EXPECT_TRUE(test_util::Eventually([&] { return !Registration("doomed").has_value(); },
                                    std::chrono::milliseconds(8000)));
}

TEST_F(FleetTest, CleanExitRemovesTheRegistrationAtOnce) {
  Subprocess* c = StartChild("leaving", {"recs"});  // default 10 s lease
  ASSERT_TRUE(test_util::Eventually([&] { return Registration("leaving").has_value(); }));
  c->Signal(SIGTERM);
  ASSERT_EQ(c->Finish(kPatience), 0);
  EXPECT_FALSE(Registration("leaving").has_value());  // revoked, not left to expire
}

TEST_F(FleetTest, RegisterOffWritesNothing) {
  StartChild("silent", {"recs"}, {"DEGRADE_ETCD_REGISTER=off"});
  StartChild("loud", {"recs"});
  // Both started alike; once the second is registered, the first would be.
  ASSERT_TRUE(test_util::Eventually([&] { return Registration("loud").has_value(); }));
  EXPECT_FALSE(Registration("silent").has_value());
}

TEST_F(FleetTest, BadRegisterValueStopsStartWithTheAcceptedWords) {
  Subprocess c({Env("FLEET_CHILD"), "recs"},
               {absl::StrCat("DEGRADE_ETCD_ENDPOINTS=", cluster_->endpoints_csv()),
                absl::StrCat("DEGRADE_ETCD_PREFIX=", prefix_), "DEGRADE_ETCD_REGISTER=maybe"});
  EXPECT_EQ(c.Finish(kPatience), 1);
  EXPECT_THAT(c.err(), HasSubstr("DEGRADE_ETCD_REGISTER"));
  EXPECT_THAT(c.err(), HasSubstr("\"maybe\""));
  EXPECT_THAT(c.err(), HasSubstr("on, off, true, false, 1 or 0"));
}

TEST_F(FleetTest, BadInstanceIdStopsStartNamingWhatIsAccepted) {
  Subprocess c({Env("FLEET_CHILD"), "recs"},
               {absl::StrCat("DEGRADE_ETCD_ENDPOINTS=", cluster_->endpoints_csv()),
                absl::StrCat("DEGRADE_ETCD_PREFIX=", prefix_), "DEGRADE_INSTANCE_ID=a/b"});
  EXPECT_EQ(c.Finish(kPatience), 1);
  EXPECT_THAT(c.err(), HasSubstr("DEGRADE_INSTANCE_ID: \"a/b\" holds '/'"));
  EXPECT_THAT(c.err(), HasSubstr("accepted: 1 to 128 characters of A-Z a-z 0-9 . _ -"));
}

TEST_F(FleetTest, BadRegisterTtlStopsStartNamingTheRange) {
  Subprocess c({Env("FLEET_CHILD"), "recs"},
               {absl::StrCat("DEGRADE_ETCD_ENDPOINTS=", cluster_->endpoints_csv()),
                absl::StrCat("DEGRADE_ETCD_PREFIX=", prefix_), "DEGRADE_ETCD_REGISTER_TTL_S=0"});
  EXPECT_EQ(c.Finish(kPatience), 1);
  EXPECT_THAT(c.err(), HasSubstr("DEGRADE_ETCD_REGISTER_TTL_S: \"0\" is not valid"));
  EXPECT_THAT(c.err(), HasSubstr("from 1 to 3600"));
}

TEST_F(FleetTest, WatchIgnoresTheInstancesSubtree) {
  Registry registry;
  std::vector<std::string> logs;
  std::mutex mu;
  registry.SetLogSink([&](LogLevel, std::string_view m) {
    std::lock_guard<std::mutex> lock(mu);
    logs.emplace_back(m);
  });
  ASSERT_TRUE(registry.Define(SwitchSpec{.name = "recs", .description = "d"}).ok());
  Options o;
  o.registry = &registry;
  o.etcd_endpoints = cluster_->endpoints();
  o.etcd_prefix = prefix_;
  o.etcd_register = false;
  auto rt = Runtime::Start(o);
  ASSERT_TRUE(rt.ok()) << rt.status();
  Put("instances/other", R"({"id": "other"})");
  Put("switches/recs", R"("off")");
  ASSERT_TRUE(test_util::Eventually([&] { return !registry.Find("recs")->enabled(); }));
  std::lock_guard<std::mutex> lock(mu);
  for (const std::string& l : logs) EXPECT_THAT(l, Not(HasSubstr("instances/")));
}

// ------------------------------------------------------------ status

TEST_F(FleetTest, StatusExitsZeroWhenEveryInstanceAgrees) {
  const int64_t rev = Put("switches/recs", R"("off")");
  StartChild("a", {"recs"});
  StartChild("b", {"recs"});
  ASSERT_TRUE(Reports("a", rev) && Reports("b", rev));
  const Output o = Ctl({"status"});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_THAT(o.out, HasSubstr("2 instances registered; 2 applied the latest change"));
  EXPECT_THAT(o.out, HasSubstr("every instance agrees with etcd"));
}

TEST_F(FleetTest, StatusNamesAnInstancePinnedByItsEnvironment) {
  StartChild("a", {"recs"});
  StartChild("b", {"recs"});
  StartChild("pinned", {"recs"}, {"DEGRADE_RECS=off"});
  for (const char* id : {"a", "b", "pinned"}) ASSERT_TRUE(Reports(id, 1));
  const Output o = Ctl({"status", "--json"});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  const json j = json::parse(o.out, nullptr, false);
  ASSERT_EQ(j["disagreements"].size(), 1u) << o.out;
  EXPECT_EQ(j["disagreements"][0]["switch"], "recs");
  ASSERT_EQ(j["disagreements"][0]["instances"].size(), 1u);
  const json& row = j["disagreements"][0]["instances"][0];
  EXPECT_EQ(row["id"], "pinned");
  EXPECT_EQ(row["layer"], "env");
  EXPECT_THAT(row["why"].get<std::string>(), HasSubstr("decided by its env layer"));
}

TEST_F(FleetTest, StatusNamesAnInstanceWhoseAdminLayerOverridesEtcd) {
  test_util::BoundSocket s = test_util::BindLoopback(0);
  ASSERT_GE(s.fd, 0);
  const int port = s.port;
  close(s.fd);  // free again for the child's admin endpoint
  const std::string token = "0123456789abcdef0123";
  StartChild("a", {"recs"});
  StartChild("b", {"recs"},
             {absl::StrCat("DEGRADE_ADMIN_ADDR=127.0.0.1:", port),
              absl::StrCat("DEGRADE_ADMIN_TOKEN=", token)});
  Subprocess admin({Env("DEGRADECTL"), "--admin", absl::StrCat("http://127.0.0.1:", port), "on",
                    "recs"},
                   {"PATH=/usr/bin:/bin", "HOME=/tmp", absl::StrCat("DEGRADE_ADMIN_TOKEN=", token)});
  ASSERT_EQ(admin.Finish(kPatience), 0) << admin.err();
  const int64_t rev = Put("switches/recs", R"("off")");
  ASSERT_TRUE(Reports("a", rev) && Reports("b", rev));
  ASSERT_TRUE(test_util::Eventually(
      [&] { return (*Registration("b"))["switches"]["recs"]["layer"] == "admin"; }));
  const Output o = Ctl({"status", "recs"});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  EXPECT_THAT(o.out, HasSubstr("b: on (admin): decided by its admin layer, above etcd"));
}

TEST_F(FleetTest, StatusNamesAStoppedInstanceAsStale) {
  StartChild("a", {"recs"});
  Subprocess* frozen = StartChild("frozen", {"recs"});
  ASSERT_TRUE(Reports("a", 1) && Reports("frozen", 1));
  frozen->Signal(SIGSTOP);  // its watch and its registration stop
  const int64_t rev = Put("switches/recs", R"("off")");
  ASSERT_TRUE(Reports("a", rev));
  const Output o = Ctl({"status"});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  EXPECT_THAT(o.out, HasSubstr("1 applied the latest change (revision " + std::to_string(rev)));
  EXPECT_THAT(o.out, HasSubstr("stale: applied revision"));
  EXPECT_THAT(o.out, HasSubstr("frozen: on (default): stale"));
}

TEST_F(FleetTest, StatusNamesAnInstanceThatLacksTheSwitch) {
  StartChild("new", {"recs"});
  StartChild("old", {"search"});
  const int64_t rev = Put("switches/recs", R"("off")");
  ASSERT_TRUE(Reports("new", rev) && Reports("old", rev));
  const Output o = Ctl({"status"});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  EXPECT_THAT(o.out, HasSubstr("old: -: the switch is not defined there (version"));
}

TEST_F(FleetTest, StatusWithNoInstanceExitsOne) {
  const Output o = Ctl({"status"});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  EXPECT_THAT(o.out, HasSubstr("no instance is registered under " + prefix_ + "instances/"));
}

// ------------------------------------------------------------ console

TEST_F(FleetTest, FleetRouteServesTheFleetView) {
  test_util::BoundSocket s = test_util::BindLoopback(0);
  ASSERT_GE(s.fd, 0);
  const int port = s.port;
  close(s.fd);
  StartChild("a", {"recs"});
  StartChild("pinned", {"recs"}, {absl::StrCat("DEGRADE_ADMIN_ADDR=127.0.0.1:", port),
                                  "DEGRADE_RECS=off"});
  ASSERT_TRUE(Reports("a", 1) && Reports("pinned", 1));
  httplib::Client http("127.0.0.1", port);
  auto res = http.Get("/degrade/v1/fleet");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  const json j = json::parse(res->body, nullptr, false);
  EXPECT_EQ(j["registered"], 2);
  EXPECT_EQ(j["agree"], false);
  ASSERT_EQ(j["disagreements"].size(), 1u) << res->body;
  EXPECT_EQ(j["disagreements"][0]["instances"][0]["id"], "pinned");
}

TEST_F(FleetTest, FleetRouteIs404WithoutEtcd) {
  Registry registry;
  Options o;
  o.registry = &registry;
  o.admin_addr = "127.0.0.1:0";
  auto rt = Runtime::Start(o);
  ASSERT_TRUE(rt.ok()) << rt.status();
  httplib::Client http("127.0.0.1", (*rt)->admin_port());
  auto res = http.Get("/degrade/v1/fleet");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 404);
  EXPECT_THAT(res->body, HasSubstr("no etcd configured"));
}

// ------------------------------------------------------------ writes

TEST_F(FleetTest, WaitReturnsOnceEveryInstanceAppliedTheWrite) {
  StartChild("a", {"recs"});
  StartChild("b", {"recs"});
  ASSERT_TRUE(Reports("a", 1) && Reports("b", 1));
  const Output o = Ctl({"off", "recs", "--wait=5s"});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  EXPECT_THAT(o.out, HasSubstr("fleet: 2 of 2 instances applied revision"));
  EXPECT_THAT(o.out, HasSubstr("p50 "));
  EXPECT_EQ((*Registration("a"))["switches"]["recs"]["state"], "off");
}

TEST_F(FleetTest, WaitTimesOutNamingTheInstanceThatDidNotConfirm) {
  StartChild("a", {"recs"});
  Subprocess* frozen = StartChild("frozen", {"recs"});
  ASSERT_TRUE(Reports("a", 1) && Reports("frozen", 1));
  frozen->Signal(SIGSTOP);
  const Output o = Ctl({"off", "recs", "--wait=500ms", "--json"});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  const json j = json::parse(o.out, nullptr, false);
  ASSERT_TRUE(j.contains("wait")) << o.out;
  EXPECT_EQ(j["wait"]["confirmed"], 1);
  EXPECT_EQ(j["wait"]["not_confirmed"], json::array({"frozen"}));
  EXPECT_EQ(j["wait"]["ok"], false);
}

TEST_F(FleetTest, WriteForASwitchNoInstanceDefinesIsRefused) {
  StartChild("a", {"recommendations"});
  ASSERT_TRUE(Reports("a", 1));
  const Output o = Ctl({"off", "recomendations"});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  EXPECT_THAT(o.err, HasSubstr("no registered instance defines the switch \"recomendations\""));
  EXPECT_THAT(o.err, HasSubstr("did you mean \"recommendations\"?"));
  EXPECT_THAT(o.err, HasSubstr("--force"));
  auto r = client_->Range(prefix_ + "switches/recomendations", "");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->kvs.empty());  // nothing was written
}

TEST_F(FleetTest, ForceWritesASwitchNoInstanceDefines) {
  StartChild("a", {"recommendations"});
  ASSERT_TRUE(Reports("a", 1));
  const Output o = Ctl({"off", "upcoming", "--force"});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  auto r = client_->Range(prefix_ + "switches/upcoming", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kvs.size(), 1u);
}

TEST_F(FleetTest, FleetOptionsAreUsageErrorsWithoutEtcd) {
  Subprocess p({Env("DEGRADECTL"), "--admin", "http://127.0.0.1:1", "off", "recs", "--wait"},
               {"PATH=/usr/bin:/bin", "HOME=/tmp", "DEGRADE_ADMIN_TOKEN=0123456789abcdef0123"});
  EXPECT_EQ(p.Finish(kPatience), 2);
  EXPECT_THAT(p.err(), HasSubstr("--wait applies to writes through etcd (--etcd)"));
}

TEST_F(FleetTest, StatusWithoutEtcdIsAUsageError) {
  Subprocess p({Env("DEGRADECTL"), "--admin", "http://127.0.0.1:1", "status"},
               {"PATH=/usr/bin:/bin", "HOME=/tmp"});
  EXPECT_EQ(p.Finish(kPatience), 2);
  EXPECT_THAT(p.err(), HasSubstr("status reads etcd: pass --etcd ENDPOINTS --prefix P"));
}

TEST_F(FleetTest, BadWaitDurationIsAUsageError) {
  const Output o = Ctl({"off", "recs", "--wait=soon"});
  EXPECT_EQ(o.exit_code, 2) << o.out << o.err;
  EXPECT_THAT(o.err, HasSubstr("--wait \"soon\" is not valid; accepted: a duration like 250ms"));
}

// ------------------------------------------------------------ history

TEST_F(FleetTest, HistoryShowsChangesAfterTheCompactionPoint) {
  Put("switches/recs", R"({"state": "off", "actor": "early"})");
  const int64_t before = Put("switches/search", R"("off")");
  ASSERT_TRUE(client_->Compact(before).ok());
  ASSERT_EQ(Ctl({"on", "recs", "--force", "--reason", "INC-1"}).exit_code, 0);
  ASSERT_EQ(Ctl({"allow", "recs", "25%", "--force"}).exit_code, 0);
  const Output o = Ctl({"history", "--json"});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  const json j = json::parse(o.out, nullptr, false);
  EXPECT_EQ(j["compacted_before"], before);
  ASSERT_EQ(j["changes"].size(), 2u) << o.out;
  EXPECT_EQ(j["changes"][0]["old"]["actor"], "early");  // the value in force at the cut
  EXPECT_EQ(j["changes"][0]["new"]["state"], "on");
  EXPECT_EQ(j["changes"][0]["reason"], "INC-1");
  EXPECT_EQ(j["changes"][0]["actor"], "ana");
  EXPECT_TRUE(j["changes"][0]["time"].is_string());
  EXPECT_EQ(j["changes"][1]["new"]["allow"], 0.25);
  const Output text = Ctl({"history", "recs"});
  EXPECT_THAT(text.out, HasSubstr("history cut at revision " + std::to_string(before)));
}

// ------------------------------------------------------------ three members

TEST(FleetClusterTest, WaitConfirmsInstancesWatchingDifferentMembers) {
  testing::EtcdCluster::Options options;
  options.members = 3;
  auto cluster = testing::EtcdCluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string prefix = "/degrade/cluster/";
  std::vector<std::unique_ptr<Subprocess>> children;
  for (int i = 0; i < 2; ++i) {
    children.push_back(std::make_unique<Subprocess>(
        std::vector<std::string>{Env("FLEET_CHILD"), "recs"},
        std::vector<std::string>{absl::StrCat("DEGRADE_ETCD_ENDPOINTS=", (*cluster)->endpoint(i)),
                                 absl::StrCat("DEGRADE_ETCD_PREFIX=", prefix),
                                 absl::StrCat("DEGRADE_INSTANCE_ID=m", i)}));
    ASSERT_TRUE(children.back()->WaitForStdout("ready", kPatience)) << children.back()->err();
  }
  EtcdClient::Config config;
  config.endpoints = {(*cluster)->endpoint(2)};
  EtcdClient client(config);
  ASSERT_TRUE(test_util::Eventually(
      [&] {
        auto r = client.Range(prefix + "instances/", internal::EtcdPrefixEnd(prefix + "instances/"));
        return r.ok() && r->kvs.size() == 2;
      },
      std::chrono::milliseconds(10000)));
  Subprocess ctl({Env("DEGRADECTL"), "--etcd", (*cluster)->endpoint(2), "--prefix", prefix, "off",
                  "recs", "--wait=5s"},
                 {"PATH=/usr/bin:/bin", "HOME=/tmp", "USER=ana"});
  EXPECT_EQ(ctl.Finish(kPatience), 0) << ctl.out() << ctl.err();
  EXPECT_THAT(ctl.out(), HasSubstr("fleet: 2 of 2 instances applied revision"));
  for (auto& c : children) {
    c->Signal(SIGTERM);
    EXPECT_EQ(c->Finish(kPatience), 0);
  }
}

}  // namespace
}  // namespace degrade
