// Snapshot parsing: ParseSnapshot over snapshots of 10, 1,000 and 10,000
// switches, the shapes a file, an HTTP body or the last-known-good cache
// holds. Parsing is the control plane (once per change, never per call), but
// a big snapshot is parsed on every poll that changed it, so its cost is
// watched here.
//
// Run:
//
//   ninja -C build bench/snapshot_benchmark
//   build/bench/snapshot_benchmark --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true   (one line)
//
// Last run (Dec 2026), before and after duplicate keys were refused
// (core/json_strict.h), debugoptimized build (gcc 12 -O2), on a 2-vCPU VM
// shared with other builds (load average 9): the old and new libdegrade.so
// alternately, three times, median CPU time of 5 repetitions each:
//
//   switches   before (3 runs)          after (3 runs)
//   10         29.2 / 31.7 / 29.9 us    29.5 / 28.5 / 28.9 us
//   1,000      3.53 / 4.19 / 3.85 ms    5.04 / 4.48 / 4.74 ms
//   10,000     57.4 / 52.8 / 53.5 ms    50.0 / 51.4 / 48.9 ms
//
// The load makes those rows noisy (the 1,000 and 10,000 rows disagree in
// direction). Instructions do not move with load: callgrind, counting
// ParseSnapshot only, reads per parse 379 k -> 360 k (10 switches), 39.1 M
// -> 37.8 M (1,000) and 400 M -> 382 M (10,000), 3-5% fewer after; and 200
// parses of 1,000 switches, alternated five times, took a median 0.89 s of
// user CPU before and 0.86 s after.
//
// Every switch entry is an object with state, allow, reason, actor and
// expires_at; one in ten also has a breaker policy and one in ten a fault,
// so every part of the parser is exercised. The document is about 190 bytes
// per switch.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/snapshot.h"

namespace {

std::string SwitchName(int i) { return "dependency-" + std::to_string(i) + ".read"; }

std::string SnapshotText(int n) {
  std::string out = R"({"switches": {)";
  for (int i = 0; i < n; ++i) {
    if (i > 0) out += ", ";
    out += "\"" + SwitchName(i) + "\": {";
    out += R"("state": "on", "allow": 0.5, "reason": "INC-4211 vendor 5xx", )";
    out += R"("actor": "oncall", "expires_at": "2026-11-21T12:00:00Z")";
    if (i % 10 == 1) {
      out += R"(, "breaker": {"window": "count", "window_size": 100, "min_calls": 20, )";
      out += R"("failure_ratio": 0.5, "open_s": 30, "half_open_calls": 5})";
    }
    if (i % 10 == 2) out += R"(, "fault": {"kind": "delay", "rate": 0.1, "delay_ms": 200})";
    out += "}";
  }
  out += R"(}, "groups": {"tier2": "off"}, "all": "on"})";
  return out;
}

void BM_Snapshot_Parse(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::string text = SnapshotText(n);
  const absl::Time now = absl::FromUnixSeconds(1'780'000'000);
  for (auto _ : state) {
    absl::StatusOr<degrade::Snapshot> snapshot = degrade::ParseSnapshot(text, "bench", now);
    if (!snapshot.ok()) {
      state.SkipWithError(std::string(snapshot.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(snapshot->switches.size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
  state.counters["switches"] = n;
}
BENCHMARK(BM_Snapshot_Parse)->Arg(10)->Arg(1000)->Arg(10'000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
