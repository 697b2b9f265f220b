// One instance of a fleet for tests/fleet_test.cc: defines the switches
// named on its command line, starts the library's Runtime from its
// environment (DEGRADE_ETCD_ENDPOINTS, DEGRADE_ETCD_PREFIX,
// DEGRADE_INSTANCE_ID, DEGRADE_ETCD_REGISTER_TTL_S, DEGRADE_<NAME> ... as a
// service would), prints "ready" on stdout, and runs until SIGTERM or
// SIGINT, then stops the runtime (which revokes its registration) and
// exits 0. A runtime that does not start: its error on stderr, exit 1.
//
//   fleet_child recs search.suggest
#include <signal.h>

#include <cstdio>
#include <string>

#include "degrade/degrade.h"

int main(int argc, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  degrade::Registry& registry = degrade::Registry::Global();
  registry.SetLogSink([](degrade::LogLevel, std::string_view) {});
  for (int i = 1; i < argc; ++i) {
    auto sw = registry.Define(degrade::SwitchSpec{.name = argv[i], .description = "test switch",
                                                  .groups = {"tier2"}});
    if (!sw.ok()) {
      std::fprintf(stderr, "fleet_child: %s\n", std::string(sw.status().message()).c_str());
      return 1;
    }
  }
  auto runtime = degrade::Runtime::FromEnv();
  if (!runtime.ok()) {
    std::fprintf(stderr, "fleet_child: %s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  runtime->reset();
  return 0;
}
