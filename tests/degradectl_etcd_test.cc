// degradectl --etcd against real etcd processes on loopback
// (tests/etcd_fixture.h), run as a subprocess ($DEGRADECTL, set by meson):
// what reaches etcd is read back with the library's etcd client, and the
// round trip ends in a Runtime whose etcd source must see the change.
//
// Most tests share one single-member etcd (started once for the suite),
// each under its own prefix; the ones that stop etcd or turn on
// authentication start their own.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "degrade/degrade.h"
#include "etcd/etcd_client.h"
#include "etcd_fixture.h"
#include "etcd_suite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "subprocess.h"

namespace degrade::ctl {
namespace {

using internal::EtcdClient;
using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing_util::Subprocess;

constexpr absl::Duration kPatience = absl::Seconds(20);

std::string Degradectl() {
  const char* path = std::getenv("DEGRADECTL");
  return path == nullptr ? std::string() : std::string(path);
}

struct Output {
  int exit_code = -1;
  std::string out, err;
};

// Starts degradectl with `args` and exactly `env` (plus PATH and HOME).
std::unique_ptr<Subprocess> StartCtl(std::vector<std::string> args,
                                     std::vector<std::string> env = {}) {
  if (Degradectl().empty()) {
    ADD_FAILURE() << "DEGRADECTL is not set (meson sets it to the built degradectl)";
    return nullptr;
  }
  args.insert(args.begin(), Degradectl());
  env.insert(env.end(), {"PATH=/usr/bin:/bin", "HOME=/tmp"});
  auto p = std::make_unique<Subprocess>(std::move(args), std::move(env));
  EXPECT_TRUE(p->started()) << p->error();
  return p;
}

Output RunCtl(std::vector<std::string> args, std::vector<std::string> env = {}) {
  Output o;
  std::unique_ptr<Subprocess> p = StartCtl(std::move(args), std::move(env));
  if (p == nullptr) return o;
  o.exit_code = p->Finish(kPatience);
  o.out = p->out();
  o.err = p->err();
  return o;
}

std::unique_ptr<EtcdClient> ClientFor(const std::vector<std::string>& endpoints,
                                      const std::string& user = "",
                                      const std::string& password = "") {
  EtcdClient::Config config;
  config.endpoints = endpoints;
  config.user = user;
  config.password = password;
  return std::make_unique<EtcdClient>(config);
}

// The shared etcd, a client for it and this test's prefix (etcd_suite.h).
class EtcdCtlTest : public test_util::SharedEtcdTest {
 protected:
  // degradectl --etcd <shared> --prefix <this test's> args...
  Output Ctl(std::vector<std::string> args, std::vector<std::string> env = {"USER=ana"}) {
    std::vector<std::string> all = EtcdArgs();
    all.insert(all.end(), args.begin(), args.end());
    return RunCtl(std::move(all), std::move(env));
  }
};

// Seconds from now to an RFC 3339 time.
double SecondsUntil(const json& rfc3339) {
  absl::Time t;
  std::string err;
  if (!rfc3339.is_string() ||
      !absl::ParseTime(absl::RFC3339_full, rfc3339.get<std::string>(), &t, &err)) {
    ADD_FAILURE() << "not an RFC 3339 time: " << rfc3339.dump();
    return -1;
  }
  return absl::ToDoubleSeconds(t - absl::Now());
}

// ------------------------------------------------------------------ writes

TEST_F(EtcdCtlTest, OffPutsStateReasonActorAndAnAbsoluteExpiry) {
  Output r = Ctl({"off", "recommendations", "--reason", "INC-42 vendor 5xx", "--ttl", "15m"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("recommendations: off (etcd " + prefix_ +
                                     "switches/recommendations rev "),
                           HasSubstr("reason \"INC-42 vendor 5xx\""), HasSubstr("expires in 15m")));
  std::optional<json> v = Value("switches/recommendations");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ((*v)["state"], "off");
  EXPECT_EQ((*v)["reason"], "INC-42 vendor 5xx");
  EXPECT_EQ((*v)["actor"], "ana");
  EXPECT_FALSE(v->contains("ttl_s")) << "a relative TTL would restart on every re-read";
  const double left = SecondsUntil((*v)["expires_at"]);
  EXPECT_GT(left, 15 * 60 - 60);
  EXPECT_LE(left, 15 * 60 + 1);
}

TEST_F(EtcdCtlTest, PrefixIsNormalisedToOneSlash) {
  const std::string bare = prefix_.substr(0, prefix_.size() - 1);
  Output r = RunCtl({"--etcd", cluster_->endpoints_csv(), "--prefix", bare + "//", "on", "recs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::optional<json> v = Value("switches/recs");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ((*v)["state"], "on");
}

TEST_F(EtcdCtlTest, PrefixComesFromTheEnvironmentToo) {
  Output r = RunCtl({"--etcd", cluster_->endpoints_csv(), "off", "recs"},
                    {"DEGRADE_ETCD_PREFIX=" + prefix_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Value("switches/recs").has_value());
}

TEST_F(EtcdCtlTest, EtcdWithoutValueReadsDegradeEtcdEndpoints) {
  Output r = RunCtl({"--etcd", "--prefix", prefix_, "off", "recs"},
                    {"DEGRADE_ETCD_ENDPOINTS=" + cluster_->endpoints_csv()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Value("switches/recs").has_value());
}

TEST_F(EtcdCtlTest, EnvironmentAloneChoosesEtcd) {
  Output r = RunCtl({"off", "recs"}, {"DEGRADE_ETCD_ENDPOINTS=" + cluster_->endpoints_csv(),
                                      "DEGRADE_ETCD_PREFIX=" + prefix_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Value("switches/recs").has_value());
}

TEST_F(EtcdCtlTest, HostPortEndpointMeansHttp) {
  const std::string host_port = cluster_->endpoints().front().substr(std::strlen("http://"));
  Output r = RunCtl({"--etcd", host_port, "--prefix", prefix_, "off", "recs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Value("switches/recs").has_value());
}

TEST_F(EtcdCtlTest, AllowPutsAFraction) {
  ASSERT_EQ(Ctl({"allow", "search.suggest", "25%"}).exit_code, 0);
  std::optional<json> v = Value("switches/search.suggest");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ((*v)["state"], "on");
  EXPECT_DOUBLE_EQ((*v)["allow"].get<double>(), 0.25);
  EXPECT_FALSE(v->contains("expires_at"));
}

TEST_F(EtcdCtlTest, FaultGetsTheDefaultTtlAsExpiry) {
  Output r = Ctl({"fault", "reviews", "delay", "--delay-ms", "800", "--rate", "10%"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::optional<json> v = Value("switches/reviews");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ((*v)["fault"], (json{{"kind", "delay"}, {"rate", 0.1}, {"delay_ms", 800}}));
  EXPECT_FALSE(v->contains("state"));
  const double left = SecondsUntil((*v)["expires_at"]);
  EXPECT_GT(left, 10 * 60 - 60);
  EXPECT_LE(left, 10 * 60 + 1);
}

TEST_F(EtcdCtlTest, FaultTtlOverTheMaximumIsUsageErrorAndWritesNothing) {
  Output r = Ctl({"fault", "reviews", "error", "--ttl", "25h"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("too long for a fault"));
  EXPECT_FALSE(Value("switches/reviews").has_value());
}

TEST_F(EtcdCtlTest, ClearDeletesTheKey) {
  Put("switches/recs", R"("off")");
  Output r = Ctl({"clear", "recs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("recs: key deleted (etcd " + prefix_ + "switches/recs rev "));
  EXPECT_FALSE(Value("switches/recs").has_value());
  Output again = Ctl({"clear", "recs"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_THAT(again.out, HasSubstr("recs: no key to delete"));
}

TEST_F(EtcdCtlTest, WriteJsonIsTheEntryAsWritten) {
  Output r = Ctl({"--json", "off", "recs", "--reason", "x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["key"], prefix_ + "switches/recs");
  EXPECT_EQ(j["state"], "off");
  EXPECT_EQ(j["value"]["reason"], "x");
  EXPECT_GT(j["mod_revision"].get<int64_t>(), 0);
  EXPECT_EQ(j["etcd"]["prefix"], prefix_);
}

// ------------------------------------------------------------------- reads

TEST_F(EtcdCtlTest, ListShowsEveryKeyAndSaysItIsNotAnInstancesState) {
  Put("switches/recs", R"({"state": "off", "reason": "INC-7", "actor": "bo"})");
  Put("groups/tier2", R"({"allow": 0.5})");
  Put("all", R"("on")");
  Output r = Ctl({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("prefix " + prefix_), HasSubstr("switches/recs"),
                           HasSubstr("INC-7"), HasSubstr("groups/tier2"), HasSubstr("on 50%"),
                           HasSubstr("all "),
                           HasSubstr("an instance's effective state also depends on its other "
                                     "layers")));
}

TEST_F(EtcdCtlTest, ListJsonHasSwitchesGroupsAndAll) {
  Put("switches/recs", R"("off")");
  Put("groups/tier2", R"("off")");
  Output r = Ctl({"--json", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  ASSERT_EQ(j["switches"].size(), 1u);
  EXPECT_EQ(j["switches"][0]["name"], "recs");
  EXPECT_EQ(j["switches"][0]["state"], "off");
  EXPECT_EQ(j["groups"][0]["name"], "tier2");
  EXPECT_TRUE(j["all"].is_null());
  EXPECT_THAT(j["errors"], IsEmpty());
  EXPECT_EQ(j["etcd"]["endpoints"], json(cluster_->endpoints()));
}

TEST_F(EtcdCtlTest, ListNamesValuesInstancesRejectAndForeignKeys) {
  Put("switches/recs", R"({"allow": 2})");
  Put("switches/Bad Name", R"("off")");
  Put("notes", "hello");
  Output r = Ctl({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("INVALID"), HasSubstr("switches.recs.allow: 2 is not in"),
                           HasSubstr("switch name \"Bad Name\""),
                           HasSubstr(prefix_ + "notes: not a degrade key")));
}

TEST_F(EtcdCtlTest, ListJsonShowsTheFlagdKeyAsNoError) {
  Put("flagd", R"({"flags": {}})");
  Output r = Ctl({"--json", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_THAT(j["errors"], IsEmpty());
  EXPECT_EQ(j["flagd"]["key"], prefix_ + "flagd");
  EXPECT_EQ(j["flagd"]["bytes"], 13);
}

TEST_F(EtcdCtlTest, GetShowsTheStoredValue) {
  Put("switches/recs", R"({"state": "off", "reason": "INC-9", "actor": "cy"})");
  Output r = Ctl({"get", "recs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr(prefix_ + "switches/recs"),
                           HasSubstr("off, reason \"INC-9\", by cy"), HasSubstr("revision")));
}

TEST_F(EtcdCtlTest, GetOfAbsentKeySaysInstancesDecideElsewhere) {
  Output r = Ctl({"get", "recs"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("(no key: instances decide from their other layers"));
}

// ------------------------------------------------------------------ errors

TEST(DegradectlEtcdErrorTest, UnreachableEtcdNamesEveryEndpointTried) {
  // Port 1 on two loopback addresses: privileged, so no test process can be
  // listening there (a port freed by a stopped etcd could be taken again by
  // another test's etcd meanwhile).
  const std::string endpoints = "http://127.0.0.1:1,http://127.0.0.2:1";
  Output r = RunCtl({"--etcd", endpoints, "--prefix", "/degrade/x", "off", "recs"});
  EXPECT_EQ(r.exit_code, 1);
  for (absl::string_view e : absl::StrSplit(endpoints, ',')) {
    EXPECT_THAT(r.err, HasSubstr(std::string(e)));
  }
  EXPECT_THAT(r.err, AllOf(HasSubstr("cannot write /degrade/x/switches/recs in etcd"),
                           HasSubstr("is etcd running at")));
}

TEST(DegradectlEtcdErrorTest, AdminAndEtcdTogetherIsUsageError) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "--etcd", "http://127.0.0.1:2", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--admin and --etcd both given"));
}

TEST(DegradectlEtcdErrorTest, PrefixWithoutEtcdIsUsageError) {
  Output r = RunCtl({"--prefix", "/degrade/x", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--prefix applies to etcd only"));
}

TEST(DegradectlEtcdErrorTest, MissingPrefixIsUsageError) {
  Output r = RunCtl({"--etcd", "http://127.0.0.1:2", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("no etcd prefix given"), HasSubstr("DEGRADE_ETCD_PREFIX")));
}

TEST(DegradectlEtcdErrorTest, SlashOnlyPrefixIsUsageError) {
  Output r = RunCtl({"--etcd", "http://127.0.0.1:2", "--prefix", "//", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--prefix \"//\" is not a key prefix"));
}

TEST(DegradectlEtcdErrorTest, BadEndpointIsUsageError) {
  Output r = RunCtl({"--etcd", "ftp://127.0.0.1:2", "--prefix", "/p", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("--etcd"), HasSubstr("ftp://127.0.0.1:2")));
}

TEST(DegradectlEtcdErrorTest, EndpointWithPathIsUsageErrorSayingEndpointsHaveNone) {
  Output r = RunCtl({"--etcd", "http://127.0.0.1:2/v3", "--prefix", "/p", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("has a path"), HasSubstr("no path"),
                           Not(HasSubstr("host[:port]/path"))));
}

TEST(DegradectlEtcdErrorTest, BadEndpointFromTheEnvironmentNamesTheVariable) {
  Output r = RunCtl({"--etcd", "--prefix", "/p", "list"}, {"DEGRADE_ETCD_ENDPOINTS=etcd-1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("DEGRADE_ETCD_ENDPOINTS \"etcd-1\""));
}

TEST(DegradectlEtcdErrorTest, PasswordWithoutUserIsUsageError) {
  Output r = RunCtl({"--etcd", "http://127.0.0.1:2", "--prefix", "/p", "list"},
                    {"DEGRADE_ETCD_PASSWORD=pw"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("no etcd user"));
}

TEST(DegradectlEtcdAuthTest, UserAndPasswordFromEnvironmentWorkAndWrongPasswordFails) {
  auto cluster = testing::EtcdCluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->EnableAuth("s3cret").ok());
  const std::vector<std::string> base = {"--etcd", (*cluster)->endpoints_csv(), "--prefix",
                                         "/degrade/auth", "--etcd-user", "root"};
  std::vector<std::string> args = base;
  args.insert(args.end(), {"off", "recs"});
  Output ok = RunCtl(args, {"DEGRADE_ETCD_PASSWORD=s3cret"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  auto client = ClientFor((*cluster)->endpoints(), "root", "s3cret");
  auto range = client->Range("/degrade/auth/switches/recs", "");
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_EQ(range->kvs.size(), 1u);

  Output wrong = RunCtl(args, {"DEGRADE_ETCD_PASSWORD=nope"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("DEGRADE_ETCD_PASSWORD"));
  EXPECT_THAT(wrong.err, Not(HasSubstr("nope")));
}

// A self-signed certificate for 127.0.0.1 that is its own CA (openssl CLI).
bool MakeCertificate(const std::string& dir, std::string* cert, std::string* key) {
  *cert = dir + "/etcd.crt";
  *key = dir + "/etcd.key";
  const std::string cmd = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 ",
      "-addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:TRUE ",
      "-keyout ", *key, " -out ", *cert, " >/dev/null 2>&1");
  return std::system(cmd.c_str()) == 0;
}

TEST(DegradectlEtcdTlsTest, HttpsMemberIsVerifiedAgainstTheCaFileFromTheEnvironment) {
  char tmpl[] = "/tmp/degradectl-etcd-tls-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  std::string cert, key;
  ASSERT_TRUE(MakeCertificate(dir, &cert, &key)) << "openssl failed";
  testing::EtcdCluster::Options co;
  co.cert_file = cert;
  co.key_file = key;
  auto cluster = testing::EtcdCluster::Start(co);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::vector<std::string> args = {"--etcd", (*cluster)->endpoints_csv(), "--prefix",
                                         "/degrade/tls", "off", "recs"};
  ASSERT_EQ((*cluster)->endpoint(0).rfind("https://", 0), 0u);

  Output ok = RunCtl(args, {"DEGRADE_ETCD_CA_FILE=" + cert});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("recs: off (etcd /degrade/tls/switches/recs rev "));
  // Without it the system store does not know this certificate.
  Output refused = RunCtl(args);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("TLS certificate verification failed"));
  cluster->reset();
  std::remove(cert.c_str());
  std::remove(key.c_str());
  rmdir(dir.c_str());
}

// ------------------------------------------------------------------- watch

TEST_F(EtcdCtlTest, WatchStreamsPutsAndDeletesWithRevisions) {
  Put("switches/recs", R"("on")");
  std::unique_ptr<Subprocess> w =
      StartCtl({"--etcd", cluster_->endpoints_csv(), "--prefix", prefix_, "watch", "--json",
                "--count", "3"});
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->WaitForStderr("watching etcd", kPatience)) << w->err();
  ASSERT_EQ(Ctl({"off", "recs", "--reason", "INC-1"}).exit_code, 0);
  Put("groups/tier2", R"({"allow": 0.5})");
  ASSERT_EQ(Ctl({"clear", "recs"}).exit_code, 0);
  ASSERT_EQ(w->Finish(kPatience), 0) << w->err();
  std::vector<std::string> lines = absl::StrSplit(w->out(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << w->out();
  std::vector<json> e;
  for (const std::string& l : lines) e.push_back(json::parse(l, nullptr, false));
  EXPECT_EQ(e[0]["switch"], "recs");
  EXPECT_EQ(e[0]["old"], "on");
  EXPECT_EQ(e[0]["new"]["state"], "off");
  EXPECT_EQ(e[0]["reason"], "INC-1");
  EXPECT_EQ(e[0]["actor"], "ana");
  EXPECT_EQ(e[1]["group"], "tier2");
  EXPECT_TRUE(e[1]["old"].is_null());
  EXPECT_EQ(e[2]["switch"], "recs");
  EXPECT_TRUE(e[2]["new"].is_null());
  EXPECT_LT(e[0]["revision"].get<int64_t>(), e[1]["revision"].get<int64_t>());
  EXPECT_LT(e[1]["revision"].get<int64_t>(), e[2]["revision"].get<int64_t>());
}

TEST_F(EtcdCtlTest, WatchHumanLineShowsKeyChangeAndRevision) {
  std::unique_ptr<Subprocess> w = StartCtl(
      {"--etcd", cluster_->endpoints_csv(), "--prefix", prefix_, "watch", "--count", "1"});
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->WaitForStderr("watching etcd", kPatience)) << w->err();
  ASSERT_EQ(Ctl({"off", "recs", "--reason", "INC-2", "--ttl", "1h"}).exit_code, 0);
  ASSERT_EQ(w->Finish(kPatience), 0) << w->err();
  EXPECT_THAT(w->out(), AllOf(HasSubstr("recs: (none) -> off (etcd rev "), HasSubstr("by ana"),
                              HasSubstr("reason \"INC-2\""), HasSubstr("expires in 1h")));
}

TEST_F(EtcdCtlTest, WatchEndsOnCtrlC) {
  std::unique_ptr<Subprocess> w =
      StartCtl({"--etcd", cluster_->endpoints_csv(), "--prefix", prefix_, "watch"});
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->WaitForStderr("watching etcd", kPatience)) << w->err();
  w->Signal(SIGINT);
  EXPECT_EQ(w->Finish(kPatience), 0) << w->err();
}

TEST(DegradectlEtcdWatchTest, WatchResumesAfterEtcdRestartWithoutLosingAChange) {
  auto cluster = testing::EtcdCluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  std::unique_ptr<Subprocess> w = StartCtl({"--etcd", (*cluster)->endpoints_csv(), "--prefix",
                                            "/degrade/restart", "watch", "--count", "2"});
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->WaitForStderr("watching etcd", kPatience)) << w->err();
  auto client = ClientFor((*cluster)->endpoints());
  ASSERT_TRUE(client->Put("/degrade/restart/switches/a", R"("off")").ok());
  ASSERT_TRUE(w->WaitForStdout("a: (none) -> off", kPatience)) << w->out() << w->err();
  ASSERT_TRUE((*cluster)->Kill(0).ok());
  ASSERT_TRUE(w->WaitForStderr("lost the etcd watch", kPatience)) << w->err();
  ASSERT_TRUE((*cluster)->Restart(0).ok());
  auto again = ClientFor((*cluster)->endpoints());
  ASSERT_TRUE(again->Put("/degrade/restart/switches/b", R"("off")").ok());
  ASSERT_EQ(w->Finish(kPatience), 0) << w->err();
  EXPECT_THAT(w->out(), HasSubstr("b: (none) -> off"));
  EXPECT_THAT(w->err(), HasSubstr("back in contact with etcd"));
}

TEST(DegradectlEtcdWatchTest, WatchMovesToAnotherMemberWhenItsMemberIsKilled) {
  testing::EtcdCluster::Options three;
  three.members = 3;
  auto cluster = testing::EtcdCluster::Start(three);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  // The watch starts on the first endpoint: that member is the one killed.
  std::unique_ptr<Subprocess> w = StartCtl({"--etcd", (*cluster)->endpoints_csv(), "--prefix",
                                            "/degrade/failover", "watch", "--count", "2"});
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->WaitForStderr("watching etcd", kPatience)) << w->err();
  auto client = ClientFor((*cluster)->endpoints());
  ASSERT_TRUE(client->Put("/degrade/failover/switches/a", R"("off")").ok());
  ASSERT_TRUE(w->WaitForStdout("a: (none) -> off", kPatience)) << w->out() << w->err();
  ASSERT_TRUE((*cluster)->Kill(0).ok());
  // Writes resume once the other two have a leader (about 2.5 s when the
  // killed member led); the client moves on to them by itself.
  absl::Status put = absl::UnknownError("not tried");
  const absl::Time deadline = absl::Now() + kPatience;
  while (!put.ok() && absl::Now() < deadline) {
    put = client->Put("/degrade/failover/switches/b", R"("off")").status();
    if (!put.ok()) absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(put.ok()) << put;
  ASSERT_EQ(w->Finish(kPatience), 0) << w->err();
  EXPECT_THAT(w->out(), HasSubstr("b: (none) -> off"));
}

// -------------------------------------------------------------- round trip

// degradectl --etcd off -> a Runtime running the etcd source (this
// process) sees enabled() false; clear -> back on.
TEST_F(EtcdCtlTest, RoundTripReachesARuntimeWatchingTheSamePrefix) {
  Registry::Options ro;
  ro.getenv = [](std::string_view) { return std::optional<std::string>(); };
  ro.log_sink = [](LogLevel, std::string_view) {};
  Registry registry(ro);
  absl::StatusOr<Switch*> sw = registry.Define({.name = "recommendations", .description = "Recs"});
  ASSERT_TRUE(sw.ok()) << sw.status();
  Options options;
  options.registry = &registry;
  options.etcd_endpoints = cluster_->endpoints();
  options.etcd_prefix = prefix_;
  absl::StatusOr<std::unique_ptr<Runtime>> runtime = Runtime::Start(options);
  ASSERT_TRUE(runtime.ok()) << runtime.status();
  ASSERT_TRUE((*sw)->enabled());

  ASSERT_EQ(Ctl({"off", "recommendations", "--reason", "round trip"}).exit_code, 0);
  absl::Time deadline = absl::Now() + kPatience;
  while ((*sw)->enabled() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_FALSE((*sw)->enabled());
  absl::StatusOr<SwitchInfo> info = registry.Get("recommendations");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->deciding_layer, Layer::kRemote);
  EXPECT_EQ(info->reason, "round trip");

  ASSERT_EQ(Ctl({"clear", "recommendations"}).exit_code, 0);
  deadline = absl::Now() + kPatience;
  while (!(*sw)->enabled() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_TRUE((*sw)->enabled());
}

}  // namespace
}  // namespace degrade::ctl
