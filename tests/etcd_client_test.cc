// The etcd gateway client against real etcd processes on loopback.
#include "etcd/etcd_client.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "etcd_fixture.h"
#include "etcd/etcd_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "test_net.h"
#include "test_wait.h"

namespace degrade::internal {
namespace {

using ::degrade::testing::EtcdCluster;
// A dead endpoint: a port that refuses connections while the test runs.
using ::degrade::test_util::RefusingPort;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<EtcdCluster> StartOrDie(EtcdCluster::Options options = {}) {
  auto c = EtcdCluster::Start(std::move(options));
  if (!c.ok()) {
    ADD_FAILURE() << c.status();
    return nullptr;
  }
  return *std::move(c);
}

EtcdClient::WatchOptions WatchOf(std::string key, std::string range_end = "",
                                 int64_t start_revision = 0) {
  EtcdClient::WatchOptions o;
  o.key = std::move(key);
  o.range_end = std::move(range_end);
  o.start_revision = start_revision;
  return o;
}

EtcdCluster::Options Members(int n, std::vector<std::string> flags = {}) {
  EtcdCluster::Options o;
  o.members = n;
  o.extra_flags = std::move(flags);
  return o;
}

EtcdClient::Config ConfigFor(const std::vector<std::string>& endpoints) {
  EtcdClient::Config config;
  config.endpoints = endpoints;
  // Not the default 2 s: no test here is about a slow member, and a busy
  // machine can hold up an etcd write (a WAL fsync, a leader election after
  // a Kill) for longer than that. Refused connections still fail at once.
  config.timeout = absl::Seconds(10);
  return config;
}

// Runs a watch on its own thread, collecting every message.
class WatchThread {
 public:
  WatchThread(EtcdClient& client, EtcdClient::WatchOptions options) : client_(client) {
    thread_ = std::thread([this, options] {
      absl::Status s = client_.Watch(options, [this](EtcdWatchMessage&& m) {
        std::lock_guard<std::mutex> lock(mu_);
        messages_.push_back(std::move(m));
        return true;
      });
      std::lock_guard<std::mutex> lock(mu_);
      result_ = s;
      done_ = true;
    });
  }
  ~WatchThread() {
    client_.Stop();
    thread_.join();
  }
  // Waits until `pred(messages)` holds; false after `timeout`.
  template <typename Pred>
  bool WaitFor(Pred pred, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (pred(messages_)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  std::vector<EtcdWatchMessage> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  bool done() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  absl::Status result() {
    std::lock_guard<std::mutex> lock(mu_);
    return result_;
  }

 private:
  EtcdClient& client_;
  std::mutex mu_;
  std::vector<EtcdWatchMessage> messages_;
  absl::Status result_;
  bool done_ = false;
  std::thread thread_;
};

size_t EventCount(const std::vector<EtcdWatchMessage>& ms) {
  size_t n = 0;
  for (const auto& m : ms) n += m.events.size();
  return n;
}

// A gateway stand-in on loopback answering every POST with `body`: real etcd
// never sends a duplicate key, a proxy or an impostor in front of it might.
class FakeGateway {
 public:
  explicit FakeGateway(std::string body) : body_(std::move(body)) {
    server_.Post(".*", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(body_, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (port_ > 0 && !server_.is_running()) std::this_thread::yield();
  }
  ~FakeGateway() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const { return absl::StrCat("http://127.0.0.1:", port_); }

 private:
  const std::string body_;
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
};

TEST(EtcdClientGatewayTest, RangeReplyWithADuplicateKeyIsRefusedByItsPath) {
  // kvs[0] holds "value" twice: "on", then "off".
  FakeGateway gateway(R"({"header":{"revision":"5"},"kvs":[{"key":"L3Avc3dpdGNoZXMvYQ==",)"
                      R"("value":"Im9uIg==","value":"Im9mZiI=","mod_revision":"5"}],"count":"1"})");
  EtcdClient client(ConfigFor({gateway.endpoint()}));
  auto range = client.RangePrefix("/p/");
  EXPECT_EQ(range.status().code(), absl::StatusCode::kDataLoss) << range.status();
  EXPECT_THAT(std::string(range.status().message()),
              HasSubstr(R"(: unexpected reply: kvs[0]: duplicate key "value"; each key may )"
                        R"(appear once)"));
}

TEST(EtcdClientGatewayTest, PutReplyWithADuplicateHeaderIsRefused) {
  FakeGateway gateway(R"({"header":{"revision":"5"},"header":{"revision":"6"}})");
  EtcdClient client(ConfigFor({gateway.endpoint()}));
  auto put = client.Put("/p/switches/a", R"("off")");
  EXPECT_EQ(put.status().code(), absl::StatusCode::kDataLoss) << put.status();
  EXPECT_THAT(std::string(put.status().message()),
              HasSubstr(R"(: unexpected reply: duplicate key "header"; each key may appear once)"));
}

TEST(EtcdClientValidateTest, RejectsBadConfigsByName) {
  auto check = [](EtcdClient::Config c, const char* expected) {
    absl::Status s = EtcdClient::Validate(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << expected;
    EXPECT_THAT(std::string(s.message()), HasSubstr(expected));
  };
  check(ConfigFor({}), "etcd_endpoints is empty");
  check(ConfigFor({"127.0.0.1:2379"}), "is not an http:// or https:// URL");
  check(ConfigFor({"http://127.0.0.1:2379/v3"}), "has a path (/v3)");
  check(ConfigFor({"http://u@127.0.0.1:2379"}), "user info");
  EtcdClient::Config c = ConfigFor({"http://127.0.0.1:2379"});
  c.password = "x";
  check(c, "etcd_password is set without etcd_user");
  c = ConfigFor({"http://127.0.0.1:2379"});
  c.timeout = absl::ZeroDuration();
  check(c, "etcd timeout 0 is not positive");
  c = ConfigFor({"http://127.0.0.1:2379"});
  c.watch_idle_timeout = -absl::Seconds(1);
  check(c, "watch_idle_timeout -1s is not positive");
  EXPECT_TRUE(EtcdClient::Validate(ConfigFor({"http://127.0.0.1:2379/", "https://h:1"})).ok());
}

TEST(EtcdClientTest, PutRangeDelete) {
  auto cluster = StartOrDie();
  ASSERT_NE(cluster, nullptr);
  EtcdClient client(ConfigFor(cluster->endpoints()));
  absl::StatusOr<int64_t> r1 = client.Put("/p/switches/a", "\"off\"");
  ASSERT_TRUE(r1.ok()) << r1.status();
  absl::StatusOr<int64_t> r2 = client.Put("/p/all", "");
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_GT(*r2, *r1);
  ASSERT_TRUE(client.Put("/other", "x").ok());

  auto range = client.RangePrefix("/p/");
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_EQ(range->revision, *r2 + 1);
  ASSERT_EQ(range->kvs.size(), 2u);
  EXPECT_EQ(range->kvs[0].key, "/p/all");
  EXPECT_EQ(range->kvs[0].value, "");
  EXPECT_EQ(range->kvs[0].mod_revision, *r2);
  EXPECT_EQ(range->kvs[1].key, "/p/switches/a");
  EXPECT_EQ(range->kvs[1].value, "\"off\"");

  auto del = client.Delete("/p/all");
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(del->deleted, 1);
  auto none = client.Delete("/p/none");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->deleted, 0);
  auto all = client.DeletePrefix("/p/");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->deleted, 1);
  auto empty = client.RangePrefix("/p/");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->kvs.empty());
}

TEST(EtcdClientTest, PutIfModRevisionLosesNoConcurrentWrite) {
  auto cluster = StartOrDie();
  ASSERT_NE(cluster, nullptr);
  EtcdClient client(ConfigFor(cluster->endpoints()));
  auto created = client.PutIfModRevision("/k", "1", 0);  // absent
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->succeeded);
  auto stale = client.PutIfModRevision("/k", "2", 0);
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(stale->succeeded);
  auto updated = client.PutIfModRevision("/k", "3", created->revision);
  ASSERT_TRUE(updated.ok());
  EXPECT_TRUE(updated->succeeded);
  auto got = client.Range("/k", "");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "3");
}

TEST(EtcdClientTest, FailsOverToTheNextEndpoint) {
  auto cluster = StartOrDie();
  ASSERT_NE(cluster, nullptr);
  RefusingPort dead;
  EtcdClient client(ConfigFor({dead.Url(), cluster->endpoint(0)}));
  ASSERT_TRUE(client.Put("/k", "v").ok());
  // The endpoint that answered is where the next request starts.
  EXPECT_EQ(client.current_endpoint(), cluster->endpoint(0));
}

TEST(EtcdClientTest, EveryEndpointDownNamesEachEndpoint) {
  RefusingPort dead_a, dead_b;
  const std::string a = dead_a.Url(), b = dead_b.Url();
  EtcdClient client(ConfigFor({a, b}));
  auto r = client.Put("/k", "v");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("etcd: put /k: no endpoint answered"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(absl::StrCat("etcd ", a, ": put /k: cannot connect")));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(absl::StrCat("etcd ", b, ": put /k: cannot connect")));
}

TEST(EtcdClientTest, EtcdErrorKeepsItsCodeAndMessage) {
  auto cluster = StartOrDie();
  ASSERT_NE(cluster, nullptr);
  EtcdClient client(ConfigFor(cluster->endpoints()));
  ASSERT_TRUE(client.Put("/k", "v").ok());
  // Compacting twice to the same revision: etcd refuses the second.
  auto rev = client.Put("/k", "w");
  ASSERT_TRUE(rev.ok());
  ASSERT_TRUE(client.Compact(*rev).ok());
  absl::Status again = client.Compact(*rev);
  EXPECT_EQ(again.code(), absl::StatusCode::kOutOfRange) << again;
  EXPECT_THAT(std::string(again.message()),
              HasSubstr(absl::StrCat("etcd ", cluster->endpoint(0), ": compact to revision ")));
  EXPECT_THAT(std::string(again.message()), HasSubstr("required revision has been compacted"));
}

TEST(EtcdClientTest, WatchDeliversPutsAndDeletesInOrder) {
  auto cluster = StartOrDie();
  ASSERT_NE(cluster, nullptr);
  EtcdClient client(ConfigFor(cluster->endpoints()));
  EtcdClient writer(ConfigFor(cluster->endpoints()));
  auto start = writer.Put("/w/a", "0");
  ASSERT_TRUE(start.ok());
  WatchThread watch(client, WatchOf("/w/", EtcdPrefixEnd("/w/"), *start + 1));
  ASSERT_TRUE(watch.WaitFor([](const auto& ms) { return !ms.empty() && ms[0].created; }));
  ASSERT_TRUE(writer.Put("/w/a", "1").ok());
  ASSERT_TRUE(writer.Put("/x", "outside").ok());
  ASSERT_TRUE(writer.Delete("/w/a").ok());
  ASSERT_TRUE(watch.WaitFor([](const auto& ms) { return EventCount(ms) >= 2; }));
  std::vector<EtcdEvent> events;
  for (const auto& m : watch.messages()) {
    for (const auto& e : m.events) events.push_back(e);
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, EtcdEvent::Type::kPut);
  EXPECT_EQ(events[0].kv.value, "1");
  EXPECT_EQ(events[1].type, EtcdEvent::Type::kDelete);
  EXPECT_EQ(events[1].kv.key, "/w/a");
  EXPECT_GT(events[1].kv.mod_revision, events[0].kv.mod_revision);
}

TEST(EtcdClientTest, StopEndsAnIdleWatchPromptly) {
  auto cluster = StartOrDie();
  ASSERT_NE(cluster, nullptr);
  EtcdClient client(ConfigFor(cluster->endpoints()));
  std::atomic<bool> created{false};
  absl::Status result;
  std::thread t([&] {
    result = client.Watch(WatchOf("/idle"), [&](EtcdWatchMessage&& m) {
      if (m.created) created = true;
      return true;
    });
  });
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!created && absl::Now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(created);
  const absl::Time before = absl::Now();
  client.Stop();
  t.join();
  EXPECT_LT(absl::Now() - before, absl::Seconds(1));
  EXPECT_EQ(result.code(), absl::StatusCode::kCancelled) << result;
  EXPECT_EQ(client.Put("/k", "v").status().code(), absl::StatusCode::kCancelled);
}

TEST(EtcdClientTest, WatchBelowTheCompactionPointDeliversCompactRevision) {
  auto cluster = StartOrDie();
  ASSERT_NE(cluster, nullptr);
  EtcdClient client(ConfigFor(cluster->endpoints()));
  auto first = client.Put("/c/a", "1");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(client.Put("/c/a", "2").ok());
  auto last = client.Put("/c/a", "3");
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(client.Compact(*last).ok());
  std::vector<EtcdWatchMessage> got;
  absl::Status s = client.Watch(
      WatchOf("/c/", EtcdPrefixEnd("/c/"), *first),
      [&](EtcdWatchMessage&& m) {
        got.push_back(std::move(m));
        return true;
      });
  EXPECT_TRUE(s.ok()) << s;
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(got.back().canceled);
  EXPECT_EQ(got.back().compact_revision, *last);
}

TEST(EtcdClientTest, IdleWatchTimesOutWithANamedReason) {
  auto cluster = StartOrDie();
  ASSERT_NE(cluster, nullptr);
  EtcdClient::Config config = ConfigFor(cluster->endpoints());
  config.watch_idle_timeout = absl::Milliseconds(500);
  EtcdClient client(config);
  absl::Status s = client.Watch(WatchOf("/idle"), [](EtcdWatchMessage&&) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(s.message()), HasSubstr("nothing received for 500ms (watch_idle_timeout)"));
}

TEST(EtcdClientTest, ProgressNotificationsKeepAnIdleWatchOpen) {
  auto cluster = StartOrDie(Members(1, {"--experimental-watch-progress-notify-interval=200ms"}));
  ASSERT_NE(cluster, nullptr);
  EtcdClient::Config config = ConfigFor(cluster->endpoints());
  config.watch_idle_timeout = absl::Seconds(1);
  EtcdClient client(config);
  int progress = 0;
  absl::Status s = client.Watch(WatchOf("/idle"), [&](EtcdWatchMessage&& m) {
    if (!m.created && m.events.empty()) ++progress;
    return progress < 10;  // about 2 s: twice the idle timeout
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(progress, 10);
}

TEST(EtcdClientTest, WatchMovesToTheNextMemberWhenItsMemberDies) {
  auto cluster = StartOrDie(Members(3));
  ASSERT_NE(cluster, nullptr);
  EtcdClient client(ConfigFor(cluster->endpoints()));
  absl::Status s;
  std::atomic<bool> created{false};
  std::thread t([&] {
    s = client.Watch(WatchOf("/k"), [&](EtcdWatchMessage&& m) {
      if (m.created) created = true;
      return true;
    });
  });
  // The watch is open on member 0 (etcd answered and created it) before
  // member 0 dies. Killed before it answered, the watch would count member
  // 0 as not answering and open on member 1 instead (then idle there).
  if (!test_util::Eventually([&] { return created.load(); }, std::chrono::seconds(10))) {
    client.Stop();
    t.join();
    FAIL() << "the watch was not created within 10 s: " << s;
  }
  ASSERT_TRUE(cluster->Kill(0).ok());
  t.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(cluster->endpoint(0)));
  EXPECT_EQ(client.current_endpoint(), cluster->endpoint(1));
}

TEST(EtcdClientTest, DiscoverMembersAddsTheOtherMembers) {
  auto cluster = StartOrDie(Members(3));
  ASSERT_NE(cluster, nullptr);
  EtcdClient client(ConfigFor({cluster->endpoint(1)}));
  auto added = client.DiscoverMembers();
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 2u);
  std::vector<std::string> eps = client.endpoints();
  std::sort(eps.begin(), eps.end());
  std::vector<std::string> want = cluster->endpoints();
  std::sort(want.begin(), want.end());
  EXPECT_EQ(eps, want);
  // Now the configured member can go and requests still succeed.
  ASSERT_TRUE(cluster->Kill(1).ok());
  EXPECT_TRUE(client.Put("/k", "v").ok());
}

class EtcdClientAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = StartOrDie(Members(1, {"--auth-token-ttl=1"}));
    ASSERT_NE(cluster_, nullptr);
    ASSERT_TRUE(cluster_->EnableAuth("secret").ok());
  }
  EtcdClient::Config Config(std::string user, std::string password) {
    EtcdClient::Config c = ConfigFor(cluster_->endpoints());
    c.user = std::move(user);
    c.password = std::move(password);
    return c;
  }
  std::unique_ptr<EtcdCluster> cluster_;
};

TEST_F(EtcdClientAuthTest, UserAndPasswordGetAToken) {
  EtcdClient client(Config("root", "secret"));
  ASSERT_TRUE(client.Put("/a/k", "v").ok());
  auto r = client.RangePrefix("/a/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kvs.size(), 1u);
}

TEST_F(EtcdClientAuthTest, WrongPasswordIsNamed) {
  EtcdClient client(Config("root", "wrong"));
  auto r = client.Put("/a/k", "v");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("authenticate as root: etcdserver: authentication "
                                              "failed, invalid user ID or password"));
}

TEST_F(EtcdClientAuthTest, NoCredentialsIsNamed) {
  EtcdClient client(ConfigFor(cluster_->endpoints()));
  auto r = client.Put("/a/k", "v");
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("put /a/k: etcdserver: user name is empty"));
}

TEST_F(EtcdClientAuthTest, ExpiredTokenIsRenewed) {
  EtcdClient client(Config("root", "secret"));
  ASSERT_TRUE(client.Put("/a/k", "1").ok());
  // --auth-token-ttl=1: an unused simple token is dropped after about 1 s.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto r = client.Put("/a/k", "2");
  EXPECT_TRUE(r.ok()) << r.status();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  std::vector<EtcdWatchMessage> got;
  absl::Status s = client.Watch(WatchOf("/a/k", "", *r),
                                [&](EtcdWatchMessage&& m) {
                                  got.push_back(std::move(m));
                                  return got.size() < 2;  // created, then the put
                                });
  EXPECT_TRUE(s.ok()) << s;
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[1].events.size(), 1u);
  EXPECT_EQ(got[1].events[0].kv.value, "2");
}

}  // namespace
}  // namespace degrade::internal
