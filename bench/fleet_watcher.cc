// One member of the fleet in bench/fleet_propagation.cc: a process that
// defines the switch `bench.flip`, starts the library's Runtime from its
// environment (DEGRADE_REMOTE_URLS or DEGRADE_ETCD_ENDPOINTS/PREFIX, exactly
// as a service would), and reports on stdout each time `enabled()` changes:
//
//   ready <enabled 0|1> <pid>           once the runtime has started
//   change <enabled 0|1> <CLOCK_MONOTONIC ns>
//
// The time is taken in a change listener, which the registry runs on the
// thread that applied the change right after the new state became visible
// to enabled(): it is the moment enabled() changed, plus microseconds.
// CLOCK_MONOTONIC is one clock for every process on the host, so the parent
// compares it with the time it made the change.
//
// It exits when its stdin closes (the parent is done or gone), stopping the
// runtime, or at once with status 1 when the runtime does not start.
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>

#include "degrade/degrade.h"

namespace {

DEGRADE_SWITCH(kFlip, "bench.flip", "The switch fleet_propagation flips.");

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// One write(2) per line, so lines from the listener thread and the main
// thread never interleave.
void Emit(const std::string& line) {
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = write(STDOUT_FILENO, p, left);
    if (n <= 0) return;  // the parent is gone; stdin's EOF ends us
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace

int main() {
  degrade::Registry& registry = degrade::Registry::Global();
  registry.SetLogSink([](degrade::LogLevel, std::string_view) {});
  std::atomic<int> last = -1;
  registry.AddListener([&](const degrade::ChangeEvent& event) {
    if (event.name != "bench.flip") return;
    const int64_t now = MonotonicNs();
    const int enabled = kFlip.enabled() ? 1 : 0;
    // Only changes of enabled() count, not of reason or layer.
    if (last.exchange(enabled) == enabled) return;
    Emit("change " + std::to_string(enabled) + " " + std::to_string(now) + "\n");
  });
  auto runtime = degrade::Runtime::FromEnv();
  if (!runtime.ok()) {
    std::fprintf(stderr, "fleet_watcher: %s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  int expected = -1;
  const int enabled = kFlip.enabled() ? 1 : 0;
  last.compare_exchange_strong(expected, enabled);
  Emit("ready " + std::to_string(enabled) + " " + std::to_string(getpid()) + "\n");
  char buf[256];
  while (read(STDIN_FILENO, buf, sizeof buf) > 0) {
  }
  return 0;
}
