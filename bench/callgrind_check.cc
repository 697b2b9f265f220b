// Instructions per Switch::enabled(), counted by callgrind rather than timed.
//
// `perf stat` has no hardware counters on the benchmark VM, and Google
// Benchmark picks its iteration count by time, so instruction counts come
// from this program: each loop runs a fixed kIterations times in its own
// noinline extern "C" function, and bench/report.py runs
//
//   valgrind --tool=callgrind --toggle-collect=degrade_cg_loop_<name>
//            callgrind_check <name>
//
// once per loop. Instructions per check = (Ir(loop) - Ir(empty)) /
// kIterations, where `empty` is the same loop with no check in it, so the
// loop's own counter, compare and jump (and the barrier, which emits no
// instruction) are subtracted.
//
// The check is used the way callers use it, as a branch:
//   if (kSwitch.enabled()) asm volatile("");
// The empty asm is volatile, so the branch around it has to stay, but emits
// no instruction itself; every loop ends its iteration with
// asm volatile("" ::: "memory") so the load cannot be hoisted out of it.
//
// Loops: empty, on, off, raw (relaxed std::atomic<bool> load), and for
// information dimmed (allow 0.5; calls the out-of-line generator) and
// call_skip / call_primary (degrade::Call on an off / on switch: load,
// per-thread counter, fallback or primary).
//
// Run with no argument it runs every loop and prints the sums (a smoke run).
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "degrade/call.h"
#include "degrade/registry.h"
#include "degrade/switch.h"

namespace degrade_cg {

DEGRADE_SWITCH(kCgOn, "bench.callgrind.on", "Callgrind check switch, left on.");
DEGRADE_SWITCH(kCgOff, "bench.callgrind.off", "Callgrind check switch, turned off.");
DEGRADE_SWITCH(kCgDimmed, "bench.callgrind.dimmed", "Callgrind check switch, allow 0.5.");

std::atomic<bool> g_raw_flag{true};

}  // namespace degrade_cg

namespace {

constexpr int64_t kIterations = 10'000'000;

inline void Barrier() { asm volatile("" ::: "memory"); }

}  // namespace

// Each returns how many checks were true, so a caller can see the loop ran.
extern "C" {

__attribute__((noinline)) int64_t degrade_cg_loop_empty() {
  for (int64_t i = 0; i < kIterations; ++i) Barrier();
  return 0;
}

__attribute__((noinline)) int64_t degrade_cg_loop_on() {
  for (int64_t i = 0; i < kIterations; ++i) {
    if (degrade_cg::kCgOn.enabled()) asm volatile("");
    Barrier();
  }
  return degrade_cg::kCgOn.enabled() ? kIterations : 0;
}

__attribute__((noinline)) int64_t degrade_cg_loop_off() {
  for (int64_t i = 0; i < kIterations; ++i) {
    if (degrade_cg::kCgOff.enabled()) asm volatile("");
    Barrier();
  }
  return degrade_cg::kCgOff.enabled() ? kIterations : 0;
}

__attribute__((noinline)) int64_t degrade_cg_loop_raw() {
  for (int64_t i = 0; i < kIterations; ++i) {
    if (degrade_cg::g_raw_flag.load(std::memory_order_relaxed)) asm volatile("");
    Barrier();
  }
  return degrade_cg::g_raw_flag.load(std::memory_order_relaxed) ? kIterations : 0;
}

__attribute__((noinline)) int64_t degrade_cg_loop_dimmed() {
  int64_t n = 0;
  for (int64_t i = 0; i < kIterations; ++i) {
    if (degrade_cg::kCgDimmed.enabled()) ++n;
    Barrier();
  }
  return n;
}

__attribute__((noinline)) int64_t degrade_cg_loop_call_skip() {
  int64_t n = 0;
  for (int64_t i = 0; i < kIterations; ++i) {
    if (degrade::Call(degrade_cg::kCgOff, [] { return 1; }, [] { return 0; }) != 0) ++n;
    Barrier();
  }
  return n;
}

__attribute__((noinline)) int64_t degrade_cg_loop_call_primary() {
  int64_t n = 0;
  for (int64_t i = 0; i < kIterations; ++i) {
    if (degrade::Call(degrade_cg::kCgOn, [] { return 1; }, [] { return 0; }) != 0) ++n;
    Barrier();
  }
  return n;
}

}  // extern "C"

namespace {

struct Loop {
  const char* name;
  int64_t (*fn)();
};
constexpr Loop kLoops[] = {
    {"empty", degrade_cg_loop_empty},   {"on", degrade_cg_loop_on},
    {"off", degrade_cg_loop_off},       {"raw", degrade_cg_loop_raw},
    {"dimmed", degrade_cg_loop_dimmed}, {"call_skip", degrade_cg_loop_call_skip},
    {"call_primary", degrade_cg_loop_call_primary},
};

bool SetUpSwitches() {
  degrade::Registry& global = degrade::Registry::Global();
  degrade::SwitchValue off;
  off.state = degrade::State::kOff;
  degrade::SwitchValue on;
  on.state = degrade::State::kOn;
  degrade::SwitchValue dimmed;
  dimmed.state = degrade::State::kOn;
  dimmed.allow = 0.5;
  return global.SetOverride(degrade_cg::kCgOn.name(), on).ok() &&
         global.SetOverride(degrade_cg::kCgOff.name(), off).ok() &&
         global.SetOverride(degrade_cg::kCgDimmed.name(), dimmed).ok() &&
         degrade_cg::kCgOn.enabled() && !degrade_cg::kCgOff.enabled();
}

}  // namespace

int main(int argc, char** argv) {
  if (!SetUpSwitches()) {
    std::fprintf(stderr, "callgrind_check: could not set the switches on/off/0.5\n");
    return 1;
  }
  // The calling thread's first Call allocates its counters: not in a loop.
  (void)degrade::Call(degrade_cg::kCgOff, [] { return 1; }, [] { return 0; });
  bool ran = false;
  for (const Loop& loop : kLoops) {
    if (argc > 1 && std::strcmp(argv[1], loop.name) != 0) continue;
    ran = true;
    std::printf("%s %lld iterations, %lld true\n", loop.name,
                static_cast<long long>(kIterations), static_cast<long long>(loop.fn()));
  }
  if (!ran) {
    std::fprintf(stderr, "usage: callgrind_check [empty|on|off|raw|dimmed|call_skip|call_primary]\n");
    return 2;
  }
  return 0;
}
