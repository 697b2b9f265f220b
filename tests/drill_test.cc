// `degradectl drill` end to end: the demo service (examples/shop_service with
// three examples/fake_dependency processes) on loopback, a breaker policy
// from a config file, and real drills run as the built degradectl. The
// report's numbers are checked against what the service itself logged (its
// change events, one JSON line each, with the service's timestamps), and
// the switch is checked through the admin endpoint after every drill.
//
// Binaries come from meson: $DEGRADECTL, $SHOP_SERVICE, $FAKE_DEPENDENCY.
// Every process started here is stopped by the fixture, also on failure.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ctl_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace degrade::ctl {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kToken[] = "drill-test-token";
// The breaker under test: opens when half the calls of the last 2 s failed
// (at least 5 calls), probes after 1 s with 2 calls.
constexpr double kWindowMs = 2000;
constexpr double kOpenMs = 1000;
constexpr double kIntervalMs = 50;
// What a loaded 2-core machine adds to one HTTP round trip, generously:
// CI runs this beside a soak test and background compiles, and again under
// ASan. The figures checked are still bounded well inside the window and
// the open period they are measured against.
constexpr double kSlackMs = 800;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Binary(const char* var) {
  const char* v = std::getenv(var);
  return v == nullptr ? std::string() : std::string(v);
}

// A child process with stdout and stderr in files.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::vector<std::string>& extra_env,
          std::string out_path, std::string err_path)
      : out_path_(std::move(out_path)), err_path_(std::move(err_path)) {
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) {
      if (!absl::StartsWith(*e, "DEGRADE_")) env_s.emplace_back(*e);
    }
    env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> args, envp;
    for (auto& s : argv) args.push_back(s.data());
    for (auto& s : env_s) envp.push_back(s.data());
    args.push_back(nullptr);
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Process() { Stop(); }

  bool started() const { return pid_ > 0; }
  void Signal(int sig) const {
    if (pid_ > 0 && !exit_code_) kill(pid_, sig);
  }

  // The exit code (128 + signal when killed), or nullopt after `limit`.
  std::optional<int> Wait(absl::Duration limit) {
    if (exit_code_ || pid_ <= 0) return exit_code_;
    const absl::Time deadline = absl::Now() + limit;
    while (true) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exit_code_;
      }
      if (absl::Now() >= deadline) return std::nullopt;
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  void Stop() {
    if (pid_ <= 0 || exit_code_) return;
    kill(pid_, SIGTERM);
    if (!Wait(absl::Seconds(5))) {
      kill(pid_, SIGKILL);
      Wait(absl::Seconds(5));
    }
  }

  std::string out() const { return ReadFile(out_path_); }
  std::string err() const { return ReadFile(err_path_); }

  // The port of "... listening on http://127.0.0.1:PORT" (or of `what` on ...)
  // in stdout, waiting up to 10 s; 0 if it never came.
  int PortOf(const std::string& what = "listening") {
    const std::string marker = what + " on http://127.0.0.1:";
    for (int i = 0; i < 200; ++i) {
      const std::string text = out();
      if (size_t p = text.find(marker); p != std::string::npos) {
        return std::atoi(text.c_str() + p + marker.size());
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return 0;
  }

 private:
  std::string out_path_, err_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

struct ChangeEvent {
  absl::Time time;
  json line;
};

absl::Time ParseTime(const std::string& text) {
  absl::Time t = absl::InfinitePast();
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, text, &t, &err)) << text << ": " << err;
  return t;
}

class DrillTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/degrade-drill-test-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    for (const char* dep : {"recommendations", "reviews", "analytics"}) {
      deps_.push_back(std::make_unique<Process>(
          std::vector<std::string>{Binary("FAKE_DEPENDENCY"), "--name", dep}, std::vector<std::string>{},
          Path(absl::StrCat(dep, ".out")), Path(absl::StrCat(dep, ".err"))));
    }
    std::vector<int> ports;
    for (auto& d : deps_) ports.push_back(d->PortOf());
    std::ofstream(Path("degrade.json")) << R"({"switches": {"recommendations": {"breaker": {
        "window": "time", "window_size": 2, "min_calls": 5, "failure_ratio": 0.5,
        "open_s": 1, "half_open_calls": 2}}}})";
    shop_ = new Process(
        {Binary("SHOP_SERVICE"), "--recommendations",
         absl::StrCat("http://127.0.0.1:", ports[0]), "--reviews",
         absl::StrCat("http://127.0.0.1:", ports[1]), "--analytics",
         absl::StrCat("http://127.0.0.1:", ports[2])},
        {"DEGRADE_ADMIN_ADDR=127.0.0.1:0", absl::StrCat("DEGRADE_ADMIN_TOKEN=", kToken),
         "DEGRADE_CONFIG_FILE=" + Path("degrade.json")},
        Path("shop.out"), Path("shop.err"));
    shop_port_ = shop_->PortOf();
    admin_port_ = shop_->PortOf("admin endpoint");
  }

  static void TearDownTestSuite() {
    delete shop_;
    shop_ = nullptr;
    deps_.clear();
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  void SetUp() override {
    ASSERT_FALSE(Binary("DEGRADECTL").empty()) << "meson sets $DEGRADECTL";
    ASSERT_GT(shop_port_, 0) << "shop_service did not start: " << shop_->err();
    ASSERT_GT(admin_port_, 0) << "shop_service has no admin endpoint: " << shop_->out();
    AdminOptions options;
    options.url = Admin();
    options.token = kToken;
    backend_ = *MakeAdminBackend(options);
    // Every drill starts from a closed breaker and no admin entry.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      const json sw = Switch();
      if (sw.value("layer", "") == "default" && sw["breaker"].is_object() &&
          sw["breaker"]["state"] == "closed" && sw["fault"].is_null()) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    FAIL() << "recommendations did not settle: " << Switch().dump();
  }

  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }
  static std::string Admin() { return absl::StrCat("http://127.0.0.1:", admin_port_); }
  static std::string Probe() { return absl::StrCat("http://127.0.0.1:", shop_port_, "/checkout"); }

  json Switch() {
    absl::StatusOr<Reply> r = backend_->Get("recommendations");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->json : json();
  }

  static bool HasAdminEntry(const json& sw) {
    for (const json& l : sw["layers"]) {
      if (l["layer"] == "admin") return true;
    }
    return false;
  }

  // degradectl drill with the test's service and `extra` options.
  std::unique_ptr<Process> StartDrill(const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> argv = {Binary("DEGRADECTL"), "drill", "--admin", Admin(),
                                     "--switch", "recommendations", "--probe", Probe(),
                                     "--interval", absl::StrCat(kIntervalMs, "ms"),
                                     "--out", Path(name)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(argv,
                                      std::vector<std::string>{absl::StrCat(
                                          "DEGRADE_ADMIN_TOKEN=", kToken)},
                                      Path(name + ".stdout"), Path(name + ".stderr"));
  }

  // The service's change events for recommendations at or after `from`.
  static std::vector<ChangeEvent> Events(absl::Time from) {
    std::vector<ChangeEvent> out;
    for (absl::string_view line : absl::StrSplit(shop_->err(), '\n')) {
      if (!absl::StartsWith(line, "{")) continue;
      json j = json::parse(std::string(line), nullptr, false);
      if (!j.is_object() || j.value("event", "") != "change" ||
          j.value("switch", "") != "recommendations") {
        continue;
      }
      const absl::Time t = ParseTime(j["time"]);
      if (t >= from) out.push_back({t, j});
    }
    return out;
  }

  void InterruptDuringTheFault(int sig, const std::string& name);

  static inline std::string* dir_ = nullptr;
  static inline std::vector<std::unique_ptr<Process>> deps_;
  static inline Process* shop_ = nullptr;
  static inline int shop_port_ = 0;
  static inline int admin_port_ = 0;
  std::unique_ptr<Backend> backend_;
};

double MsBetween(absl::Time a, absl::Time b) { return absl::ToDoubleMilliseconds(b - a); }

TEST_F(DrillTest, ReportMatchesWhatTheServiceDid) {
  auto drill = StartDrill("main", {"--fault", "error", "--baseline", "1s", "--duration", "3s",
                                   "--recover-timeout", "20s", "--expect-detect-under", "5s",
                                   "--expect-success-over", "0.9", "--expect-recover-under",
                                   "20s"});
  const std::optional<int> code = drill->Wait(absl::Seconds(60));
  ASSERT_TRUE(code.has_value()) << "the drill did not end within 60 s";
  EXPECT_EQ(*code, 0) << drill->out() << drill->err();
  EXPECT_THAT(drill->out(), HasSubstr("objective detect: under 5.00 s"));

  const json report = json::parse(ReadFile(Path("main.json")), nullptr, false);
  ASSERT_TRUE(report.is_object()) << "no main.json";
  const json& fig = report["figures"];
  const absl::Time start = ParseTime(report["started_at"]);
  const double fault_on = report["fault_on_ms"].get<double>();
  const double fault_off = report["fault_off_ms"].get<double>();
  EXPECT_EQ(report["objectives_met"], true);
  EXPECT_EQ(report["interrupted"], false);

  // What the service logged: the fault arriving, the breaker opening.
  const std::vector<ChangeEvent> events = Events(start);
  std::optional<absl::Time> fault_set, opened;
  for (const ChangeEvent& e : events) {
    if (!fault_set && e.line["new"].contains("fault") && !e.line["old"].contains("fault")) {
      fault_set = e.time;
    } else if (fault_set && !opened && e.line["layer"] == "breaker" &&
               e.line["new"]["state"] == "off") {
      opened = e.time;
    }
  }
  ASSERT_TRUE(fault_set.has_value()) << shop_->err();
  ASSERT_TRUE(opened.has_value()) << shop_->err();

  // The fault was acknowledged right after the service set it.
  const double ack_after_set = fault_on - MsBetween(start, *fault_set);
  EXPECT_GE(ack_after_set, -5) << "acknowledged before the service set it?";
  EXPECT_LE(ack_after_set, kSlackMs);

  // Time to detect: what the service took to open the breaker, seen within
  // one sampling period (plus a round trip).
  const double service_detect = MsBetween(*fault_set, *opened);
  ASSERT_TRUE(fig["detect_ms"].is_number()) << report.dump();
  const double detect = fig["detect_ms"].get<double>();
  EXPECT_EQ(fig["detected_by"], "breaker");
  EXPECT_GE(detect, service_detect - ack_after_set - 5);
  EXPECT_LE(detect, service_detect + kIntervalMs + kSlackMs);
  EXPECT_LE(detect, kWindowMs + kIntervalMs + kSlackMs);
  EXPECT_TRUE(fig["breaker_opened"].get<bool>());

  // The essential path: an error fault falls back at once, checkout is fine.
  EXPECT_GE(fig["baseline"]["probes"].get<int>(), 5);
  EXPECT_EQ(fig["baseline"]["success_ratio"], 1.0);
  EXPECT_GE(fig["fault"]["probes"].get<int>(), 10);
  EXPECT_GE(fig["fault"]["success_ratio"].get<double>(), 0.9);
  EXPECT_EQ(fig["fault"]["probes"].get<int>(), fig["fault_before_detect"]["probes"].get<int>() +
                                                   fig["fault_after_detect"]["probes"].get<int>());
  EXPECT_NEAR(fault_off - fault_on, 3000, 1000);

  // Time to recover: not before the service let calls through again (its
  // last half-open event), and within open_s and the probes after the clear.
  ASSERT_TRUE(fig["recover_ms"].is_number()) << report.dump();
  const double recover = fig["recover_ms"].get<double>();
  std::optional<absl::Time> half_open;
  for (const ChangeEvent& e : events) {
    if (e.line["old_layer"] == "breaker" && e.line["new"]["state"] == "on") half_open = e.time;
  }
  ASSERT_TRUE(half_open.has_value()) << shop_->err();
  EXPECT_GE(recover, MsBetween(start, *half_open) - fault_off - 5);
  EXPECT_LE(recover, kOpenMs + 10 * kIntervalMs + 2 * kSlackMs);

  // Afterwards: no fault, no admin entry, breaker closed; faults were injected.
  const json sw = Switch();
  EXPECT_TRUE(sw["fault"].is_null()) << sw.dump();
  EXPECT_FALSE(HasAdminEntry(sw)) << sw.dump();
  EXPECT_EQ(sw["breaker"]["state"], "closed");
  EXPECT_GT(sw["counters"]["injected_faults"].get<uint64_t>(), 0u);

  const std::string html = ReadFile(Path("main.html"));
  EXPECT_THAT(html, HasSubstr("<svg"));
  EXPECT_THAT(html, HasSubstr("Fire drill: recommendations"));
}

TEST_F(DrillTest, MissedObjectiveExitsOneAndStillClears) {
  auto drill = StartDrill("missed", {"--fault", "error", "--baseline", "500ms", "--duration",
                                     "2s", "--recover-timeout", "10s", "--expect-detect-under",
                                     "1ms"});
  const std::optional<int> code = drill->Wait(absl::Seconds(40));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1) << drill->out() << drill->err();
  EXPECT_THAT(drill->out(), HasSubstr("objective detect: under 1 ms"));
  EXPECT_THAT(drill->out(), HasSubstr("MISSED"));
  const json report = json::parse(ReadFile(Path("missed.json")), nullptr, false);
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["objectives_met"], false);
  EXPECT_EQ(report["objectives"][0]["met"], false);
  const json sw = Switch();
  EXPECT_TRUE(sw["fault"].is_null()) << sw.dump();
  EXPECT_FALSE(HasAdminEntry(sw)) << sw.dump();
}

// Starts a long drill, waits for its fault to be in the listing, sends
// `sig`, and checks that the drill ended, cleared the fault and reported.
void DrillTest::InterruptDuringTheFault(int sig, const std::string& name) {
  auto drill = StartDrill(name, {"--fault", "delay", "--delay-ms", "50", "--baseline", "300ms",
                                 "--duration", "30s"});
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  bool injected = false;
  while (!injected && absl::Now() < deadline) {
    injected = Switch()["fault"].is_object();
    if (!injected) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(injected) << drill->err();
  absl::SleepFor(absl::Milliseconds(300));
  drill->Signal(sig);
  const std::optional<int> code = drill->Wait(absl::Seconds(20));
  ASSERT_TRUE(code.has_value()) << "the drill did not end within 20 s of the signal";
  EXPECT_EQ(*code, 1);
  EXPECT_THAT(drill->err(), HasSubstr(absl::StrCat(sig == SIGINT ? "SIGINT" : "SIGTERM",
                                                   ": ending the drill, clearing the fault")));
  const json sw = Switch();
  EXPECT_TRUE(sw["fault"].is_null()) << sw.dump();
  EXPECT_FALSE(HasAdminEntry(sw)) << sw.dump();
  const json report = json::parse(ReadFile(Path(name + ".json")), nullptr, false);
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["interrupted"], true);
  EXPECT_TRUE(report["fault_off_ms"].is_number());
  EXPECT_LT(report["fault_off_ms"].get<double>() - report["fault_on_ms"].get<double>(), 20000);
}

TEST_F(DrillTest, SigintClearsTheFault) { InterruptDuringTheFault(SIGINT, "sigint"); }

TEST_F(DrillTest, SigtermClearsTheFault) { InterruptDuringTheFault(SIGTERM, "sigterm"); }

TEST_F(DrillTest, RefusesASwitchWithAnAdminOverride) {
  ASSERT_TRUE(backend_->Put("recommendations", {{"state", "off"}, {"reason", "INC-1"}}).ok());
  auto drill = StartDrill("refused", {"--fault", "error", "--duration", "2s"});
  const std::optional<int> code = drill->Wait(absl::Seconds(20));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  EXPECT_THAT(drill->err(), HasSubstr("drill refused, nothing was injected: recommendations "
                                      "has an admin-layer entry"));
  const json sw = Switch();  // the operator's override is untouched
  EXPECT_EQ(sw["state"], "off");
  EXPECT_EQ(sw["layer"], "admin");
  EXPECT_EQ(sw["reason"], "INC-1");
  EXPECT_TRUE(sw["fault"].is_null());
  ASSERT_TRUE(backend_->Clear("recommendations", "test", "").ok());
}

TEST_F(DrillTest, ProbeThatNeverSucceedsInjectsNothing) {
  std::vector<std::string> argv = {Binary("DEGRADECTL"), "drill", "--admin", Admin(),
                                   "--switch", "recommendations", "--fault", "error",
                                   "--probe", absl::StrCat("http://127.0.0.1:", shop_port_, "/nope"),
                                   "--baseline", "500ms", "--duration", "2s",
                                   "--out", Path("noprobe")};
  const absl::Time before = absl::Now();
  Process drill(argv, {absl::StrCat("DEGRADE_ADMIN_TOKEN=", kToken)}, Path("noprobe.stdout"),
                Path("noprobe.stderr"));
  const std::optional<int> code = drill.Wait(absl::Seconds(20));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  EXPECT_THAT(drill.err(), HasSubstr("succeeded during the baseline (last: HTTP 404); nothing "
                                     "was injected"));
  EXPECT_EQ(Events(before).size(), 0u) << "the switch changed";
  EXPECT_TRUE(Switch()["fault"].is_null());
}

TEST_F(DrillTest, MissingReportDirectoryFailsBeforeInjecting) {
  auto drill = StartDrill("nodir", {"--fault", "error", "--duration", "2s", "--out",
                                    Path("no/such/dir/x")});
  const std::optional<int> code = drill->Wait(absl::Seconds(20));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  EXPECT_THAT(drill->err(), HasSubstr("does not exist or is not writable"));
  EXPECT_TRUE(Switch()["fault"].is_null());
}

TEST_F(DrillTest, UsageErrorsExitTwo) {
  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--fault", "crash"}, "--fault \"crash\" is not a drill fault; accepted: error, delay"},
           {{"--fault", "delay"}, "drill --fault delay needs --delay-ms N"},
           {{"--fault", "error", "--duration", "forever"}, "--duration \"forever\" is not valid"},
           {{"--fault", "error", "--expect-success-over", "99"}, "is not a fraction"}}) {
    auto drill = StartDrill("usage", args);
    const std::optional<int> code = drill->Wait(absl::Seconds(10));
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 2) << message;
    EXPECT_THAT(drill->err(), HasSubstr(message));
    EXPECT_THAT(drill->err(), HasSubstr("run 'degradectl drill --help'"));
  }
  EXPECT_TRUE(Switch()["fault"].is_null());
}

TEST_F(DrillTest, InventoryListsTheDemoServiceSwitches) {
  Process table({Binary("DEGRADECTL"), "--admin", Admin(), "inventory"}, {}, Path("inv.out"),
                Path("inv.err"));
  ASSERT_EQ(table.Wait(absl::Seconds(10)), 0) << table.err();
  EXPECT_THAT(table.out(), HasSubstr("NAME             OWNER           GROUPS  BREAKER"));
  EXPECT_THAT(table.out(), HasSubstr("recommendations  team-discovery  tier2   yes"));
  EXPECT_THAT(table.out(), HasSubstr("analytics        team-data       tier3   no"));
  EXPECT_THAT(table.out(), HasSubstr("3 switch(es)\n"));

  Process as_json({Binary("DEGRADECTL"), "--admin", Admin(), "--json", "inventory"}, {},
                  Path("invj.out"), Path("invj.err"));
  ASSERT_EQ(as_json.Wait(absl::Seconds(10)), 0) << as_json.err();
  const json j = json::parse(as_json.out(), nullptr, false);
  ASSERT_TRUE(j.is_object()) << as_json.out();
  ASSERT_EQ(j["switches"].size(), 3u);
  EXPECT_EQ(j["switches"][0]["name"], "analytics");
  EXPECT_EQ(j["switches"][1]["owner"], "team-discovery");
  EXPECT_EQ(j["switches"][1]["breaker"], true);
  EXPECT_EQ(j["switches"][2]["groups"], json::array({"tier2"}));
}

}  // namespace
}  // namespace degrade::ctl
