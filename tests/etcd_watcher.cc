// A watcher process for the multi-process etcd tests (and anyone who wants
// to see a fleet member from the outside):
//
//   export DEGRADE_ETCD_ENDPOINTS=http://127.0.0.1:2379
//   export DEGRADE_ETCD_PREFIX=/degrade/shop
//   etcd_watcher recs search.suggest
//
// Defines each named switch, starts the runtime from the environment, and
// prints one line with every switch's effective state at start and after
// each change:
//   state recs=off search.suggest=on
// It exits when its standard input closes (or on a signal), so the parent
// stops it by closing the pipe. Exit code 2 for bad arguments, 1 when the
// runtime does not start.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "degrade/registry.h"
#include "degrade/runtime.h"

namespace {

std::mutex print_mu;

void PrintState(const std::vector<degrade::Switch*>& switches) {
  std::string line = "state";
  for (degrade::Switch* s : switches) {
    // Appended piece by piece: a chain of std::string operator+ here made
    // gcc 12 at -O3 report a false -Wrestrict inside libstdc++.
    line += ' ';
    line += s->name();
    line += s->enabled() ? "=on" : "=off";
  }
  std::lock_guard<std::mutex> lock(print_mu);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: etcd_watcher SWITCH...  (env: DEGRADE_ETCD_ENDPOINTS, "
                         "DEGRADE_ETCD_PREFIX)\n");
    return 2;
  }
  degrade::Registry& registry = degrade::Registry::Global();
  std::vector<degrade::Switch*> switches;
  for (int i = 1; i < argc; ++i) {
    degrade::SwitchSpec spec;
    spec.name = argv[i];
    spec.description = "watched by etcd_watcher";
    auto s = registry.Define(spec);
    if (!s.ok()) {
      std::fprintf(stderr, "etcd_watcher: %s\n", std::string(s.status().message()).c_str());
      return 2;
    }
    switches.push_back(*s);
  }
  registry.AddListener([&](const degrade::ChangeEvent&) { PrintState(switches); });
  auto runtime = degrade::Runtime::FromEnv();
  if (!runtime.ok()) {
    std::fprintf(stderr, "etcd_watcher: %s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  PrintState(switches);
  char buf[256];
  while (::read(0, buf, sizeof(buf)) > 0) {
  }
  return 0;
}
