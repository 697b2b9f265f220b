// The etcd source at scale: with 1,000 / 10,000 / 50,000 keys under the
// prefix, how long a flip written right after a burst of puts takes to be
// visible to enabled(), and the CPU the source spends per event applied.
// Starts its own single-member etcd on loopback (tests/etcd_fixture.h;
// etcd from $DEGRADE_ETCD_BIN or PATH) and prints a table, then the slope:
// CPU per event at the largest size over CPU per event at the smallest
// (about 1 when the cost of an event does not grow with the prefix).
//
//   meson setup /tmp/bench-build --buildtype=release -Dtests=false
//   ninja -C /tmp/bench-build bench/etcd_scale_benchmark
//   /tmp/bench-build/bench/etcd_scale_benchmark [--sizes=1000,10000,50000]
//
// CPU is this process's (clock_gettime(CLOCK_PROCESS_CPUTIME_ID)); etcd is
// another process and not counted. The writer runs in this process too, so
// each burst is measured twice: once under the prefix (writer + source) and
// once under a key the source does not watch (writer alone); the source's
// share is the difference. Exits 1 when a flip took 1 s or more.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "etcd/etcd_client.h"
#include "etcd/etcd_source.h"
#include "etcd_fixture.h"

namespace {

using degrade::internal::EtcdClient;
using degrade::internal::EtcdSource;

constexpr char kPrefix[] = "/degrade/bench/";
constexpr char kOther[] = "/degrade/elsewhere/";
constexpr int kBurst = 1000;  // single puts before each flip
constexpr int kFlips = 5;

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

bool WaitFor(const std::function<bool()>& pred, absl::Duration limit) {
  const absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Microseconds(200));
  }
  return pred();
}

struct Row {
  int keys = 0;
  double flip_ms_median = 0;
  double flip_ms_max = 0;
  double cpu_us_per_event = 0;
  double start_ms = 0;  // the source's first whole read and apply
};

absl::Status Populate(EtcdClient& writer, int keys) {
  std::vector<std::pair<std::string, std::string>> batch;
  for (int i = 0; i < keys; ++i) {
    batch.emplace_back(absl::StrFormat("%sswitches/k%06d", kPrefix, i), "\"on\"");
    if (batch.size() == EtcdClient::kMaxTxnOps || i + 1 == keys) {
      absl::StatusOr<int64_t> r = writer.PutAll(batch);
      if (!r.ok()) return r.status();
      batch.clear();
    }
  }
  return absl::OkStatus();
}

// kBurst single puts of existing keys under `prefix`.
absl::Status Burst(EtcdClient& writer, const std::string& prefix, int keys, int round) {
  for (int i = 0; i < kBurst; ++i) {
    const int k = (i * 7919 + round) % keys;
    absl::StatusOr<int64_t> r =
        writer.Put(absl::StrFormat("%sswitches/k%06d", prefix, k), i % 2 ? "\"on\"" : "\"off\"");
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<Row> Measure(int keys) {
  degrade::testing::EtcdCluster::Options options;
  options.members = 1;
  auto cluster = degrade::testing::EtcdCluster::Start(options);
  if (!cluster.ok()) return cluster.status();
  EtcdClient::Config client;
  client.endpoints = (*cluster)->endpoints();
  EtcdClient writer(client);
  if (absl::Status s = Populate(writer, keys); !s.ok()) return s;

  degrade::Registry::Options ro;
  ro.getenv = [](std::string_view) { return std::optional<std::string>(); };
  ro.log_sink = [](degrade::LogLevel, std::string_view) {};
  degrade::Registry registry(std::move(ro));
  degrade::SwitchSpec spec;
  spec.name = "flip";
  spec.description = "flipped by the benchmark";
  absl::StatusOr<degrade::Switch*> flip = registry.Define(spec);
  if (!flip.ok()) return flip.status();

  EtcdSource::Config config;
  config.client = client;
  config.prefix = kPrefix;
  Row row;
  row.keys = keys;
  const absl::Time start = absl::Now();
  EtcdSource source(registry, config);
  row.start_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  // Warm up: the first delta after the whole apply copies the layer once.
  if (absl::Status s = Burst(writer, kPrefix, keys, 0); !s.ok()) return s;

  std::vector<double> flips;
  double source_cpu = 0;
  uint64_t events = 0;
  for (int round = 1; round <= kFlips; ++round) {
    // The writer alone: the same puts where the source does not watch.
    const double c0 = CpuSeconds();
    if (absl::Status s = Burst(writer, kOther, keys, round); !s.ok()) return s;
    const double writer_cpu = CpuSeconds() - c0;

    const uint64_t events_before = source.stats().events;
    const double c1 = CpuSeconds();
    if (absl::Status s = Burst(writer, kPrefix, keys, round); !s.ok()) return s;
    const bool want_on = round % 2 == 0;
    absl::StatusOr<int64_t> put =
        writer.Put(absl::StrCat(kPrefix, "switches/flip"), want_on ? "\"on\"" : "\"off\"");
    if (!put.ok()) return put.status();
    const absl::Time written = absl::Now();
    if (!WaitFor([&] { return (*flip)->enabled() == want_on; }, absl::Seconds(60))) {
      return absl::DeadlineExceededError(absl::StrCat("flip not seen within 60 s at ", keys,
                                                      " keys"));
    }
    flips.push_back(absl::ToDoubleMilliseconds(absl::Now() - written));
    const double both_cpu = CpuSeconds() - c1;
    source_cpu += std::max(0.0, both_cpu - writer_cpu);
    events += source.stats().events - events_before;
  }
  std::sort(flips.begin(), flips.end());
  row.flip_ms_median = flips[flips.size() / 2];
  row.flip_ms_max = flips.back();
  row.cpu_us_per_event = events == 0 ? 0 : source_cpu * 1e6 / static_cast<double>(events);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {1000, 10000, 50000};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--sizes=", 0) == 0) {
      sizes.clear();
      for (absl::string_view part : absl::StrSplit(std::string(arg.substr(8)), ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(part, &n) || n <= 0) {
          std::fprintf(stderr, "--sizes: \"%.*s\" is not a positive number of keys\n",
                       static_cast<int>(part.size()), part.data());
          return 2;
        }
        sizes.push_back(n);
      }
    } else {
      std::fprintf(stderr, "unknown argument %s; accepted: --sizes=N,N,...\n", argv[i]);
      return 2;
    }
  }
  std::printf("%10s %14s %12s %16s %14s\n", "keys", "flip median", "flip max",
              "CPU per event", "start (read)");
  std::vector<Row> rows;
  for (int keys : sizes) {
    absl::StatusOr<Row> row = Measure(keys);
    if (!row.ok()) {
      std::fprintf(stderr, "%d keys: %s\n", keys, std::string(row.status().message()).c_str());
      return 1;
    }
    std::printf("%10d %11.1f ms %9.1f ms %13.1f us %11.0f ms\n", row->keys, row->flip_ms_median,
                row->flip_ms_max, row->cpu_us_per_event, row->start_ms);
    std::fflush(stdout);
    rows.push_back(*row);
  }
  bool slow = false;
  for (const Row& r : rows) slow = slow || r.flip_ms_max >= 1000;
  if (rows.size() >= 2 && rows.front().cpu_us_per_event > 0) {
    std::printf("slope: CPU per event at %d keys / at %d keys = %.2f\n", rows.back().keys,
                rows.front().keys, rows.back().cpu_us_per_event / rows.front().cpu_us_per_event);
  }
  if (slow) std::printf("FAIL: a flip took 1 s or more\n");
  return slow ? 1 : 0;
}
