// basic_demo: degrade in one file, for the README's quick start.
//
//   build/examples/basic_demo
//
// One switch guards a call to a (pretend) recommendations service; the
// fallback is an empty list. The demo shows, step by step:
//   1. the default: the switch is on, calls reach the dependency;
//   2. the environment: the same program started with
//      DEGRADE_RECOMMENDATIONS=off skips the dependency (no code change);
//   3. a config file: with a runtime watching a snapshot file, editing the
//      file turns the switch off, then on again, within a second, while the
//      program runs.
// No admin endpoint or network needed.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "degrade/degrade.h"

extern char** environ;

// The switch: a name, and a description written for the on-call engineer.
DEGRADE_SWITCH_SPEC(kRecommendations,
                    {.name = "recommendations",
                     .description = "Personalized recommendations; the page renders without "
                                    "them.",
                     .owner = "team-discovery",
                     .groups = {"tier2"}});

namespace {

using Items = std::vector<std::string>;

// The "dependency". A real one would be an RPC that can fail or hang.
absl::StatusOr<Items> FetchRecommendations() {
  return Items{"espresso-cups", "milk-frother", "descaler"};
}

// What the page does: call through the switch, fall back to nothing.
void RenderPage(int n) {
  bool fell_back = false;
  Items items = degrade::Call(
      kRecommendations, [] { return FetchRecommendations(); },
      [&] {
        fell_back = true;
        return Items{};
      });
  std::string list;
  for (const std::string& item : items) list += (list.empty() ? "" : ", ") + item;
  std::printf("    page %d: recommendations [%s]  <- %s\n", n, list.c_str(),
              fell_back ? "fallback (dependency skipped)" : "from the dependency");
}

// "off (layer env)", "on (layer default)", with the reason when there is one.
std::string Describe() {
  absl::StatusOr<degrade::SwitchInfo> info =
      degrade::Registry::Global().Get(kRecommendations.name());
  if (!info.ok()) return "unknown";
  std::string out = degrade::DescribeState(info->effective) + " (decided by layer " +
                    std::string(degrade::LayerName(info->deciding_layer));
  if (!info->reason.empty() && info->deciding_layer != degrade::Layer::kDefault) {
    out += ", reason \"" + info->reason + "\"";
  }
  return out + ")";
}

// Writes `content` to `path` the safe way: a temporary file renamed over it.
bool WriteFileAtomically(const std::filesystem::path& path, const std::string& content) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    if (!out.flush()) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

// Waits up to 3 s for the switch to reach `enabled`; returns the wait in ms,
// or -1.
long WaitForSwitch(bool enabled) {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(3)) {
    if (kRecommendations.enabled() == enabled) {
      return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - start)
                                   .count());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

// Step 2 runs in a child process: the environment layer is read when a
// switch is defined, that is when a program starts.
int RunWithEnvOff(const char* self) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string(*e).rfind("DEGRADE_RECOMMENDATIONS=", 0) != 0) env_strings.push_back(*e);
  }
  env_strings.push_back("DEGRADE_RECOMMENDATIONS=off");
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string flag = "--env-step";
  char* argv[] = {const_cast<char*>(self), flag.data(), nullptr};
  std::fflush(stdout);
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, envp.data()) != 0) {
    std::printf("    (could not start the child process)\n");
    return 1;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--env-step") {
    std::printf("    [child] DEGRADE_RECOMMENDATIONS=%s; the switch is %s\n",
                std::getenv("DEGRADE_RECOMMENDATIONS"), Describe().c_str());
    for (int i = 1; i <= 2; ++i) RenderPage(i);
    return 0;
  }

  std::printf("degrade basic demo\n");
  std::printf("The switch \"%s\" (env var %s) guards a call to a recommendations service.\n",
              std::string(kRecommendations.name()).c_str(),
              degrade::EnvVarForSwitch(kRecommendations.name()).c_str());
  std::printf("Its fallback is an empty list: the page renders without recommendations.\n\n");

  std::printf("Step 1: no configuration. The switch is %s.\n", Describe().c_str());
  for (int i = 1; i <= 2; ++i) RenderPage(i);

  std::printf(
      "\nStep 2: the same program started with DEGRADE_RECOMMENDATIONS=off\n"
      "        (a deploy-time switch: no code change, no rebuild).\n");
  if (RunWithEnvOff(argv[0]) != 0) return 1;

  std::printf(
      "\nStep 3: a config file, watched while the program runs\n"
      "        (DEGRADE_CONFIG_FILE=PATH, or Options::config_file).\n");
  std::error_code ec;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("degrade-basic-demo-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir, ec);
  const std::filesystem::path file = dir / "degrade.json";
  const std::string empty = R"({"switches": {}})";
  const std::string off =
      R"({"switches": {"recommendations": {"state": "off", "reason": "vendor outage INC-7"}}})";
  if (!WriteFileAtomically(file, empty)) {
    std::printf("    cannot write %s\n", file.c_str());
    return 1;
  }
  degrade::Options options;
  options.config_file = file.string();
  absl::StatusOr<std::unique_ptr<degrade::Runtime>> runtime = degrade::Runtime::Start(options);
  if (!runtime.ok()) {
    std::printf("    runtime: %s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  std::printf("    started a runtime watching %s\n", file.c_str());
  std::printf("    file: %s -> the switch is %s\n", empty.c_str(), Describe().c_str());
  RenderPage(1);

  int failures = 0;
  WriteFileAtomically(file, off);
  long ms = WaitForSwitch(false);
  std::printf("    file: %s\n", off.c_str());
  if (ms < 0) {
    std::printf("    the switch did not go off within 3 s\n");
    ++failures;
  } else {
    std::printf("    -> %ld ms later the switch is %s\n", ms, Describe().c_str());
  }
  RenderPage(2);

  WriteFileAtomically(file, empty);
  ms = WaitForSwitch(true);
  std::printf("    file: %s\n", empty.c_str());
  if (ms < 0) {
    std::printf("    the switch did not come back on within 3 s\n");
    ++failures;
  } else {
    std::printf("    -> %ld ms later the switch is %s\n", ms, Describe().c_str());
  }
  RenderPage(3);

  runtime->reset();
  std::filesystem::remove_all(dir, ec);
  absl::StatusOr<degrade::SwitchInfo> info =
      degrade::Registry::Global().Get(kRecommendations.name());
  if (info.ok()) {
    const degrade::Counters& c = info->counters;
    std::printf(
        "\nCounters of this process: calls %llu, from the dependency %llu, skipped %llu, "
        "fallbacks %llu\n",
        static_cast<unsigned long long>(c.calls), static_cast<unsigned long long>(c.primary_ok),
        static_cast<unsigned long long>(c.skipped), static_cast<unsigned long long>(c.fallbacks));
  }
  std::printf("%s\n", failures == 0 ? "basic demo: done" : "basic demo: FAILED");
  return failures == 0 ? 0 : 1;
}
