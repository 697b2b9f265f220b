// Hot-path benchmarks for degrade, with the peers in the same binary so that
// every ratio comes from one run on one machine.
//
// Run (numbers for the README: bench/report.py runs this and the callgrind
// check and prints the table with the targets):
//
//   meson setup /tmp/bench-build --buildtype=release -Dtests=false
//   ninja -C /tmp/bench-build
//   /tmp/bench-build/bench/hot_path_benchmark
//   /usr/bin/python3 bench/report.py --build-dir /tmp/bench-build
//
// Last run: /usr/bin/python3 bench/report.py --build-dir build-rel
// --repetitions 5, of a --buildtype=release build (gcc 12.2 -O3 -DNDEBUG), on
// a 2-vCPU KVM Xeon, Debian 12, while other builds shared the machine (load
// average 9-11 on 2 CPUs: "on-cpu" below shows each thread ran for only
// 33-67% of its wall time). Times are CPU time per call; wall times are
// inflated by that load. A second full run three minutes later read
// ApplySnapshot/10000 7.87 ms, the listened one 12.9 ms, the same 447 B, and
// for the nanosecond rows: enabled() off / raw 2.13x, on 2/1 threads 1.47x,
// off 2/1 threads 0.94x, Call skip 3.65 / 2.76 ns; a re-run of only the off,
// skip and raw rows then read 1.23x and 2.78 / 1.71 ns. Those rows are noise
// here; the instruction counts (callgrind) do not move: 3 on, 4 off, 3 raw,
// 19 Call skip, 22 Call primary.
//
// degrade hot-path report, 2026-11-22T05:30:46+00:00, 2 CPUs at 2000 MHz
// load average 9.94 11.42 10.06 before, 9.61 10.75 9.94 after the benchmarks
// --benchmark_min_time=0.2, median of 5 repetitions; times are cpu_time per call (see bench/report.py)
//
// figure                                    measured                     target   vs target
// ----------------------------------------  ---------------------------  -------  ---------  ----
// enabled() on vs raw load, 1 thread        0.54x (0.440 ns / 0.811 ns)  <= 1.5x  0.36x      PASS
// enabled() off vs raw load, 1 thread       1.00x (0.810 ns / 0.811 ns)  <= 1.5x  0.67x      PASS
// enabled() on, 2 vs 1 thread per call      0.95x (0.417 ns / 0.440 ns)  <= 1.2x  0.79x      PASS
// enabled() off, 2 vs 1 thread per call     1.49x (1.21 ns / 0.810 ns)   <= 1.2x  1.24x      MISS
// Call skip, 1 thread                       3.55 ns                      < 3 ns   1.18x      MISS
// Call skip, 2 threads                      3.34 ns                      < 3 ns   1.11x      MISS
// ApplySnapshot, 10,000 switches            6.50 ms                      < 10 ms  0.65x      PASS
// bytes per switch (heap, 10,000)           447 B                        < 512 B  0.87x      PASS
// instructions/check, on                    3.00                         <= 4     0.75x      PASS
// instructions/check, off                   4.00                         <= 4     1.00x      PASS
// raw relaxed atomic<bool> load             1T 0.811 ns, 2T 0.810 ns                         info
// enabled() fractional (allow 0.5)          1T 5.68 ns, 2T 3.55 ns                           info
// Call primary (switch on)                  1T 2.70 ns, 2T 2.77 ns                           info
// absl::GetFlag(bool)                       1T 1.36 ns, 2T 1.07 ns                           info
// getenv + strcmp                           1T 32.9 ns, 2T 35.2 ns                           info
// shared_lock + flat_hash_map find (1,000)  1T 30.9 ns, 2T 34.2 ns                           info
// ApplySnapshot, 10 switches                2.18 us                                          info
// ApplySnapshot, 1,000 switches             338 us                                           info
// ApplySnapshot, 10,000, with a listener    12.3 ms                                          info
// RSS growth per switch (cross-check)       444 B                                            info
// Define, per switch (of 10,000)            1.53 us                                          info
// instructions/check, raw                   3.00                                             info
// instructions/check, dimmed                38.50                                            info
// instructions/check, call_skip             19.00                                            info
// instructions/check, call_primary          22.00                                            info
// instructions/check, empty (loop itself)   2.00                                             info
//
// All benchmarks. cpu = cpu_time per call; wall = real_time x threads; on-cpu =
// cpu / wall, the share of the time each thread was running (well under 100%: a busy
// machine; at 2 threads, the two threads often did not run side by side).
//   BM_Switch_Enabled/on/threads:1                  cpu  0.440 ns  wall  0.923 ns  on-cpu  48%
//   BM_Switch_Enabled/on/threads:2                  cpu  0.417 ns  wall   1.70 ns  on-cpu  25%
//   BM_Switch_Enabled/off/threads:1                 cpu  0.810 ns  wall   1.32 ns  on-cpu  61%
//   BM_Switch_Enabled/off/threads:2                 cpu   1.21 ns  wall   3.83 ns  on-cpu  32%
//   BM_Switch_Enabled/fractional/threads:1          cpu   5.68 ns  wall   11.6 ns  on-cpu  49%
//   BM_Switch_Enabled/fractional/threads:2          cpu   3.55 ns  wall   14.0 ns  on-cpu  25%
//   BM_Call_Skip/threads:1                          cpu   3.55 ns  wall   5.33 ns  on-cpu  67%
//   BM_Call_Skip/threads:2                          cpu   3.34 ns  wall   10.4 ns  on-cpu  32%
//   BM_Call_Primary/threads:1                       cpu   2.70 ns  wall   4.56 ns  on-cpu  59%
//   BM_Call_Primary/threads:2                       cpu   2.77 ns  wall   8.44 ns  on-cpu  33%
//   BM_Peer_RawAtomicLoad/threads:1                 cpu  0.811 ns  wall   1.32 ns  on-cpu  61%
//   BM_Peer_RawAtomicLoad/threads:2                 cpu  0.810 ns  wall   3.51 ns  on-cpu  23%
//   BM_Peer_AbslGetFlag/threads:1                   cpu   1.36 ns  wall   2.75 ns  on-cpu  49%
//   BM_Peer_AbslGetFlag/threads:2                   cpu   1.07 ns  wall   3.93 ns  on-cpu  27%
//   BM_Peer_Getenv/threads:1                        cpu   32.9 ns  wall   66.7 ns  on-cpu  49%  environ_entries=41
//   BM_Peer_Getenv/threads:2                        cpu   35.2 ns  wall    140 ns  on-cpu  25%  environ_entries=41
//   BM_Peer_LockedMap/threads:1                     cpu   30.9 ns  wall   74.3 ns  on-cpu  42%
//   BM_Peer_LockedMap/threads:2                     cpu   34.2 ns  wall    172 ns  on-cpu  20%
//   BM_Registry_ApplySnapshot/10                    cpu   2.18 us  wall   5.50 us  on-cpu  40%
//   BM_Registry_ApplySnapshot/1000                  cpu    338 us  wall    853 us  on-cpu  40%
//   BM_Registry_ApplySnapshot/10000                 cpu   6.50 ms  wall   19.8 ms  on-cpu  33%
//   BM_Registry_ApplySnapshot_Listened/10000        cpu   12.3 ms  wall   34.6 ms  on-cpu  35%
//   BM_Registry_MemoryPerSwitch/10000/iterations:1  cpu   15.3 ms  wall   44.1 ms  on-cpu  35%  bytes_per_switch=447  rss_bytes_per_switch=444
//
// 7 PASS, 3 MISS, 0 not measured
//
// How to read the thread rows. With ->Threads(n), Google Benchmark 1.7.1
// sums every thread's iterations, divides the *average* thread wall time by
// that sum for "Time", and divides the *summed* thread CPU time by it for
// "CPU". So at 2 threads "Time" is half the time one call takes (it is
// throughput), and "CPU" is the cost of one call on the thread that makes it.
// Per-call figures above and in report.py are "CPU" (= Time x threads when
// the threads are not descheduled).
//
// Keeping the check in the loop. The switches are globals defined with
// DEGRADE_SWITCH, as users do, and reached through a template argument, so
// the load is a RIP-relative load of the global, not of a pointer the
// compiler could cache. Each iteration adds the result to a local sum and
// ends with benchmark::ClobberMemory() (asm volatile("" ::: "memory")), so
// the load cannot be hoisted out of the loop or folded into one; the sum is
// published through a counter ("checks_true") at the end so it cannot be
// dropped either. DoNotOptimize alone has been seen to let gcc drop a global
// load; the disassembly below shows the load is there.
//
// Disassembly of the timed loops (gcc 12.2, --buildtype=release = -O3
// -DNDEBUG; `objdump -d --no-show-raw-insn -C bench/hot_path_benchmark`).
// `for (auto _ : state)` is one down-counter in %rbx; ClobberMemory emits no
// instruction but keeps the load of the global at the top of every iteration.
//
//   BM_Switch_Enabled/on: 6 instructions an iteration, one taken branch
//     79a8: add    $0x1,%rbp               n += 1 (on)
//     79ac: sub    $0x1,%rbx               iteration counter
//     79b0: je     <done>
//     79b2: mov    kBenchOn(%rip),%rdi     relaxed load of Switch::word_
//     79b9: test   %rdi,%rdi
//     79bc: jg     79a8                    word > 0: on
//     79be: je     79ac                    word == 0: off
//     79c0: call   RollDimmed@plt          word < 0: dimmed, off the path
//
//   BM_Switch_Enabled/off: the same code against kBenchOff; 5 an iteration:
//     7942: mov    kBenchOff(%rip),%rdi;  test %rdi,%rdi;  jg (not taken);
//     794e: je 793c (taken);  793c: sub $0x1,%rbx;  je <done> (not taken)
//
//   BM_Peer_RawAtomicLoad: 5 an iteration, branch-free
//     7520: movzbl g_raw_flag(%rip),%eax   relaxed load of the atomic<bool>
//     7527: cmp    $0x1,%al
//     7529: sbb    $-1,%rbp                n += flag
//     752d: sub    $0x1,%rbx
//     7531: jne    7520
//
// (Addresses move with every rebuild of the library; the code does not.)
//
// So a check is the load, a test and one or two predictable jumps: 3
// instructions on, 4 off, 3 for the raw load, net of the loop (callgrind,
// bench/callgrind_check.cc, where the result feeds a branch as in user code).
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "benchmark/benchmark.h"
#include "degrade/call.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/switch.h"

#if defined(DEGRADE_BENCH_HAVE_ABSL_FLAGS)
#include "absl/flags/flag.h"

ABSL_FLAG(bool, degrade_bench_peer_flag, true,
          "Peer of Switch::enabled() in hot_path_benchmark: absl::GetFlag on a bool.");
#endif

extern char** environ;

// External linkage, like a user's switches: the compiler knows nothing about
// their values.
namespace degrade_bench {

DEGRADE_SWITCH(kBenchOn, "bench.hot.on", "Benchmark switch left on: the common case.");
DEGRADE_SWITCH(kBenchOff, "bench.hot.off", "Benchmark switch turned off (admin layer).");
DEGRADE_SWITCH(kBenchDimmed, "bench.hot.dimmed", "Benchmark switch on with allow 0.5.");

// The floor: what any switch must at least cost.
std::atomic<bool> g_raw_flag{true};

}  // namespace degrade_bench

namespace {

using degrade_bench::kBenchDimmed;
using degrade_bench::kBenchOff;
using degrade_bench::kBenchOn;

constexpr const char* kGetenvPeerVar = "DEGRADE_BENCH_PEER_GETENV";

// Publishes the sum so the checks cannot be dropped, and checks it: a loop
// the compiler emptied would still report 0 or iterations exactly.
void PublishChecks(benchmark::State& state, int64_t checks_true) {
  state.counters["checks_true"] = benchmark::Counter(
      static_cast<double>(checks_true), benchmark::Counter::kAvgThreads);
}

// ------------------------------------------------------------ Switch hot path

template <const degrade::Switch& kSwitch>
void BM_Switch_Enabled(benchmark::State& state) {
  int64_t n = 0;
  for (auto _ : state) {
    n += kSwitch.enabled();
    benchmark::ClobberMemory();
  }
  PublishChecks(state, n);
}

// Sticky dimming: enabled(key) with a UUID-sized key (36 bytes), beside
// enabled()'s per-call draw on the same dimmed switch.
template <const degrade::Switch& kSwitch>
void BM_Switch_EnabledKey(benchmark::State& state) {
  static constexpr std::string_view kKey = "5f0c2a9e-8a47-4b4e-9d0e-3c1f6a2b7d11";
  std::string_view key = kKey;
  int64_t n = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(key);  // a key the compiler cannot fold
    n += kSwitch.enabled(key);
    benchmark::ClobberMemory();
  }
  PublishChecks(state, n);
}

template <const degrade::Switch& kSwitch>
void BM_Call(benchmark::State& state) {
  int64_t n = 0;
  for (auto _ : state) {
    n += degrade::Call(kSwitch, [] { return 1; }, [] { return 0; });
    benchmark::ClobberMemory();
  }
  PublishChecks(state, n);
}

// --------------------------------------------------------------------- peers

void BM_Peer_RawAtomicLoad(benchmark::State& state) {
  int64_t n = 0;
  for (auto _ : state) {
    n += degrade_bench::g_raw_flag.load(std::memory_order_relaxed);
    benchmark::ClobberMemory();
  }
  PublishChecks(state, n);
}

#if defined(DEGRADE_BENCH_HAVE_ABSL_FLAGS)
void BM_Peer_AbslGetFlag(benchmark::State& state) {
  int64_t n = 0;
  for (auto _ : state) {
    n += absl::GetFlag(FLAGS_degrade_bench_peer_flag);
    benchmark::ClobberMemory();
  }
  PublishChecks(state, n);
}
#else
void BM_Peer_AbslGetFlag(benchmark::State& state) {
  for (auto _ : state) {
  }
  state.SkipWithError("absl_flags not found by pkg-config at configure time: peer not built");
}
#endif

// The pattern of flag libraries that read the environment on every check.
// Its cost grows with the size of the environment (getenv scans it).
void BM_Peer_Getenv(benchmark::State& state) {
  int64_t n = 0;
  for (auto _ : state) {
    const char* v = std::getenv(kGetenvPeerVar);
    n += !(v != nullptr && std::strcmp(v, "off") == 0);
    benchmark::ClobberMemory();
  }
  PublishChecks(state, n);
  int64_t env_entries = 0;
  for (char** e = environ; *e != nullptr; ++e) ++env_entries;
  state.counters["environ_entries"] =
      benchmark::Counter(static_cast<double>(env_entries), benchmark::Counter::kAvgThreads);
}

// The pattern of flag SDKs that look a name up per check: 1,000 flags in a
// string-keyed hash map under a reader lock. The key is a prebuilt
// std::string, the best case for this design (no allocation per check).
struct LockedFlagMap {
  std::shared_mutex mu;
  absl::flat_hash_map<std::string, bool> flags;
};

std::string PeerFlagName(int i) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "service.dependency.%04d", i);
  return buf;
}

LockedFlagMap& PeerMap() {
  static LockedFlagMap* map = [] {
    auto* m = new LockedFlagMap;
    for (int i = 0; i < 1000; ++i) m->flags[PeerFlagName(i)] = (i % 3 != 0);
    return m;
  }();
  return *map;
}

const std::string& PeerKey() {
  static const std::string* key = new std::string(PeerFlagName(500));  // 500 % 3 != 0: true
  return *key;
}

void BM_Peer_LockedMap(benchmark::State& state) {
  LockedFlagMap& map = PeerMap();
  const std::string& key = PeerKey();
  int64_t n = 0;
  for (auto _ : state) {
    std::shared_lock<std::shared_mutex> lock(map.mu);
    auto it = map.flags.find(key);
    n += (it != map.flags.end() && it->second);
    benchmark::ClobberMemory();
  }
  PublishChecks(state, n);
}

// ------------------------------------------------------------------ registry

// Names like real ones: longer than std::string's 15-byte inline buffer.
std::string SwitchName(int i) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "svc.dependency.%05d", i);
  return buf;
}

// Exactly 40 characters.
std::string SwitchDescription(int i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "Fake backend %05d; page renders without", i);
  return buf;
}

degrade::Registry::Options QuietOptions() {
  degrade::Registry::Options options;
  // The machine's DEGRADE_* variables must not change what is measured.
  options.getenv = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
  options.log_sink = [](degrade::LogLevel, std::string_view) {};
  return options;
}

bool DefineSwitches(degrade::Registry& registry, int n, std::vector<degrade::Switch*>* out,
                    benchmark::State& state) {
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<degrade::Switch*> sw =
        registry.Define({.name = SwitchName(i), .description = SwitchDescription(i)});
    if (!sw.ok()) {
      state.SkipWithError(std::string(sw.status().message()).c_str());
      return false;
    }
    if (out != nullptr) out->push_back(*sw);
  }
  return true;
}

// Applies a remote-layer snapshot that flips every one of N switches: all
// off, then all on, alternately. Snapshots are taken by value, so copies are
// made ahead, in batches, outside the timed region (the pause is amortised
// over a batch instead of costing two clock reads per iteration).
// With kListened, a change listener is registered, so every apply also
// builds and delivers N change events (without one, none are built).
template <bool kListened>
void BM_Registry_ApplySnapshot(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  degrade::Registry registry(QuietOptions());
  std::vector<degrade::Switch*> switches;
  if (!DefineSwitches(registry, n, &switches, state)) return;
  uint64_t events = 0;
  if (kListened) registry.AddListener([&events](const degrade::ChangeEvent&) { ++events; });

  degrade::Snapshot all_off;
  degrade::Snapshot all_on;
  for (int i = 0; i < n; ++i) {
    all_off.switches[SwitchName(i)].state = degrade::State::kOff;
    all_on.switches[SwitchName(i)].state = degrade::State::kOn;
  }
  const size_t batch = std::max<size_t>(2, 100'000 / static_cast<size_t>(n));
  std::vector<degrade::Snapshot> pool;
  size_t next = 0;
  uint64_t applied = 0;
  for (auto _ : state) {
    if (next == pool.size()) {
      state.PauseTiming();
      pool.clear();
      for (size_t k = 0; k < batch; ++k) pool.push_back((applied + k) % 2 == 0 ? all_off : all_on);
      next = 0;
      state.ResumeTiming();
    }
    absl::Status status =
        registry.ApplySnapshot(degrade::Layer::kRemote, std::move(pool[next++]), "bench");
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      return;
    }
    ++applied;
  }
  // The last snapshot applied was all off when `applied` is odd.
  const bool want_on = applied % 2 == 0;
  for (degrade::Switch* sw : {switches.front(), switches.back()}) {
    if (sw->enabled() != want_on) {
      state.SkipWithError("a switch does not show the last snapshot applied");
      return;
    }
  }
  if (kListened && events != applied * static_cast<uint64_t>(n)) {
    state.SkipWithError("the listener did not receive one event per switch per apply");
    return;
  }
  state.SetItemsProcessed(static_cast<int64_t>(applied) * n);
  state.counters["switches"] = n;
}

size_t HeapInUse() {
  const struct mallinfo2 mi = mallinfo2();
  // Small blocks in arenas (with malloc's own headers) + mmap'ed big blocks.
  return mi.uordblks + mi.hblkhd;
}

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Memory per switch: the heap a Registry grows by when 10,000 switches with
// 20-character names and 40-character descriptions are defined in it,
// malloc's per-block overhead included (glibc mallinfo2, all arenas, mmap'ed
// blocks too). The Registry's own fixed cost is measured before the first
// Define and left out. RSS growth is shown as a cross-check: it is page
// granular and lower when freed pages from earlier runs are reused.
void BM_Registry_MemoryPerSwitch(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    auto registry = std::make_unique<degrade::Registry>(QuietOptions());
    const size_t heap_before = HeapInUse();
    const size_t rss_before = ResidentBytes();
    state.ResumeTiming();
    if (!DefineSwitches(*registry, n, nullptr, state)) return;
    state.PauseTiming();
    const size_t heap_after = HeapInUse();
    const size_t rss_after = ResidentBytes();
    state.counters["bytes_per_switch"] =
        static_cast<double>(heap_after - heap_before) / static_cast<double>(n);
    state.counters["rss_bytes_per_switch"] =
        static_cast<double>(rss_after > rss_before ? rss_after - rss_before : 0) /
        static_cast<double>(n);
    registry.reset();
    state.ResumeTiming();
  }
  state.counters["switches"] = n;
  // Time is for defining all n switches.
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
}

// ---------------------------------------------------------------------- main

// The three hot-path switches are set through the admin layer, which beats
// every other layer, so the machine's environment cannot change them.
bool SetUpSwitches() {
  degrade::Registry& global = degrade::Registry::Global();
  degrade::SwitchValue off;
  off.state = degrade::State::kOff;
  degrade::SwitchValue dimmed;
  dimmed.state = degrade::State::kOn;
  dimmed.allow = 0.5;
  degrade::SwitchValue on;
  on.state = degrade::State::kOn;
  for (auto [sw, value] : {std::pair{&kBenchOn, on}, std::pair{&kBenchOff, off},
                           std::pair{&kBenchDimmed, dimmed}}) {
    absl::Status s = global.SetOverride(sw->name(), value);
    if (!s.ok()) {
      std::fprintf(stderr, "hot_path_benchmark: %s\n", std::string(s.message()).c_str());
      return false;
    }
  }
  const bool ok = kBenchOn.state().state == degrade::State::kOn &&
                  kBenchOn.state().allow == 1.0 &&
                  kBenchOff.state().state == degrade::State::kOff &&
                  kBenchDimmed.state().state == degrade::State::kOn &&
                  kBenchDimmed.state().allow == 0.5;
  if (!ok) std::fprintf(stderr, "hot_path_benchmark: switch states are not on/off/0.5\n");
  return ok;
}

void RegisterAll() {
  using benchmark::RegisterBenchmark;
  auto threads = [](benchmark::internal::Benchmark* b) { b->Threads(1)->Threads(2); };

  // First, while the heap is fresh, so that the RSS cross-check means something.
  RegisterBenchmark("BM_Registry_MemoryPerSwitch", BM_Registry_MemoryPerSwitch)
      ->Arg(10000)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);


  threads(RegisterBenchmark("BM_Switch_Enabled/on", BM_Switch_Enabled<kBenchOn>));
  threads(RegisterBenchmark("BM_Switch_Enabled/off", BM_Switch_Enabled<kBenchOff>));
  threads(RegisterBenchmark("BM_Switch_Enabled/fractional", BM_Switch_Enabled<kBenchDimmed>));
  threads(RegisterBenchmark("BM_Switch_EnabledKey/on", BM_Switch_EnabledKey<kBenchOn>));
  threads(RegisterBenchmark("BM_Switch_EnabledKey/fractional",
                            BM_Switch_EnabledKey<kBenchDimmed>));
  threads(RegisterBenchmark("BM_Call_Skip", BM_Call<kBenchOff>));
  threads(RegisterBenchmark("BM_Call_Primary", BM_Call<kBenchOn>));

  threads(RegisterBenchmark("BM_Peer_RawAtomicLoad", BM_Peer_RawAtomicLoad));
  threads(RegisterBenchmark("BM_Peer_AbslGetFlag", BM_Peer_AbslGetFlag));
  threads(RegisterBenchmark("BM_Peer_Getenv", BM_Peer_Getenv));
  threads(RegisterBenchmark("BM_Peer_LockedMap", BM_Peer_LockedMap));

  RegisterBenchmark("BM_Registry_ApplySnapshot", BM_Registry_ApplySnapshot<false>)
      ->Arg(10)
      ->Arg(1000)
      ->Arg(10000)
      ->Unit(benchmark::kMicrosecond);
  RegisterBenchmark("BM_Registry_ApplySnapshot_Listened", BM_Registry_ApplySnapshot<true>)
      ->Arg(10000)
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) {
  if (setenv(kGetenvPeerVar, "on", 1) != 0) return 1;
  (void)PeerMap();
  if (!SetUpSwitches()) return 1;
  RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
