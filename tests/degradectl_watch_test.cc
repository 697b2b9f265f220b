// `degradectl watch` against the library's admin endpoint on loopback (a
// Runtime with admin_addr 127.0.0.1:0), run as a subprocess ($DEGRADECTL,
// set by meson), plus the pieces it is made of: the listing diff, the
// rendering of one change, and the stop signal.
//
// Watch reads the endpoint's change stream (GET /degrade/v1/events), so it
// reports every change with the actor and reason the service recorded; each
// test waits for watch to say it started before changing anything.
#include <signal.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ctl_args.h"
#include "ctl_backend.h"
#include "ctl_render.h"
#include "ctl_watch.h"
#include "degrade/degrade.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "subprocess.h"

namespace degrade::ctl {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing_util::Subprocess;

constexpr absl::Duration kPatience = absl::Seconds(15);

// A registry with two switches and the library's admin endpoint over it, on
// `port` (0: any free one).
class Service {
 public:
  // `env`: the service's environment variables (none by default).
  explicit Service(int port = 0, std::map<std::string, std::string> env = {})
      : registry_(QuietOptions(this, std::move(env))) {
    EXPECT_TRUE(registry_.Define({.name = "recommendations", .description = "Recs"}).ok());
    EXPECT_TRUE(registry_.Define({.name = "reviews", .description = "Stars"}).ok());
    Options options;
    options.registry = &registry_;
    options.admin_addr = absl::StrCat("127.0.0.1:", port);
    options.admin_token = "t0ken-0123456789ab";
    absl::StatusOr<std::unique_ptr<Runtime>> runtime = Runtime::Start(options);
    EXPECT_TRUE(runtime.ok()) << runtime.status();
    if (runtime.ok()) runtime_ = *std::move(runtime);
  }

  Registry& registry() { return registry_; }
  int port() const { return runtime_ ? runtime_->admin_port() : 0; }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port()); }
  // Stops the endpoint; switch states stay.
  void StopEndpoint() { runtime_.reset(); }

  void Off(const std::string& name, const std::string& reason, const std::string& actor) {
    SwitchValue v;
    v.state = State::kOff;
    v.reason = reason;
    v.actor = actor;
    ASSERT_TRUE(registry_.SetOverride(name, v).ok());
  }

 private:
  // Change lines (SetLogChanges) are kept; nothing else is.
  static Registry::Options QuietOptions(Service* self, std::map<std::string, std::string> env) {
    Registry::Options o;
    o.getenv = [env = std::move(env)](std::string_view name) {
      auto it = env.find(std::string(name));
      return it == env.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
    };
    o.log_sink = [self](LogLevel level, std::string_view line) {
      if (level != LogLevel::kChange) return;
      std::lock_guard<std::mutex> lock(self->mu_);
      self->change_lines_.emplace_back(line);
    };
    return o;
  }

 public:
  std::vector<std::string> change_lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return change_lines_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> change_lines_;

  Registry registry_;
  std::unique_ptr<Runtime> runtime_;
};

std::string Degradectl() {
  const char* path = std::getenv("DEGRADECTL");
  return path == nullptr ? std::string() : std::string(path);
}

// degradectl with `args` and a clean environment.
std::unique_ptr<Subprocess> StartCtl(std::vector<std::string> args) {
  if (Degradectl().empty()) {
    ADD_FAILURE() << "DEGRADECTL is not set (meson sets it to the built degradectl)";
    return nullptr;
  }
  args.insert(args.begin(), Degradectl());
  auto p = std::make_unique<Subprocess>(std::move(args),
                                        std::vector<std::string>{"PATH=/usr/bin:/bin", "HOME=/tmp"});
  EXPECT_TRUE(p->started()) << p->error();
  return p;
}

// Starts `watch` against `service` and waits until it has read the first
// listing, so that every later change is one it must report.
std::unique_ptr<Subprocess> StartWatch(Service& service, std::vector<std::string> extra) {
  std::vector<std::string> args = {"--admin", service.url(), "watch"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::unique_ptr<Subprocess> p = StartCtl(args);
  if (p != nullptr) {
    EXPECT_TRUE(p->WaitForStderr("watching the admin endpoint", kPatience)) << p->err();
  }
  return p;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// ------------------------------------------------------------- end to end

TEST(DegradectlWatchTest, PrintsEachChangeWithStatesLayerActorAndReason) {
  Service service;
  std::unique_ptr<Subprocess> ctl = StartWatch(service, {"--count", "2"});
  ASSERT_NE(ctl, nullptr);
  service.Off("recommendations", "INC-42 vendor 5xx", "ana");
  ASSERT_TRUE(ctl->WaitForStdout("recommendations", kPatience)) << ctl->err();
  ASSERT_TRUE(service.registry().ClearOverride("recommendations").ok());
  EXPECT_EQ(ctl->Finish(kPatience), 0) << ctl->err();
  const std::vector<std::string> lines = Lines(ctl->out());
  ASSERT_EQ(lines.size(), 2u) << ctl->out();
  EXPECT_THAT(lines[0], AllOf(HasSubstr("recommendations: on -> off"),
                              HasSubstr("default -> admin"), HasSubstr("by ana"),
                              HasSubstr("reason \"INC-42 vendor 5xx\"")));
  EXPECT_THAT(lines[1], AllOf(HasSubstr("recommendations: off -> on"),
                              HasSubstr("admin -> default")));
  // Lines start with the UTC time the change was seen, to the millisecond.
  absl::Time t;
  std::string error;
  ASSERT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E3SZ", lines[0].substr(0, 24), &t, &error))
      << lines[0] << ": " << error;
  EXPECT_LT(absl::AbsDuration(absl::Now() - t), absl::Minutes(1));
}

TEST(DegradectlWatchTest, JsonPrintsOneChangeEventPerLine) {
  Service service;
  std::unique_ptr<Subprocess> ctl = StartWatch(service, {"--json", "--count", "1"});
  ASSERT_NE(ctl, nullptr);
  SwitchValue v;
  v.allow = 0.25;
  v.reason = "shed load";
  v.actor = "bo";
  ASSERT_TRUE(service.registry().SetOverride("reviews", v, absl::Minutes(10)).ok());
  EXPECT_EQ(ctl->Finish(kPatience), 0) << ctl->err();
  const std::vector<std::string> lines = Lines(ctl->out());
  ASSERT_EQ(lines.size(), 1u) << ctl->out();
  const json j = json::parse(lines[0], nullptr, false);
  ASSERT_TRUE(j.is_object()) << lines[0];
  EXPECT_EQ(j["event"], "change");
  EXPECT_EQ(j["switch"], "reviews");
  EXPECT_EQ(j["old"], (json{{"state", "on"}}));
  EXPECT_EQ(j["new"], (json{{"state", "on"}, {"allow", 0.25}}));
  EXPECT_EQ(j["old_layer"], "default");
  EXPECT_EQ(j["layer"], "admin");
  EXPECT_EQ(j["actor"], "bo");
  EXPECT_EQ(j["reason"], "shed load");
  EXPECT_TRUE(j["expires_at"].is_string());
  EXPECT_TRUE(j["time"].is_string());
}

TEST(DegradectlWatchTest, JsonLineIsTheServicesChangeLine) {
  Service service;
  service.registry().SetLogChanges(true);
  std::unique_ptr<Subprocess> ctl = StartWatch(service, {"--json", "--count", "2"});
  ASSERT_NE(ctl, nullptr);
  SwitchValue v;
  v.fault = Fault{.kind = Fault::Kind::kError, .rate = 0.5, .delay_ms = 0};
  v.reason = "drill-2";
  v.actor = "bob";
  ASSERT_TRUE(service.registry().SetOverride("reviews", v, absl::Minutes(10)).ok());
  service.Off("recommendations", "INC-42", "ana");
  EXPECT_EQ(ctl->Finish(kPatience), 0) << ctl->err();
  const std::vector<std::string> lines = Lines(ctl->out());
  EXPECT_EQ(lines, service.change_lines());
}

TEST(DegradectlWatchTest, ReportsWhoClearedASwitch) {
  Service service;
  service.Off("recommendations", "INC-42", "bob");
  std::unique_ptr<Subprocess> ctl = StartWatch(service, {"--json", "--count", "1"});
  ASSERT_NE(ctl, nullptr);
  httplib::Client client("127.0.0.1", service.port());
  auto r = client.Delete("/degrade/v1/switches/recommendations",
                         {{"Authorization", "Bearer t0ken-0123456789ab"},
                          {"X-Degrade-Actor", "ana"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(ctl->Finish(kPatience), 0) << ctl->err();
  const json j = json::parse(ctl->out(), nullptr, false);
  ASSERT_TRUE(j.is_object()) << ctl->out();
  EXPECT_EQ(j["actor"], "ana");
  EXPECT_EQ(j["reason"], "admin override by bob (\"INC-42\") cleared");
  EXPECT_EQ(j["layer"], "default");
}

// The issue's two cases through the real degradectl: a fault by bob over a
// switch the environment decides, and a clear by ana.
std::unique_ptr<Subprocess> RunCtlWithToken(Service& service, std::vector<std::string> args) {
  args.insert(args.begin(), {Degradectl(), "--admin", service.url()});
  auto p = std::make_unique<Subprocess>(
      std::move(args), std::vector<std::string>{"PATH=/usr/bin:/bin", "HOME=/tmp",
                                                "DEGRADE_ADMIN_TOKEN=t0ken-0123456789ab"});
  EXPECT_TRUE(p->started()) << p->error();
  return p;
}

TEST(DegradectlWatchTest, FaultByBobOverAnEnvDecidedSwitchIsLoggedAsBobs) {
  Service service(0, {{"DEGRADE_REVIEWS", "25%"}});
  service.registry().SetLogChanges(true);
  std::unique_ptr<Subprocess> ctl =
      RunCtlWithToken(service, {"fault", "reviews", "error", "--rate", "50%", "--reason",
                                "drill-2", "--actor", "bob"});
  ASSERT_EQ(ctl->Finish(kPatience), 0) << ctl->err();
  const std::vector<std::string> lines = service.change_lines();
  ASSERT_EQ(lines.size(), 1u);
  const json j = json::parse(lines[0]);
  EXPECT_EQ(j["actor"], "bob");
  EXPECT_EQ(j["reason"], "drill-2");
  EXPECT_EQ(j["layer"], "env");
  EXPECT_EQ(j["fault_layer"], "admin");
}

TEST(DegradectlWatchTest, ClearByAnaIsLoggedAsAnas) {
  Service service;
  service.Off("recommendations", "INC-42", "bob");
  service.registry().SetLogChanges(true);
  std::unique_ptr<Subprocess> ctl =
      RunCtlWithToken(service, {"clear", "recommendations", "--actor", "ana"});
  ASSERT_EQ(ctl->Finish(kPatience), 0) << ctl->err();
  const std::vector<std::string> lines = service.change_lines();
  ASSERT_EQ(lines.size(), 1u);
  const json j = json::parse(lines[0]);
  EXPECT_EQ(j["actor"], "ana");
  EXPECT_EQ(j["reason"], "admin override by bob (\"INC-42\") cleared");
}

TEST(DegradectlWatchTest, ClearCarriesItsReason) {
  Service service;
  service.Off("recommendations", "INC-42", "bob");
  service.registry().SetLogChanges(true);
  std::unique_ptr<Subprocess> ctl = RunCtlWithToken(
      service, {"clear", "recommendations", "--actor", "ana", "--reason", "vendor back"});
  ASSERT_EQ(ctl->Finish(kPatience), 0) << ctl->err();
  ASSERT_EQ(service.change_lines().size(), 1u);
  EXPECT_EQ(json::parse(service.change_lines()[0])["reason"], "vendor back");
}

TEST(DegradectlWatchTest, ReportsAFaultWithItsLayer) {
  Service service;
  std::unique_ptr<Subprocess> ctl = StartWatch(service, {"--count", "1"});
  ASSERT_NE(ctl, nullptr);
  SwitchValue v;
  v.fault = Fault{.kind = Fault::Kind::kDelay, .rate = 0.5, .delay_ms = 800};
  v.reason = "drill 7";
  v.actor = "cy";
  ASSERT_TRUE(service.registry().SetOverride("reviews", v).ok());
  EXPECT_EQ(ctl->Finish(kPatience), 0) << ctl->err();
  // The state is still the default's; who and why come from the fault's entry.
  EXPECT_THAT(ctl->out(), AllOf(HasSubstr("reviews: on -> on +fault delay 800ms at 50%"),
                                HasSubstr("(default, fault from admin, by cy, reason \"drill 7\")")));
}

TEST(DegradectlWatchTest, ForEndsTheWatchWithStatusZero) {
  Service service;
  const absl::Time start = absl::Now();
  std::unique_ptr<Subprocess> ctl = StartWatch(service, {"--for", "1s"});
  ASSERT_NE(ctl, nullptr);
  EXPECT_EQ(ctl->Finish(kPatience), 0) << ctl->err();
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
  EXPECT_THAT(ctl->out(), IsEmpty());
}

TEST(DegradectlWatchTest, CtrlCEndsTheWatchWithStatusZero) {
  Service service;
  std::unique_ptr<Subprocess> ctl = StartWatch(service, {});
  ASSERT_NE(ctl, nullptr);
  ctl->Signal(SIGINT);
  EXPECT_EQ(ctl->Finish(kPatience), 0) << ctl->err();
}

TEST(DegradectlWatchTest, SigtermEndsTheWatchWithStatusZero) {
  Service service;
  std::unique_ptr<Subprocess> ctl = StartWatch(service, {});
  ASSERT_NE(ctl, nullptr);
  ctl->Signal(SIGTERM);
  EXPECT_EQ(ctl->Finish(kPatience), 0) << ctl->err();
}

TEST(DegradectlWatchTest, LosingTheServiceIsANoticeAndChangesShowWhenItIsBack) {
  auto service = std::make_unique<Service>();
  const int port = service->port();
  std::unique_ptr<Subprocess> ctl = StartWatch(*service, {"--count", "1"});
  ASSERT_NE(ctl, nullptr);
  service.reset();
  ASSERT_TRUE(ctl->WaitForStderr("lost contact with the admin endpoint", kPatience))
      << ctl->err();
  // The service comes back on the same port with a switch turned off.
  service = std::make_unique<Service>(port);
  service->Off("recommendations", "restarted with it off", "deploy");
  EXPECT_EQ(ctl->Finish(kPatience), 0) << ctl->err();
  EXPECT_THAT(ctl->err(), HasSubstr("back in contact"));
  EXPECT_THAT(ctl->out(), HasSubstr("recommendations: on -> off"));
}

TEST(DegradectlWatchTest, UnreachableAtStartIsFailure) {
  Service service;
  const std::string url = service.url();
  service.StopEndpoint();
  std::unique_ptr<Subprocess> ctl = StartCtl({"--admin", url, "watch", "--for", "5s"});
  ASSERT_NE(ctl, nullptr);
  EXPECT_EQ(ctl->Finish(kPatience), 1);
  EXPECT_THAT(ctl->err(), HasSubstr("cannot reach the admin endpoint"));
}

TEST(DegradectlWatchTest, BadCountIsUsageError) {
  for (const char* bad : {"0", "-1", "x", " 3", "1000000001"}) {
    std::unique_ptr<Subprocess> ctl =
        StartCtl({"--admin", "http://127.0.0.1:1", "watch", "--count", bad});
    ASSERT_NE(ctl, nullptr);
    EXPECT_EQ(ctl->Finish(kPatience), 2) << bad;
    EXPECT_THAT(ctl->err(), AllOf(HasSubstr("--count"), HasSubstr("accepted: a whole number")))
        << bad;
  }
}

TEST(DegradectlWatchTest, BadForIsUsageError) {
  std::unique_ptr<Subprocess> ctl =
      StartCtl({"--admin", "http://127.0.0.1:1", "watch", "--for", "soon"});
  ASSERT_NE(ctl, nullptr);
  EXPECT_EQ(ctl->Finish(kPatience), 2);
  EXPECT_THAT(ctl->err(), HasSubstr("--for \"soon\" is not a duration"));
}

TEST(DegradectlWatchTest, WatchOptionsApplyOnlyToWatch) {
  std::unique_ptr<Subprocess> ctl =
      StartCtl({"--admin", "http://127.0.0.1:1", "list", "--count", "1"});
  ASSERT_NE(ctl, nullptr);
  EXPECT_EQ(ctl->Finish(kPatience), 2);
  EXPECT_THAT(ctl->err(), HasSubstr("--count does not apply to list; it applies to: watch"));
}

TEST(DegradectlWatchTest, HelpNamesTheIntervalAndTheWaysToStop) {
  std::unique_ptr<Subprocess> ctl = StartCtl({"watch", "--help"});
  ASSERT_NE(ctl, nullptr);
  EXPECT_EQ(ctl->Finish(kPatience), 0);
  EXPECT_THAT(ctl->out(), AllOf(HasSubstr("every 250 ms"), HasSubstr("--count N"),
                                HasSubstr("--for DURATION"), HasSubstr("Ctrl-C")));
}

// ------------------------------------------------------------------ pieces

json Entry(const std::string& name, const std::string& state, const std::string& layer) {
  return {{"name", name},   {"state", state},   {"allow", 1.0},     {"fault", nullptr},
          {"layer", layer}, {"reason", ""},     {"actor", ""},      {"expires_at", nullptr},
          {"counters", {{"calls", 1}}}};
}

TEST(DiffListingsTest, CountersAloneAreNoChange) {
  json before = {{"switches", {Entry("a", "on", "default")}}};
  json after = before;
  after["switches"][0]["counters"]["calls"] = 99;
  EXPECT_THAT(DiffListings(before, after, absl::Now()), IsEmpty());
}

TEST(DiffListingsTest, ReasonAloneIsAChange) {
  json before = {{"switches", {Entry("a", "off", "admin")}}};
  json after = before;
  after["switches"][0]["reason"] = "now with a ticket";
  std::vector<WatchEvent> events = DiffListings(before, after, absl::Now());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "now with a ticket");
  EXPECT_EQ(events[0].old_value, events[0].new_value);
}

TEST(DiffListingsTest, DefaultLayerPlaceholdersAreNotReported) {
  json before = {{"switches", {Entry("a", "off", "admin")}}};
  json after = {{"switches", {Entry("a", "on", "default")}}};
  after["switches"][0]["actor"] = "code";
  after["switches"][0]["reason"] = "default";
  std::vector<WatchEvent> events = DiffListings(before, after, absl::Now());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].actor, "");
  EXPECT_EQ(events[0].reason, "");
}

TEST(DiffListingsTest, SwitchesThatAppearOrGoHaveANullSide) {
  json before = {{"switches", {Entry("gone", "off", "file")}}};
  json after = {{"switches", {Entry("new", "on", "default")}}};
  std::vector<WatchEvent> events = DiffListings(before, after, absl::Now());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].name, "gone");
  EXPECT_EQ(events[0].old_value, (json{{"state", "off"}}));
  EXPECT_TRUE(events[0].new_value.is_null());
  EXPECT_EQ(events[1].name, "new");
  EXPECT_TRUE(events[1].old_value.is_null());
}

TEST(DiffListingsTest, GarbageReadsAsNoSwitches) {
  EXPECT_THAT(DiffListings(json("x"), json{{"switches", 5}}, absl::Now()), IsEmpty());
  json after = {{"switches", {{{"name", 7}}, Entry("a", "on", "default")}}};
  EXPECT_EQ(DiffListings(json(), after, absl::Now()).size(), 1u);
}

TEST(RenderWatchTest, ValueLabels) {
  EXPECT_EQ(ValueLabel(json()), "(none)");
  EXPECT_EQ(ValueLabel("off"), "off");
  EXPECT_EQ(ValueLabel(json{{"state", "on"}, {"allow", 0.25}}), "on 25%");
  EXPECT_EQ(ValueLabel(json{{"allow", 0.5}}), "on 50%");
  EXPECT_EQ(ValueLabel(json{{"fault", {{"kind", "error"}, {"rate", 1}}}}), "fault error");
  EXPECT_EQ(ValueLabel(json{{"state", "off"}, {"fault", "off"}}), "off +fault off");
  EXPECT_EQ(ValueLabel(json::object()), "{}");
}

TEST(RenderWatchTest, EtcdEventShowsScopeAndRevision) {
  WatchEvent e;
  e.time = absl::FromUnixMillis(1'800'000'000'123);
  e.scope = "group";
  e.name = "tier2";
  e.new_value = "off";
  e.layer = e.old_layer = "etcd";
  e.actor = "ana";
  e.revision = 812;
  e.key = "/degrade/shop/groups/tier2";
  EXPECT_EQ(RenderWatchEvent(e, absl::Now()),
            "2027-01-15T08:00:00.123Z  group tier2: (none) -> off (etcd rev 812, by ana)");
  const json j = json::parse(WatchEventJson(e));
  EXPECT_EQ(j["group"], "tier2");
  EXPECT_FALSE(j.contains("switch"));
  EXPECT_EQ(j["revision"], 812);
  EXPECT_EQ(j["key"], "/degrade/shop/groups/tier2");
  EXPECT_TRUE(j["old"].is_null());
}

TEST(RenderWatchTest, ControlCharactersInReasonsAreBlanked) {
  WatchEvent e;
  e.name = "a";
  e.layer = "admin";
  e.reason = "x\x1b[2Jy\nz";
  const std::string line = RenderWatchEvent(e, absl::Now());
  EXPECT_THAT(line, AllOf(Not(HasSubstr("\x1b")), Not(HasSubstr("\n")), HasSubstr("x [2Jy z")));
}

// ------------------------------------------------------------ StreamWatch

// Answers of the change stream, in order; then stops the watch.
struct ScriptedStream {
  std::vector<absl::StatusOr<json>> answers;
  std::vector<std::optional<uint64_t>> asked;
  WatchStop* stop = nullptr;
  absl::StatusOr<json> operator()(std::optional<uint64_t> after) {
    asked.push_back(after);
    if (asked.size() > answers.size()) {
      stop->Stop();
      return json{{"events", json::array()}, {"next", 0}, {"missed", 0}};
    }
    return answers[asked.size() - 1];
  }
};

TEST(StreamWatchTest, MissedEventsAreANotice) {
  WatchStop stop;
  ScriptedStream stream;
  stream.stop = &stop;
  stream.answers = {
      json{{"events", json::array()}, {"next", 5}, {"missed", 0}},
      json{{"events", json::array({json{{"switch", "a"}, {"seq", 9}, {"actor", "bob"}}})},
           {"next", 9},
           {"missed", 3}},
  };
  std::vector<std::string> notices;
  std::vector<WatchEvent> events;
  WatchSink sink;
  sink.on_event = [&](const WatchEvent& e) { events.push_back(e); };
  sink.on_notice = [&](std::string_view n) { notices.emplace_back(n); };
  bool no_stream = true;
  ASSERT_TRUE(
      StreamWatch(std::ref(stream), "svc", absl::Milliseconds(1), stop, sink, &no_stream).ok());
  EXPECT_FALSE(no_stream);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].actor, "bob");
  EXPECT_THAT(notices, ::testing::Contains(
                           "3 events missed: the service keeps only its most recent changes"));
  ASSERT_GE(stream.asked.size(), 3u);
  EXPECT_EQ(stream.asked[0], std::nullopt);
  EXPECT_EQ(stream.asked[1], 5u);
  EXPECT_EQ(stream.asked[2], 9u);
}

TEST(StreamWatchTest, NotFoundAtFirstMeansNoStream) {
  WatchStop stop;
  ScriptedStream stream;
  stream.stop = &stop;
  stream.answers = {absl::NotFoundError("no degrade admin endpoint")};
  bool no_stream = false;
  ASSERT_TRUE(StreamWatch(std::ref(stream), "svc", absl::Milliseconds(1), stop, WatchSink{},
                          &no_stream)
                  .ok());
  EXPECT_TRUE(no_stream);
  EXPECT_EQ(stream.asked.size(), 1u);
}

TEST(StreamWatchTest, EventBecomesTheSameJsonLine) {
  const std::string line =
      R"({"actor":"bob","event":"change","expires_at":null,"fault_layer":"admin",)"
      R"("layer":"env","new":{"allow":0.25,"fault":{"kind":"error","rate":0.5},"state":"on"},)"
      R"("old":{"allow":0.25,"state":"on"},"old_layer":"env","reason":"drill-2",)"
      R"("switch":"analytics","time":"2026-12-06T04:00:00.25+00:00"})";
  json with_seq = json::parse(line);
  with_seq["seq"] = 7;
  EXPECT_EQ(WatchEventJson(StreamEventToWatchEvent(with_seq)), line);
}

TEST(WatchStopTest, StopRunsCallbacksOnceAndWakesSleepers) {
  WatchStop stop;
  std::atomic<int> calls = 0;
  stop.OnStop([&] { ++calls; });
  std::thread sleeper([&] { EXPECT_TRUE(stop.SleepFor(absl::Seconds(30))); });
  stop.Stop();
  stop.Stop();
  sleeper.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(stop.stopped());
}

TEST(WatchStopTest, CallbackAddedAfterStopRunsAtOnce) {
  WatchStop stop;
  stop.Stop();
  bool ran = false;
  stop.OnStop([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(WatchStopTest, RemovedCallbackDoesNotRun) {
  WatchStop stop;
  bool ran = false;
  stop.RemoveOnStop(stop.OnStop([&] { ran = true; }));
  stop.Stop();
  EXPECT_FALSE(ran);
  EXPECT_FALSE(WatchStop().SleepFor(absl::Milliseconds(1)));
}

}  // namespace
}  // namespace degrade::ctl
