// degradectl: list and change a service's switches from the command line.
//
//   degradectl --admin http://127.0.0.1:9090 off recommendations --reason INC-42 --ttl 15m
//
// Three steps, kept apart so that a new control plane or a new command is an
// addition: ctl_args parses the command line, a Backend (ctl_backend.h) talks
// to the control plane, ctl_render turns the listing JSON into text.
//
// Exit status: 0 ok, 1 failure (the service refused, failed or could not be
// reached), 2 usage error.
#include <pthread.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ctl_args.h"
#include "ctl_backend.h"
#include "ctl_render.h"
#include "ctl_strings.h"
#include "drill.h"
#include "drill_report.h"

// The project's version, from meson (tools/meson.build).
#ifndef DEGRADE_VERSION
#error "DEGRADE_VERSION must be defined by the build"
#endif

namespace degrade::ctl {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

std::string GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// The login name: who sits at the terminal, then who the shell says, then
// who owns the process.
std::string LoginName() {
  char buf[256];
  if (getlogin_r(buf, sizeof buf) == 0 && buf[0] != '\0') return buf;
  if (std::string user = GetEnv("USER"); !user.empty()) return user;
  struct passwd pw;
  struct passwd* found = nullptr;
  char pwbuf[4096];
  if (getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return "";
}

int UsageError(std::string_view message, const Command* command) {
  std::cerr << "degradectl: " << message << "\n";
  if (command != nullptr) {
    std::cerr << "run 'degradectl " << command->name << " --help' for its usage\n";
  } else {
    std::cerr << "run 'degradectl help' for usage\n";
  }
  return kExitUsage;
}

int Failure(const absl::Status& status) {
  std::cerr << "degradectl: " << status.message() << "\n";
  return kExitFailure;
}

void PrintBody(const std::string& body) {
  std::cout << body;
  if (!body.empty() && body.back() != '\n') std::cout << "\n";
}

// Runs a write, then shows the switch as it is after it. The service may
// answer a write with the switch or with nothing; ask when it did not say.
int Write(Backend& backend, const Invocation& inv, absl::StatusOr<Reply> reply) {
  if (!reply.ok()) return Failure(reply.status());
  // The service accepted the value but ignored part of it (an unknown
  // field, say): the operator should know.
  if (const auto it = reply->json.find("warnings");
      reply->json.is_object() && it != reply->json.end() && it->is_array()) {
    for (const auto& w : *it) {
      if (w.is_string()) {
        std::cerr << "degradectl: warning from the service: " << w.get<std::string>() << "\n";
      }
    }
  }
  const std::string& name = inv.args[0];
  // An etcd reply ("key") is the entry as written: complete, nothing to ask.
  if (!reply->json.is_object() ||
      (!reply->json.contains("state") && !reply->json.contains("key"))) {
    reply = backend.Get(name);
    if (!reply.ok()) {
      return Failure(absl::Status(reply.status().code(),
                                  absl::StrCat("the change was made, but reading it back failed: ",
                                               reply.status().message())));
    }
  }
  if (inv.json) {
    PrintBody(reply->body);
  } else {
    std::cout << RenderWriteResult(reply->json, absl::Now());
  }
  return kExitOk;
}

// etcd, for --etcd or DEGRADE_ETCD_ENDPOINTS (ChoosePlane): the prefix and
// user from the flags or the instances' own variables, the password only
// from DEGRADE_ETCD_PASSWORD, the CA bundle for https members from
// DEGRADE_ETCD_CA_FILE.
absl::StatusOr<std::unique_ptr<Backend>> OpenEtcdBackend(const Invocation& inv) {
  EtcdOptions etcd;
  absl::StatusOr<std::vector<std::string>> endpoints =
      ParseEtcdEndpoints(inv.etcd_endpoints, inv.etcd_endpoints_from);
  if (!endpoints.ok()) return endpoints.status();
  etcd.endpoints = *std::move(endpoints);
  etcd.prefix = !inv.prefix.empty() ? inv.prefix : GetEnv("DEGRADE_ETCD_PREFIX");
  etcd.user = !inv.etcd_user.empty() ? inv.etcd_user : GetEnv("DEGRADE_ETCD_USER");
  etcd.password = GetEnv("DEGRADE_ETCD_PASSWORD");
  etcd.ca_file = GetEnv("DEGRADE_ETCD_CA_FILE");
  if (!etcd.password.empty() && etcd.user.empty()) {
    return absl::InvalidArgumentError(
        "DEGRADE_ETCD_PASSWORD is set but no etcd user: pass --etcd-user USER or set "
        "DEGRADE_ETCD_USER");
  }
  return MakeEtcdBackend(std::move(etcd));
}

// The control plane ChoosePlane chose. Errors are usage errors: what is
// missing or wrong and how to give it.
absl::StatusOr<std::unique_ptr<Backend>> OpenBackend(const Invocation& inv) {
  if (inv.etcd) return OpenEtcdBackend(inv);
  AdminOptions admin;
  admin.url = inv.admin_url;
  admin.token_env = inv.token_env;
  const std::string raw_token = GetEnv(inv.token_env.c_str());
  absl::StatusOr<std::string> token = CleanToken(raw_token, inv.token_env);
  if (!token.ok()) return token.status();
  admin.token = *std::move(token);
  if (inv.command->writes && admin.token.empty()) {
    // The service would answer 401; say it before sending anything.
    return absl::InvalidArgumentError(absl::StrCat(
        AV(inv.command->name), " changes the service and needs its admin token: ",
        raw_token.empty() ? "set " : "", inv.token_env,
        raw_token.empty() ? "" : " holds only whitespace; set it",
        " to the service's admin token (the DEGRADE_ADMIN_TOKEN it runs with)"));
  }
  return MakeAdminBackend(std::move(admin));
}

// Runs a read and prints the reply: the service's JSON, or `render`ed.
int Show(absl::StatusOr<Reply> reply, const Invocation& inv,
         std::string (*render)(const nlohmann::json&, absl::Time)) {
  if (!reply.ok()) return Failure(reply.status());
  if (inv.json) {
    PrintBody(reply->body);
  } else {
    std::cout << render(reply->json, absl::Now());
  }
  return kExitOk;
}

// Ctrl-C and SIGTERM end a drill early, cleanly: the drill's threads never
// see the signals (blocked before they start); this thread collects them and
// tells the drill to stop, which clears the fault and writes the report.
class SignalWatcher {
 public:
  explicit SignalWatcher(DrillStop& stop) : stop_(stop) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this] {
      const timespec tick = {0, 100'000'000};
      while (!done_.load()) {
        const int sig = sigtimedwait(&set_, nullptr, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
          if (!stop_.stopped()) {
            std::cerr << "degradectl: " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                      << ": ending the drill, clearing the fault\n";
          }
          stop_.Stop();
        }
      }
    });
  }
  ~SignalWatcher() {
    done_.store(true);
    thread_.join();
  }

 private:
  DrillStop& stop_;
  sigset_t set_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

int Drill(Backend& backend, const Invocation& inv, std::string_view admin_url) {
  const std::string actor = inv.actor ? *inv.actor : LoginName();
  const std::string id = absl::StrCat(
      "drill ", absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone()), "-",
      getpid());
  absl::StatusOr<DrillPlan> plan = MakeDrillPlan(inv, admin_url, actor, id);
  if (!plan.ok()) return Failure(plan.status());

  DrillStop stop;
  absl::StatusOr<DrillOutcome> outcome;
  {
    SignalWatcher signals(stop);
    outcome = RunDrill(backend, *plan, stop, std::cerr);
  }
  if (!outcome.ok()) return Failure(outcome.status());

  const DrillTimeline& tl = outcome->timeline;
  const DrillFigures figures = ComputeFigures(tl);
  const std::vector<ObjectiveResult> objectives = CheckObjectives(figures, plan->objectives);
  const nlohmann::json report = ReportJson(plan->settings, tl, figures, objectives);
  int status = kExitOk;
  const std::string report_text =
      report.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  for (const auto& [path, text] :
       {std::pair<std::string, std::string>(plan->json_path, report_text),
        std::pair<std::string, std::string>(
            plan->html_path, ReportHtml(plan->settings, tl, figures, objectives))}) {
    if (absl::Status s = WriteFileAtomically(path, text); !s.ok()) {
      std::cerr << "degradectl: the report could not be written: " << s.message() << "\n";
      status = kExitFailure;
    }
  }
  if (inv.json) {
    std::cout << report_text;
  } else {
    std::cout << ReportSummary(plan->settings, tl, figures, objectives);
    std::cout << "report: " << plan->json_path << ", " << plan->html_path << "\n";
  }
  if (tl.interrupted || !tl.error.empty() || !outcome->clear_error.empty()) status = kExitFailure;
  for (const ObjectiveResult& o : objectives) {
    if (!o.met) status = kExitFailure;
  }
  return status;
}

// `watch`: changes on stdout as they come, one line each, flushed, until
// Ctrl-C (SIGINT), SIGTERM, --count or --for. Signals are taken by a thread
// of ours (sigtimedwait) rather than a handler, so stopping can unblock a
// pending request; the watch then ends normally, with status 0.
int Watch(Backend& backend, const Invocation& inv) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  WatchStop stop;
  const absl::Time deadline =
      inv.for_s ? absl::Now() + absl::Seconds(*inv.for_s) : absl::InfiniteFuture();
  std::thread stopper([&] {
    while (!stop.stopped()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      const timespec wait = absl::ToTimespec(std::min(left, absl::Milliseconds(100)));
      if (sigtimedwait(&signals, nullptr, &wait) > 0) break;
    }
    stop.Stop();
  });

  int64_t seen = 0;
  WatchSink sink;
  sink.on_event = [&](const WatchEvent& event) {
    if (inv.json) {
      std::cout << WatchEventJson(event) << "\n";
    } else {
      std::cout << RenderWatchEvent(event, absl::Now()) << "\n";
    }
    std::cout.flush();
    if (inv.count && ++seen >= *inv.count) stop.Stop();
  };
  sink.on_notice = [](std::string_view text) {
    std::cerr << "degradectl: " << text << "\n";
  };
  const absl::Status status = backend.Watch(stop, sink);
  stop.Stop();
  stopper.join();
  if (!status.ok()) return Failure(status);
  return kExitOk;
}

int Execute(Backend& backend, const Invocation& inv, std::string_view admin_url) {
  const std::string_view cmd = inv.command->name;
  if (cmd == "watch") return Watch(backend, inv);
  if (cmd == "list") return Show(backend.List(), inv, RenderList);
  if (cmd == "inventory") {
    absl::StatusOr<Reply> reply = backend.List();
    if (!reply.ok()) return Failure(reply.status());
    if (inv.json) {
      PrintBody(InventoryFromListing(reply->json).dump(-1, ' ', false,
                                                       nlohmann::json::error_handler_t::replace));
    } else {
      std::cout << RenderInventory(reply->json);
    }
    return kExitOk;
  }
  if (cmd == "drill") return Drill(backend, inv, admin_url);
  if (cmd == "get") return Show(backend.Get(inv.args[0]), inv, RenderSwitch);
  const std::string actor = inv.actor ? *inv.actor : LoginName();
  if (cmd == "shed") {
    absl::StatusOr<Reply> reply =
        inv.args[0] == "clear" ? backend.ClearShed(actor, inv.reason.value_or(""))
                               : backend.SetShed(ShedBody(inv, actor));
    return Show(std::move(reply), inv, RenderShedResult);
  }
  if (cmd == "governor") {
    absl::StatusOr<Reply> reply =
        inv.args[0] == "clear" ? backend.ClearGovernor(actor, inv.reason.value_or(""))
                               : backend.SetGovernor(GovernorBody(inv, actor));
    return Show(std::move(reply), inv, RenderGovernorResult);
  }
  if (cmd == "clear") return Write(backend, inv, backend.Clear(inv.args[0], actor, inv.reason.value_or("")));
  return Write(backend, inv, backend.Put(inv.args[0], WriteBody(inv, actor)));  // on, off, ...
}

int Run(const std::vector<std::string>& args) {
  // Before anything quotes an argument: a token pasted onto the command line
  // is refused, so it never reaches a message, a request path or a body.
  const std::string token_env = TokenEnvFromArgs(args);
  if (absl::StatusOr<std::string> token = CleanToken(GetEnv(token_env.c_str()), token_env);
      token.ok()) {
    if (absl::Status s = CheckTokenNotInArgs(args, *token, token_env); !s.ok()) {
      return UsageError(SV(s.message()), nullptr);
    }
  }
  absl::StatusOr<Invocation> inv = ParseArgs(args);
  if (!inv.ok()) {
    // Point at the command's help when the command itself was understood.
    const Command* command = nullptr;
    for (const std::string& a : args) {
      if ((command = FindCommand(a)) != nullptr) break;
    }
    return UsageError(SV(inv.status().message()), command);
  }
  if (inv->version) {
    std::cout << "degradectl " << DEGRADE_VERSION << "\n";
    return kExitOk;
  }
  if (inv->help) {
    std::cout << (inv->command != nullptr ? CommandHelp(*inv->command) : GeneralHelp());
    return kExitOk;
  }
  const PlaneEnv env = {.admin_url = GetEnv("DEGRADE_ADMIN_URL"),
                        .etcd_endpoints = GetEnv("DEGRADE_ETCD_ENDPOINTS")};
  if (absl::Status s = ChoosePlane(*inv, env); !s.ok()) {
    return UsageError(SV(s.message()), inv->command);
  }
  absl::StatusOr<std::unique_ptr<Backend>> backend = OpenBackend(*inv);
  if (!backend.ok()) return UsageError(SV(backend.status().message()), inv->command);
  return Execute(**backend, *inv, inv->admin_url);
}

}  // namespace
}  // namespace degrade::ctl

int main(int argc, char** argv) {
  // Nothing below throws by design (JSON is parsed without exceptions); this
  // only keeps an allocation failure from ending in std::terminate.
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    const int status = degrade::ctl::Run(args);
    std::cout.flush();
    return std::cout.good() ? status : 1;
  } catch (const std::exception& e) {
    std::cerr << "degradectl: internal error: " << e.what() << "\n";
    return 1;
  }
}
