// degradectl against a live admin endpoint on loopback, run as a subprocess
// (its path comes from meson in $DEGRADECTL), plus the pieces it is made of
// (argument parsing, rendering, the admin backend's error mapping).
//
// The endpoint is the library's own (Runtime with admin_addr 127.0.0.1:0)
// when this build has one; otherwise ContractServer below, which implements
// DESIGN section 7's switch routes over a Registry with the library's own
// parser and listing. Either way the tests check what reached the registry,
// so they are also a check of the contract.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ctl_args.h"
#include "ctl_backend.h"
#include "ctl_render.h"
#include "degrade/degrade.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_net.h"
#include "test_registry.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace degrade::ctl {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kToken[] = "s3cret-token-4711";

// ---------------------------------------------------------------- subprocess

struct Output {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs degradectl with `args` and exactly the environment `env` (plus PATH
// and HOME): nothing DEGRADE_* leaks in from the test's own environment.
Output RunCtl(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  const char* path = std::getenv("DEGRADECTL");
  Output result;
  if (path == nullptr) {
    ADD_FAILURE() << "DEGRADECTL is not set (meson sets it to the built degradectl)";
    return result;
  }
  std::vector<std::string> argv_s = {path};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s = {"PATH=/usr/bin:/bin", "HOME=/tmp"};
  env_s.insert(env_s.end(), env.begin(), env.end());
  std::vector<char*> argv, envp;
  for (auto& s : argv_s) argv.push_back(s.data());
  for (auto& s : env_s) envp.push_back(s.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, path, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (spawned != 0) {
    ADD_FAILURE() << "cannot run " << path;
    close(out_pipe[0]);
    close(err_pipe[0]);
    return result;
  }
  // Read both pipes to their end, bounded in time.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (poll(fds, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  if (open_fds > 0) {
    kill(pid, SIGKILL);
    ADD_FAILURE() << "degradectl did not finish within 30 s";
    for (auto& f : fds) {
      if (f.fd >= 0) close(f.fd);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string Env(const char* var, const std::string& value) { return absl::StrCat(var, "=", value); }

// A loopback port that refuses connections (tests/test_net.h RefusingPort:
// bound, never listening), held until the test binary exits, so that no one
// else can take it between here and degradectl's connect. From the test's
// own thread.
int ClosedPort() {
  static std::vector<std::unique_ptr<RefusingPort>> held;
  held.push_back(std::make_unique<RefusingPort>());
  return held.back()->Port();
}

// ------------------------------------------------------------------- servers

// Starts `server` on 127.0.0.1 on a free port and stops it on destruction.
class ServerThread {
 public:
  explicit ServerThread(httplib::Server& server) : server_(server) {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~ServerThread() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  httplib::Server& server_;
  std::thread thread_;
  int port_ = 0;
};

// DESIGN section 7's switch routes over `registry`, for builds without the
// library's admin endpoint. Uses the library's parser and listing, so what it
// accepts and answers is what the real endpoint does.
class ContractServer {
 public:
  ContractServer(Registry& registry, std::string token)
      : registry_(registry), token_(std::move(token)) {
    server_.Get("/degrade/v1/switches", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(ListingToJson(registry_), "application/json");
    });
    const std::string one = R"(/degrade/v1/switches/([^/]+))";
    server_.Get(one, [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      absl::StatusOr<SwitchInfo> info = registry_.Get(req.matches[1].str());
      if (!info.ok()) return Error(res, 404, "no such switch");
      res.set_content(SwitchInfoToJson(*info), "application/json");
    });
    server_.Put(one, [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      if (!Authorized(req, res)) return;
      const std::string name = req.matches[1].str();
      if (req.body.size() > 64 * 1024) return Error(res, 413, "body too large");
      if (registry_.Find(name) == nullptr) return Error(res, 404, "not defined");
      absl::StatusOr<SwitchValue> value =
          ParseSwitchValue(req.body, "admin PUT", "switches." + name, registry_.clock().Now());
      if (!value.ok()) return Error(res, 400, std::string(value.status().message()));
      if (value->actor.empty()) value->actor = req.get_header_value("X-Degrade-Actor");
      if (absl::Status s = registry_.SetOverride(name, *value); !s.ok()) {
        return Error(res, 400, std::string(s.message()));
      }
      res.set_content(SwitchInfoToJson(*registry_.Get(name)), "application/json");
    });
    server_.Delete(one, [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      if (!Authorized(req, res)) return;
      const std::string name = req.matches[1].str();
      if (absl::Status s = registry_.ClearOverride(name); !s.ok()) {
        return Error(res, 404, "not defined");
      }
      res.set_content(SwitchInfoToJson(*registry_.Get(name)), "application/json");
    });
    thread_ = std::make_unique<ServerThread>(server_);
  }

  int port() const { return thread_->port(); }
  httplib::Request last_request() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

 private:
  void Record(const httplib::Request& req) {
    std::lock_guard<std::mutex> lock(mu_);
    last_ = req;
  }
  static void Error(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(json{{"error", message}}.dump(), "application/json");
  }
  bool Authorized(const httplib::Request& req, httplib::Response& res) {
    if (token_.empty()) {
      Error(res, 403, "writes are disabled: no admin token is configured");
      return false;
    }
    if (req.get_header_value("Authorization") != "Bearer " + token_) {
      Error(res, 401, "wrong token");
      return false;
    }
    return true;
  }

  Registry& registry_;
  const std::string token_;
  httplib::Server server_;
  std::mutex mu_;
  httplib::Request last_;
  std::unique_ptr<ServerThread> thread_;
};

// A registry with three switches, no environment, quiet, and an admin
// endpoint over it: the library's when it has one, else ContractServer.
class Service {
 public:
  explicit Service(std::string token = kToken) : registry_(QuietOptions()) {
    EXPECT_TRUE(registry_
                    .Define({.name = "recommendations",
                             .description = "Recs under the cart",
                             .owner = "team-discovery",
                             .groups = {"tier2"}})
                    .ok());
    EXPECT_TRUE(registry_.Define({.name = "reviews", .description = "Star ratings"}).ok());
    EXPECT_TRUE(registry_.Define({.name = "search.suggest", .description = "Suggestions"}).ok());
    Options options;
    options.registry = &registry_;
    options.admin_addr = "127.0.0.1:0";
    options.admin_token = token;
    absl::StatusOr<std::unique_ptr<Runtime>> runtime = Runtime::Start(options);
    if (runtime.ok() && (*runtime)->admin_port() != 0) {
      runtime_ = *std::move(runtime);
      port_ = runtime_->admin_port();
    } else {
      contract_ = std::make_unique<ContractServer>(registry_, token);
      port_ = contract_->port();
    }
  }

  Registry& registry() { return registry_; }
  bool real() const { return runtime_ != nullptr; }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  // The raw request the contract server saw last; nullopt with the real one.
  std::optional<httplib::Request> last_request() {
    if (contract_ == nullptr) return std::nullopt;
    return contract_->last_request();
  }
  // The admin layer's entry for `name`.
  std::optional<SwitchValue> AdminEntry(const std::string& name) {
    Snapshot admin = registry_.LayerSnapshot(Layer::kAdmin);
    auto it = admin.switches.find(name);
    if (it == admin.switches.end()) return std::nullopt;
    return it->second;
  }
  // GET path directly, for comparing with what degradectl printed.
  std::string Fetch(const std::string& path) {
    httplib::Client client("127.0.0.1", port_);
    httplib::Result res = client.Get(path);
    return res ? res->body : "";
  }

 private:

  Registry registry_;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<ContractServer> contract_;
  int port_ = 0;
};

// degradectl against `service` with the right token.
Output Ctl(Service& service, std::vector<std::string> args,
           std::vector<std::string> env = {Env("DEGRADE_ADMIN_TOKEN", kToken)}) {
  args.insert(args.begin(), {"--admin", service.url()});
  return RunCtl(args, env);
}

// ------------------------------------------------------------ help and usage

// Not a check: says in the log which endpoint the tests below ran against.
TEST(DegradectlEndpointTest, ReportsWhichEndpointIsUnderTest) {
  Service service;
  const char* kind = service.real() ? "the library's admin endpoint (Runtime)"
                                    : "ContractServer (this build has no admin endpoint)";
  std::cout << "degradectl_test: endpoint under test: " << kind << "\n";
  RecordProperty("endpoint", service.real() ? "library" : "contract");
}

TEST(DegradectlHelpTest, HelpListsEveryCommandAndExitsZero) {
  Output r = RunCtl({"help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const Command& c : Commands()) EXPECT_THAT(r.out, HasSubstr(std::string(c.name)));
  EXPECT_THAT(r.out, HasSubstr("exit status: 0 ok, 1 failure"));
  EXPECT_EQ(r.err, "");
}

TEST(DegradectlHelpTest, DashDashHelpIsGeneralHelp) {
  Output r = RunCtl({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("commands:"));
}

TEST(DegradectlHelpTest, EveryCommandHasItsOwnHelpWithoutArguments) {
  for (const Command& c : Commands()) {
    const std::string name(c.name);
    Output r = RunCtl({name, "--help"});
    EXPECT_EQ(r.exit_code, 0) << name;
    EXPECT_THAT(r.out, StartsWith("usage: degradectl [--admin URL] [--json] " + name)) << name;
    EXPECT_EQ(r.err, "") << name;
  }
}

TEST(DegradectlHelpTest, HelpCommandNamesOneCommand) {
  Output r = RunCtl({"help", "fault"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, AllOf(HasSubstr("--delay-ms N"), HasSubstr("--rate R")));
}

TEST(DegradectlUsageTest, NoCommandIsUsageError) {
  Output r = RunCtl({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("no command given"), HasSubstr("degradectl help")));
}

TEST(DegradectlUsageTest, UnknownCommandIsUsageErrorListingCommands) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "frob"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("unknown command \"frob\""), HasSubstr("list, get, on")));
}

TEST(DegradectlUsageTest, UnknownOptionIsUsageError) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "list", "--frob"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown option --frob"));
}

TEST(DegradectlUsageTest, MistypedCommandGetsTheNearestOne) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "lsit"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown command \"lsit\"; did you mean \"list\"?"));
}

TEST(DegradectlUsageTest, FarOffCommandGetsNoSuggestion) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, Not(HasSubstr("did you mean")));
}

TEST(DegradectlUsageTest, MistypedOptionGetsTheNearestOne) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "off", "recs", "--reasn", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown option --reasn; did you mean --reason?"));
}

TEST(DegradectlUsageTest, VersionPrintsTheLibraryVersionAndExitsZero) {
  Output r = RunCtl({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex("degradectl [0-9]+\\.[0-9]+\\.[0-9]+\n"));
  EXPECT_EQ(r.err, "");
}

TEST(NearestNameTest, PicksTheClosestWithinReach) {
  const std::vector<std::string> names = {"list", "get", "on", "off", "allow", "clear"};
  EXPECT_EQ(NearestName("lsit", names), "list");
  EXPECT_EQ(NearestName("alow", names), "allow");
  EXPECT_EQ(NearestName("clera", names), "clear");
  EXPECT_EQ(NearestName("frobnicate", names), "");
  EXPECT_EQ(NearestName("x", names), "");
}

TEST(DegradectlUsageTest, MissingNameIsUsageErrorPointingAtCommandHelp) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "off"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("off needs NAME"), HasSubstr("degradectl off --help")));
}

TEST(DegradectlUsageTest, ExtraArgumentIsUsageError) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "get", "a", "b"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unexpected \"b\""));
}

TEST(DegradectlUsageTest, OptionOfAnotherCommandIsUsageError) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "list", "--reason", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--reason does not apply to list"));
}

TEST(DegradectlUsageTest, BadFractionSaysWhatIsAccepted) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "allow", "recs", "150%"},
                    {Env("DEGRADE_ADMIN_TOKEN", kToken)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("\"150%\""), HasSubstr("(0.25)"), HasSubstr("(25%)")));
}

TEST(DegradectlUsageTest, BadDurationSaysWhatIsAccepted) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "off", "recs", "--ttl", "5x"},
                    {Env("DEGRADE_ADMIN_TOKEN", kToken)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("--ttl \"5x\""), HasSubstr("30s, 15m, 2h, 1d")));
}

TEST(DegradectlUsageTest, BadSwitchNameIsUsageError) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "get", "Recs/../x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("switch name \"Recs/../x\""));
}

TEST(DegradectlUsageTest, ControlCharacterInReasonIsUsageError) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "off", "recs", "--reason", "a\nb"},
                    {Env("DEGRADE_ADMIN_TOKEN", kToken)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--reason contains a control character"));
}

TEST(DegradectlUsageTest, DelayFaultNeedsDelayMs) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "fault", "recs", "delay"},
                    {Env("DEGRADE_ADMIN_TOKEN", kToken)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("needs --delay-ms"));
}

TEST(DegradectlUsageTest, MissingAdminUrlSaysHowToPassIt) {
  Output r = RunCtl({"list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err,
              AllOf(HasSubstr("--admin http://127.0.0.1:PORT"), HasSubstr("DEGRADE_ADMIN_URL")));
}

TEST(DegradectlUsageTest, BadAdminUrlIsUsageError) {
  Output r = RunCtl({"--admin", "ftp://127.0.0.1:1", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("scheme is not http or https"));
}

TEST(DegradectlUsageTest, WriteWithoutTokenSaysWhichVariableToSet) {
  Output r = RunCtl({"--admin", "http://127.0.0.1:1", "off", "recs"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("set DEGRADE_ADMIN_TOKEN"));
}

// ----------------------------------------------------------- reads

TEST(DegradectlListTest, TableHasColumnsAndEverySwitch) {
  Service service;
  Output r = Ctl(service, {"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("NAME "));
  for (const char* column :
       {"STATE", "LAYER", "REASON", "ACTOR", "EXPIRES", "CALLS", "FALLBACKS"}) {
    EXPECT_THAT(r.out, HasSubstr(column));
  }
  for (const char* name : {"recommendations", "reviews", "search.suggest"}) {
    EXPECT_THAT(r.out, HasSubstr(name));
  }
}

TEST(DegradectlListTest, ReadsNeedNoToken) {
  Service service;
  Output r = Ctl(service, {"list"}, {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(DegradectlListTest, AdminUrlFromEnvironment) {
  Service service;
  Output r = RunCtl({"list"}, {Env("DEGRADE_ADMIN_URL", service.url())});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("recommendations"));
}

TEST(DegradectlListTest, TableShowsOverrideReasonAndExpiry) {
  Service service;
  SwitchValue off;
  off.state = State::kOff;
  off.reason = "INC-42 vendor 5xx";
  off.actor = "ana";
  ASSERT_TRUE(service.registry().SetOverride("recommendations", off, absl::Minutes(14)).ok());
  Output r = Ctl(service, {"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("INC-42 vendor 5xx"));
  EXPECT_THAT(r.out, HasSubstr("ana"));
  EXPECT_THAT(r.out, HasSubstr("in 14m"));
}

TEST(DegradectlListTest, JsonIsTheServersListing) {
  Service service;
  Output r = Ctl(service, {"--json", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json printed = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(printed.is_object()) << r.out;
  EXPECT_EQ(printed, json::parse(service.Fetch("/degrade/v1/switches"), nullptr, false));
  EXPECT_TRUE(printed.contains("sources"));
  EXPECT_EQ(printed["switches"].size(), 3u);
}

TEST(DegradectlGetTest, JsonIsTheServersSwitch) {
  Service service;
  Output r = Ctl(service, {"get", "reviews", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out, nullptr, false),
            json::parse(service.Fetch("/degrade/v1/switches/reviews"), nullptr, false));
}

TEST(DegradectlGetTest, BlockShowsFieldsAndEveryLayer) {
  Service service;
  ASSERT_TRUE(service.registry()
                  .ApplySnapshotJson(Layer::kFile,
                                     R"({"switches": {"recommendations": {"state": "on",
                                         "allow": 0.5}}})",
                                     "file test.json")
                  .ok());
  SwitchValue off;
  off.state = State::kOff;
  off.reason = "INC-7";
  ASSERT_TRUE(service.registry().SetOverride("recommendations", off).ok());
  Output r = Ctl(service, {"get", "recommendations"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("recommendations\n"));
  EXPECT_THAT(r.out, AllOf(HasSubstr("Recs under the cart"), HasSubstr("team-discovery"),
                           HasSubstr("tier2"), HasSubstr("DEGRADE_RECOMMENDATIONS")));
  EXPECT_THAT(r.out, HasSubstr("decided by   admin"));
  EXPECT_THAT(r.out, HasSubstr("on 50%"));            // the file layer's setting
  EXPECT_THAT(r.out, HasSubstr("reason \"INC-7\""));  // the admin layer's
  EXPECT_THAT(r.out, HasSubstr("counters"));
}

TEST(DegradectlGetTest, UnknownSwitchIsFailureWithHint) {
  Service service;
  Output r = Ctl(service, {"get", "nosuch"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, AllOf(HasSubstr("does not define a switch named \"nosuch\""),
                           HasSubstr("'degradectl list' shows the names")));
}

// ----------------------------------------------------------- writes

TEST(DegradectlWriteTest, OffSendsStateReasonActorAndTtl) {
  Service service;
  const absl::Time before = absl::Now();
  Output r = Ctl(
      service, {"off", "recommendations", "--reason", "INC-42", "--ttl", "15m", "--actor", "ana"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "recommendations: off (admin, reason \"INC-42\", expires in 15m)\n");
  std::optional<SwitchValue> entry = service.AdminEntry("recommendations");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->state, State::kOff);
  EXPECT_EQ(entry->reason, "INC-42");
  EXPECT_EQ(entry->actor, "ana");
  ASSERT_TRUE(entry->expires_at.has_value());
  EXPECT_GE(*entry->expires_at, before + absl::Minutes(15) - absl::Seconds(1));
  EXPECT_LE(*entry->expires_at, absl::Now() + absl::Minutes(15) + absl::Seconds(1));
}

TEST(DegradectlWriteTest, ActorDefaultsToTheLoginName) {
  Service service;
  Output r = Ctl(service, {"off", "reviews"},
                 {Env("DEGRADE_ADMIN_TOKEN", kToken), Env("USER", "oncall-bot")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::optional<SwitchValue> entry = service.AdminEntry("reviews");
  ASSERT_TRUE(entry.has_value());
  EXPECT_FALSE(entry->actor.empty());
  if (char login[256]; getlogin_r(login, sizeof login) != 0) {
    EXPECT_EQ(entry->actor, "oncall-bot");  // no login session: $USER
  }
}

TEST(DegradectlWriteTest, OnSendsStateOn) {
  Service service;
  Output r = Ctl(service, {"on", "reviews"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("reviews: on (admin"));
  EXPECT_EQ(service.AdminEntry("reviews")->state, State::kOn);
}

TEST(DegradectlWriteTest, AllowAcceptsPercent) {
  Service service;
  Output r = Ctl(service, {"allow", "search.suggest", "25%"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("search.suggest: on 25% (admin"));
  std::optional<SwitchValue> entry = service.AdminEntry("search.suggest");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->state, State::kOn);
  EXPECT_EQ(entry->allow, 0.25);
}

TEST(DegradectlWriteTest, AllowAcceptsFraction) {
  Service service;
  Output r = Ctl(service, {"allow", "search.suggest", "0.5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(service.AdminEntry("search.suggest")->allow, 0.5);
}

TEST(DegradectlWriteTest, FaultErrorSendsFaultWithDefaultTtl) {
  Service service;
  const absl::Time before = absl::Now();
  Output r = Ctl(service, {"fault", "recommendations", "error", "--rate", "50%"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("fault error at 50% (admin, expires in 10m)"));
  std::optional<SwitchValue> entry = service.AdminEntry("recommendations");
  ASSERT_TRUE(entry.has_value() && entry->fault.has_value());
  EXPECT_EQ(entry->fault->kind, Fault::Kind::kError);
  EXPECT_EQ(entry->fault->rate, 0.5);
  EXPECT_FALSE(entry->state.has_value());  // the state stays with the other layers
  ASSERT_TRUE(entry->expires_at.has_value());
  EXPECT_GE(*entry->expires_at, before + absl::Minutes(10) - absl::Seconds(1));
  if (auto req = service.last_request()) {
    EXPECT_EQ(json::parse(req->body)["fault"], (json{{"kind", "error"}, {"rate", 0.5}}));
    EXPECT_EQ(json::parse(req->body)["ttl_s"], 600);
  }
}

TEST(DegradectlWriteTest, FaultDelaySendsDelayMs) {
  Service service;
  Output r =
      Ctl(service, {"fault", "recommendations", "delay", "--delay-ms", "800", "--ttl", "2h"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::optional<SwitchValue> entry = service.AdminEntry("recommendations");
  ASSERT_TRUE(entry.has_value() && entry->fault.has_value());
  EXPECT_EQ(entry->fault->kind, Fault::Kind::kDelay);
  EXPECT_EQ(entry->fault->delay_ms, 800u);
  EXPECT_EQ(entry->fault->rate, 1.0);
  EXPECT_THAT(r.out, HasSubstr("fault delay 800ms (admin, expires in 2h)"));
}

TEST(DegradectlWriteTest, FaultOffSendsFaultOff) {
  Service service;
  Output r = Ctl(service, {"fault", "recommendations", "off"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::optional<SwitchValue> entry = service.AdminEntry("recommendations");
  ASSERT_TRUE(entry.has_value());
  EXPECT_TRUE(entry->fault_cleared);
  EXPECT_FALSE(entry->fault.has_value());
  EXPECT_FALSE(entry->expires_at.has_value());  // no default TTL for "off"
  if (auto req = service.last_request()) {
    EXPECT_EQ(json::parse(req->body)["fault"], "off");
  }
}

TEST(DegradectlWriteTest, ClearRemovesTheOverrideAndSendsTheActor) {
  Service service;
  SwitchValue off;
  off.state = State::kOff;
  ASSERT_TRUE(service.registry().SetOverride("reviews", off).ok());
  Output r = Ctl(service, {"clear", "reviews", "--actor", "ana"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "reviews: on (default)\n");
  EXPECT_FALSE(service.AdminEntry("reviews").has_value());
  if (auto req = service.last_request()) {
    EXPECT_EQ(req->method, "DELETE");
    EXPECT_EQ(req->get_header_value("X-Degrade-Actor"), "ana");
  }
}

TEST(DegradectlWriteTest, JsonPrintsTheSwitchAfterTheWrite) {
  Service service;
  Output r = Ctl(service, {"--json", "off", "reviews"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json sw = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(sw.is_object()) << r.out;
  EXPECT_EQ(sw["name"], "reviews");
  EXPECT_EQ(sw["state"], "off");
  EXPECT_EQ(sw["layer"], "admin");
}

TEST(DegradectlWriteTest, TokenEnvReadsAnotherVariable) {
  Service service;
  Output r = Ctl(service, {"--token-env", "SHOP_ADMIN_TOKEN", "off", "reviews"},
                 {Env("SHOP_ADMIN_TOKEN", kToken)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(DegradectlWriteTest, WrongTokenIsFailureWithHintAndNoTokenPrinted) {
  Service service;
  const std::string wrong = "wrong-token-0815";
  Output r = Ctl(service, {"off", "reviews"}, {Env("DEGRADE_ADMIN_TOKEN", wrong)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, AllOf(HasSubstr("401"), HasSubstr("set DEGRADE_ADMIN_TOKEN to the "
                                                       "service's admin token")));
  EXPECT_THAT(r.err + r.out, AllOf(Not(HasSubstr(wrong)), Not(HasSubstr(kToken))));
  EXPECT_FALSE(service.AdminEntry("reviews").has_value());
}

TEST(DegradectlWriteTest, ServiceWithoutTokenRefusesWritesWithHint) {
  Service service(/*token=*/"");
  Output r = Ctl(service, {"off", "reviews"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, AllOf(HasSubstr("403"), HasSubstr("DEGRADE_ADMIN_TOKEN")));
  EXPECT_FALSE(service.AdminEntry("reviews").has_value());
}

TEST(DegradectlWriteTest, UnknownSwitchIsFailure) {
  Service service;
  Output r = Ctl(service, {"off", "nosuch"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("does not define a switch named \"nosuch\""));
}

TEST(DegradectlWriteTest, UnknownSwitchGetsTheNearestDefinedName) {
  Service service;
  Output r = Ctl(service, {"off", "recommendation"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("did you mean \"recommendations\"?"));
  EXPECT_FALSE(service.AdminEntry("recommendations").has_value());
}

TEST(DegradectlGetTest, UnknownSwitchFarFromEveryNameGetsNoSuggestion) {
  Service service;
  Output r = Ctl(service, {"get", "payments"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, Not(HasSubstr("did you mean")));
}

TEST(DegradectlUnreachableTest, SaysHowTheServiceShouldRun) {
  const int port = ClosedPort();
  Output r = RunCtl({"--admin", absl::StrCat("http://127.0.0.1:", port), "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("is the service running with "
                                            "DEGRADE_ADMIN_ADDR=127.0.0.1:",
                                            port, "?")));
}

TEST(DegradectlUnreachableTest, HostPortWithoutSchemeMeansHttp) {
  Service service;
  Output r = RunCtl({"--admin", service.url().substr(7), "list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// ------------------------------------------------- the token is never printed

// docs/security.md: degradectl reads the token from the environment only and
// prints it nowhere: not on success, not in --json, not in any error, usage
// message or help, even when it was (wrongly) given as an argument.
TEST(DegradectlSecurityTest, TheTokenIsNeverPrinted) {
  Service service;
  const std::string token_env = Env("DEGRADE_ADMIN_TOKEN", kToken);
  const std::vector<std::vector<std::string>> runs = {
      {"--admin", service.url(), "list"},
      {"--admin", service.url(), "--json", "list"},
      {"--admin", service.url(), "get", "reviews"},
      {"--admin", service.url(), "--json", "off", "reviews", "--reason", "sec test"},
      {"--admin", service.url(), "on", "reviews"},
      {"--admin", service.url(), "allow", "reviews", "25%"},
      {"--admin", service.url(), "clear", "reviews"},
      {"--admin", service.url(), "off", "nosuch"},                    // 404
      {"--admin", service.url(), "allow", "reviews", "2"},             // usage
      {"--admin", absl::StrCat("http://127.0.0.1:", ClosedPort()), "off", "reviews"},  // unreachable
      {"--admin", service.url(), "--token", kToken, "off", "reviews"},  // not a flag
      {"--admin", service.url(), "off", kToken},                       // a bad switch name
      {"--help"},
  };
  for (const std::vector<std::string>& args : runs) {
    const Output r = RunCtl(args, {token_env});
    EXPECT_THAT(r.out + r.err, Not(HasSubstr(kToken))) << absl::StrJoin(args, " ");
  }
  const Output wrong = RunCtl({"--admin", service.url(), "off", "reviews"},
                              {Env("DEGRADE_ADMIN_TOKEN", "not-the-token-9123")});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.out + wrong.err, Not(HasSubstr("not-the-token-9123")));
}

// A Kubernetes Secret put into an environment variable often ends in a
// newline; the token is the text without surrounding whitespace.
TEST(DegradectlTokenTest, SurroundingWhitespaceIsTrimmed) {
  Service service;
  Output r = RunCtl({"--admin", service.url(), "off", "reviews"},
                    {Env("DEGRADE_ADMIN_TOKEN", absl::StrCat("  ", kToken, "\n"))});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(service.AdminEntry("reviews").has_value());
}

TEST(DegradectlTokenTest, WhitespaceOnlyTokenIsUsageErrorSayingSo) {
  Service service;
  Output r = RunCtl({"--admin", service.url(), "off", "reviews"},
                    {Env("DEGRADE_ADMIN_TOKEN", " \n")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("DEGRADE_ADMIN_TOKEN holds only whitespace; set it to the "
                               "service's admin token"));
  EXPECT_FALSE(service.AdminEntry("reviews").has_value());
}

TEST(DegradectlTokenTest, InnerControlCharacterIsUsageErrorNamingTheVariable) {
  Service service;
  Output r = RunCtl({"--admin", service.url(), "off", "reviews"},
                    {Env("DEGRADE_ADMIN_TOKEN", "s3cret\x01token")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("DEGRADE_ADMIN_TOKEN contains a control character"),
                           Not(HasSubstr("s3cret"))));
  EXPECT_FALSE(service.AdminEntry("reviews").has_value());
}

TEST(DegradectlTokenTest, TokenGivenAsAnArgumentIsRefusedBeforeAnythingIsSent) {
  Service service;
  Output r = RunCtl({"--admin", service.url(), "off", kToken},
                    {Env("DEGRADE_ADMIN_TOKEN", kToken)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("is the admin token in DEGRADE_ADMIN_TOKEN"),
                           Not(HasSubstr(kToken))));
}

TEST(DegradectlTokenTest, ShortTokenLeavesMessagesIntact) {
  Service service;
  Output r = RunCtl({"--admin", service.url(), "off", "reviews"}, {Env("DEGRADE_ADMIN_TOKEN", "e")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, AllOf(HasSubstr("the service refused the token"), Not(HasSubstr("<token>"))));
}

// ------------------------------------------------- admin backend error mapping

// Answers every request with `status` and `body`, after `delay`.
class CannedServer {
 public:
  CannedServer(int status, std::string body, std::chrono::milliseconds delay = {}) {
    server_.set_error_handler([](const httplib::Request&, httplib::Response&) {});
    auto handler = [=](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(delay);
      res.status = status;
      res.set_content(body, "application/json");
    };
    server_.Get(".*", handler);
    server_.Put(".*", handler);
    server_.Delete(".*", handler);
    thread_ = std::make_unique<ServerThread>(server_);
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", thread_->port()); }

 private:
  httplib::Server server_;
  std::unique_ptr<ServerThread> thread_;
};

std::unique_ptr<Backend> BackendFor(const std::string& url,
                                    absl::Duration read_timeout = absl::Seconds(5)) {
  AdminOptions options;
  options.url = url;
  options.token = kToken;
  options.read_timeout = read_timeout;
  absl::StatusOr<std::unique_ptr<Backend>> backend = MakeAdminBackend(options);
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? *std::move(backend) : nullptr;
}

TEST(AdminBackendTest, Status400QuotesTheServersError) {
  CannedServer server(400, R"({"error": "switches.recs.allow: 2 is not in [0, 1]"})");
  absl::StatusOr<Reply> r = BackendFor(server.url())->Put("recs", json{{"allow", 2}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()),
              AllOf(HasSubstr("2 is not in [0, 1]"), HasSubstr("nothing was changed")));
}

TEST(AdminBackendTest, Status413SaysShortenReason) {
  CannedServer server(413, R"({"error": "body too large"})");
  absl::StatusOr<Reply> r = BackendFor(server.url())->Put("recs", json{{"state", "off"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("shorten --reason"));
}

TEST(AdminBackendTest, Status405AsksAboutTheEndpoint) {
  CannedServer server(405, R"({"error": "method PUT is not allowed"})");
  absl::StatusOr<Reply> r = BackendFor(server.url())->Put("recs", json{{"state", "off"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("compatible version"));
}

TEST(AdminBackendTest, Status500IsInternal) {
  CannedServer server(500, "oops");
  absl::StatusOr<Reply> r = BackendFor(server.url())->List();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("(500: oops)"));
}

TEST(AdminBackendTest, NonJsonSuccessIsDataLoss) {
  CannedServer server(200, "<html>hello</html>");
  absl::StatusOr<Reply> r = BackendFor(server.url())->List();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("degrade admin endpoint"));
}

// A listing with a key twice would be shown one way by degradectl and read
// another way by a different client: it is refused, naming where.
TEST(AdminBackendTest, SuccessBodyWithADuplicateKeyIsDataLossNamingThePath) {
  CannedServer server(200, R"({"switches": [{"name": "recs", "state": "on", "state": "off"}]})");
  absl::StatusOr<Reply> r = BackendFor(server.url())->List();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(std::string(r.status().message()),
            server.url() + R"( answered GET /degrade/v1/switches with 200 and a body that is )"
                           R"(not valid: switches[0]: duplicate key "state"; each key may appear )"
                           R"(once)");
}

// The token only ever goes into the Authorization header, so messages are
// left as they are: no substring of them is "scrubbed" (a token "e" used to
// turn "the service" into "th<token> s<token>rvic<token>").
TEST(AdminBackendTest, MessagesAreNotRewrittenForAShortToken) {
  CannedServer server(401, R"({"error": "wrong token"})");
  AdminOptions options;
  options.url = server.url();
  options.token = "e";
  absl::StatusOr<std::unique_ptr<Backend>> backend = MakeAdminBackend(options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  absl::StatusOr<Reply> r = (*backend)->Clear("recs", "ana", "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(r.status().message()),
              AllOf(HasSubstr("the service refused the token (401: wrong token)"),
                    Not(HasSubstr("<token>"))));
}

TEST(AdminBackendTest, SlowServerHitsTheReadTimeout) {
  CannedServer server(200, "{}", std::chrono::milliseconds(1500));
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<Reply> r = BackendFor(server.url(), absl::Milliseconds(200))->List();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no answer"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1400));
}

TEST(AdminBackendTest, BadUrlsAreRejected) {
  for (const char* url : {"", "list", "ftp://x:1", "http://", "http://a b:1", "127.0.0.1:x",
                          "127.0.0.1:70000", "http://[::1"}) {
    AdminOptions options;
    options.url = url;
    EXPECT_EQ(MakeAdminBackend(options).status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
  for (const char* url : {"http://127.0.0.1:9090", "https://admin.internal", "127.0.0.1:9090",
                          "http://[::1]:9090/", "http://proxy:80/svc-a"}) {
    AdminOptions options;
    options.url = url;
    EXPECT_TRUE(MakeAdminBackend(options).ok()) << url;
  }
}

// --------------------------------------------------------- parsing, rendering

absl::StatusOr<Invocation> Chosen(std::vector<std::string> args, PlaneEnv env) {
  absl::StatusOr<Invocation> inv = ParseArgs(args);
  if (!inv.ok()) return inv.status();
  if (absl::Status s = ChoosePlane(*inv, env); !s.ok()) return s;
  return inv;
}

TEST(ChoosePlaneTest, EtcdWithoutValueReadsTheEnvironment) {
  absl::StatusOr<Invocation> inv =
      Chosen({"--etcd", "list"}, {.admin_url = "", .etcd_endpoints = "127.0.0.1:2379"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_TRUE(inv->etcd);
  EXPECT_EQ(inv->etcd_endpoints, "127.0.0.1:2379");
  EXPECT_EQ(inv->etcd_endpoints_from, "DEGRADE_ETCD_ENDPOINTS");
}

TEST(ChoosePlaneTest, EtcdTakesTheNextArgumentUnlessItIsAnOptionOrACommand) {
  const PlaneEnv env = {.admin_url = "", .etcd_endpoints = "10.0.0.1:2379"};
  absl::StatusOr<Invocation> inv = Chosen({"get", "--etcd", "127.0.0.1:2379", "recs"}, env);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->etcd_endpoints, "127.0.0.1:2379");
  inv = Chosen({"get", "recs", "--etcd"}, env);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->etcd_endpoints, "10.0.0.1:2379");
  inv = Chosen({"--etcd", "--json", "list"}, env);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->etcd_endpoints, "10.0.0.1:2379");
  EXPECT_TRUE(inv->json);
}

TEST(ChoosePlaneTest, EtcdWithoutValueOrEnvironmentIsUsageError) {
  absl::StatusOr<Invocation> inv = Chosen({"--etcd", "list"}, {});
  EXPECT_EQ(inv.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(inv.status().message()),
              HasSubstr("--etcd without endpoints reads DEGRADE_ETCD_ENDPOINTS, which is not set"));
}

TEST(ChoosePlaneTest, NoFlagUsesTheEtcdEnvironmentWhenNoAdminUrlIsSet) {
  absl::StatusOr<Invocation> inv = Chosen({"list"}, {.admin_url = "", .etcd_endpoints = "127.0.0.1:2379"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_TRUE(inv->etcd);
}

TEST(ChoosePlaneTest, AdminUrlFromTheEnvironmentWinsOverEtcdEndpoints) {
  absl::StatusOr<Invocation> inv = Chosen(
      {"list"}, {.admin_url = "http://127.0.0.1:9090", .etcd_endpoints = "127.0.0.1:2379"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_FALSE(inv->etcd);
  EXPECT_EQ(inv->admin_url, "http://127.0.0.1:9090");
}

TEST(ChoosePlaneTest, NothingGivenIsUsageErrorNamingBothWays) {
  absl::StatusOr<Invocation> inv = Chosen({"list"}, {});
  EXPECT_EQ(inv.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(inv.status().message()),
              AllOf(HasSubstr("DEGRADE_ADMIN_URL"), HasSubstr("DEGRADE_ETCD_ENDPOINTS")));
}

TEST(ChoosePlaneTest, DrillThroughEtcdFromTheEnvironmentIsUsageError) {
  absl::StatusOr<Invocation> inv = Chosen({"inventory"}, {.admin_url = "", .etcd_endpoints = "127.0.0.1:2379"});
  EXPECT_THAT(std::string(inv.status().message()), HasSubstr("pass --admin URL"));
}

TEST(EtcdEndpointsTest, HostPortMeansHttpAndSchemesAreKept) {
  absl::StatusOr<std::vector<std::string>> e =
      ParseEtcdEndpoints("127.0.0.1:2379, https://etcd-1.internal:2379,http://[::1]:2379/", "--etcd");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(*e, (std::vector<std::string>{"http://127.0.0.1:2379", "https://etcd-1.internal:2379",
                                          "http://[::1]:2379"}));
}

TEST(EtcdEndpointsTest, PathIsRefusedSayingEndpointsHaveNone) {
  absl::StatusOr<std::vector<std::string>> e =
      ParseEtcdEndpoints("http://127.0.0.1:2379/v3", "DEGRADE_ETCD_ENDPOINTS");
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(e.status().message()),
              AllOf(HasSubstr("DEGRADE_ETCD_ENDPOINTS \"http://127.0.0.1:2379/v3\""),
                    HasSubstr("has a path"), HasSubstr("no path")));
}

TEST(EtcdEndpointsTest, JunkAndEmptyListsAreRefused) {
  for (const char* bad : {"", ",", "ftp://127.0.0.1:2379", "127.0.0.1", "etcd:0", "http://"}) {
    EXPECT_EQ(ParseEtcdEndpoints(bad, "--etcd").status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(ParseDurationTest, AcceptsUnitsCombinationsAndPlainSeconds) {
  EXPECT_EQ(*ParseDuration("30s", "--ttl"), 30);
  EXPECT_EQ(*ParseDuration("15m", "--ttl"), 900);
  EXPECT_EQ(*ParseDuration("2h", "--ttl"), 7200);
  EXPECT_EQ(*ParseDuration("1d", "--ttl"), 86400);
  EXPECT_EQ(*ParseDuration("1h30m", "--ttl"), 5400);
  EXPECT_EQ(*ParseDuration("90", "--ttl"), 90);
  EXPECT_EQ(*ParseDuration("30d", "--ttl"), 30 * 86400);
}

TEST(ParseDurationTest, RejectsZeroJunkAndTooLong) {
  for (const char* bad :
       {"", "0", "0s", "5x", "-5", "m", "1h30", "0h30", "31d", "1.5h", " 5s", "99999999999"}) {
    EXPECT_EQ(ParseDuration(bad, "--ttl").status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(ParseFractionTest, AcceptsNumbersAndPercentages) {
  EXPECT_EQ(*ParseFraction("0.25", "F"), 0.25);
  EXPECT_EQ(*ParseFraction("25%", "F"), 0.25);
  EXPECT_EQ(*ParseFraction("0", "F"), 0.0);
  EXPECT_EQ(*ParseFraction("1", "F"), 1.0);
  EXPECT_EQ(*ParseFraction("100%", "F"), 1.0);
}

TEST(ParseFractionTest, RejectsOutOfRangeAndJunk) {
  for (const char* bad : {"", "%", "1.5", "150%", "-0.1", "nan", "inf", "abc", " 0.5", "0.5 "}) {
    EXPECT_EQ(ParseFraction(bad, "F").status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(WriteBodyTest, FaultTtlOverLimitIsUsageError) {
  std::vector<std::string> args = {"fault", "recs", "error", "--ttl", "2d"};
  EXPECT_THAT(std::string(ParseArgs(args).status().message()), HasSubstr("at most 24h"));
}

TEST(WriteBodyTest, OptionsMayComeBeforeOrAfterTheCommand) {
  std::vector<std::string> args = {"--reason=INC-1", "off", "recs", "--ttl", "1m"};
  absl::StatusOr<Invocation> inv = ParseArgs(args);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(WriteBody(*inv, "ana"),
            (json{{"state", "off"}, {"reason", "INC-1"}, {"actor", "ana"}, {"ttl_s", 60}}));
}

TEST(RenderTest, RelativeExpiry) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto at = [&](absl::Duration d) {
    return absl::FormatTime(absl::RFC3339_full, now + d, absl::UTCTimeZone());
  };
  EXPECT_EQ(RelativeExpiry(at(absl::Seconds(45)), now), "in 45s");
  EXPECT_EQ(RelativeExpiry(at(absl::Minutes(14)), now), "in 14m");
  EXPECT_EQ(RelativeExpiry(at(absl::Minutes(125)), now), "in 2h05m");
  EXPECT_EQ(RelativeExpiry(at(absl::Hours(2)), now), "in 2h");
  EXPECT_EQ(RelativeExpiry(at(absl::Hours(28)), now), "in 1d4h");
  // Rounded once, to the unit shown: a TTL read a moment after it was set
  // keeps its round figure at every boundary.
  EXPECT_EQ(RelativeExpiry(at(absl::Seconds(59)), now), "in 59s");
  EXPECT_EQ(RelativeExpiry(at(absl::Seconds(3599)), now), "in 1h");
  EXPECT_EQ(RelativeExpiry(at(absl::Seconds(3569)), now), "in 59m");
  EXPECT_EQ(RelativeExpiry(at(absl::Minutes(90) - absl::Seconds(20)), now), "in 1h30m");
  EXPECT_EQ(RelativeExpiry(at(absl::Hours(24) - absl::Seconds(1)), now), "in 1d");
  EXPECT_EQ(RelativeExpiry(at(absl::Hours(48) - absl::Seconds(1)), now), "in 2d");
  EXPECT_EQ(RelativeExpiry(at(absl::Hours(29) - absl::Seconds(1)), now), "in 1d5h");
  EXPECT_EQ(RelativeExpiry(at(-absl::Seconds(3)), now), "expired");
  EXPECT_EQ(RelativeExpiry("not a time", now), "not a time");
}

TEST(RenderTest, StateLabel) {
  EXPECT_EQ(StateLabel(json{{"state", "on"}, {"allow", 1.0}}), "on");
  EXPECT_EQ(StateLabel(json{{"state", "off"}, {"allow", 1.0}}), "off");
  EXPECT_EQ(StateLabel(json{{"state", "on"}, {"allow", 0.25}}), "on 25%");
  EXPECT_EQ(StateLabel(json{{"state", "on"}, {"fault", {{"kind", "error"}}}}), "on +fault");
  EXPECT_EQ(StateLabel(json{{"allow", "x"}}), "-");
}

TEST(RenderTest, ControlCharactersNeverReachTheTerminal) {
  const json listing = {
      {"switches",
       {{{"name", "recs"}, {"state", "off"}, {"reason", "evil\x1b[2J\nsecond line\x7f"}}}}};
  const std::string table = RenderList(listing, absl::Now());
  EXPECT_THAT(table, AllOf(Not(HasSubstr("\x1b")), Not(HasSubstr("\x7f")),
                           HasSubstr("evil [2J second line")));
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 2);
}

TEST(RenderTest, WrongTypesShowAsDashes) {
  const json listing = {{"switches", {{{"name", 5}, {"state", nullptr}, {"counters", "x"}}}},
                        {"sources", "nope"}};
  EXPECT_THAT(RenderList(listing, absl::Now()), HasSubstr("-"));
  EXPECT_THAT(RenderSwitch(json::array(), absl::Now()), HasSubstr("state        -"));
}

TEST(RenderTest, UndefinedSwitchesAreMarked) {
  const json listing = {{"switches", {{{"name", "ghost"}, {"state", "off"}, {"defined", false}}}}};
  EXPECT_THAT(RenderList(listing, absl::Now()),
              AllOf(HasSubstr("ghost*"), HasSubstr("not defined in this service")));
}

}  // namespace
}  // namespace degrade::ctl
