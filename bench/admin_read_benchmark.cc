// Admin endpoint reads per second, and what they cost the hot path.
//
//   <builddir>/bench/admin_read_benchmark [--threads 1,2] [--seconds 1]
//       [--rounds 3] [--switches 50] [--json]
//   (bench/report.py runs it and prints the figures with the others.)
//
// One process: a Registry with --switches switches, the admin endpoint
// (lib/admin_server.h, default limits) on 127.0.0.1, N hot-path threads and
// one client thread. The client is a real HTTP client (cpp-httplib, keep-alive,
// TCP_NODELAY) over loopback, issuing GETs back to back.
//
// For each hot path (`enabled()` on a switch that is on; `Call` with the
// primary running) and each thread count N, three phases run for --seconds
// each, interleaved for --rounds rounds so that drifting machine load hits
// them alike:
//   idle      the N hot-path threads alone;
//   switches  the same while the client reads GET /degrade/v1/switches;
//   metrics   the same while the client reads GET /metrics.
// Reported per phase, as the median over the rounds:
//   cpu_ns    the hot path's CPU time per call on the thread that makes it
//             (CLOCK_THREAD_CPUTIME_ID / calls): what the admin reads cost the
//             hot path through shared state (locks, cache lines). Descheduling
//             does not count, so it means something on a loaded machine;
//   ratio     cpu_ns with reads / cpu_ns idle (1.00 = no cost);
//   calls_per_s  hot-path calls per second of wall time, all threads: this
//             one does fall when the client and the server's worker take CPU
//             time from the hot-path threads on a 2-core machine;
//   reads_per_s  successful (200) reads per second of wall time.
// Every read is checked for status 200 and a non-empty body; any other
// answer or a transport error ends the program with exit status 1.
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "admin/admin_server.h"
#include "degrade/call.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "httplib.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::vector<int> threads = {1, 2};
  double seconds = 1.0;
  int rounds = 3;
  int switches = 50;
  bool json = false;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "admin_read_benchmark: %s\n"
               "usage: admin_read_benchmark [--threads 1,2] [--seconds S (0.1..60)] "
               "[--rounds R (1..50)] [--switches K (1..10000)] [--json]\n",
               why);
  std::exit(2);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage((std::string(arg) + " needs a value").c_str());
      return argv[++i];
    };
    if (arg == "--json") {
      a.json = true;
    } else if (arg == "--threads") {
      a.threads.clear();
      const std::string v = value();
      size_t pos = 0;
      while (pos <= v.size()) {
        const size_t comma = std::min(v.find(',', pos), v.size());
        const int n = std::atoi(v.substr(pos, comma - pos).c_str());
        if (n < 1 || n > 64) Usage("--threads takes thread counts from 1 to 64, e.g. 1,2");
        a.threads.push_back(n);
        pos = comma + 1;
      }
    } else if (arg == "--seconds") {
      a.seconds = std::atof(value().c_str());
      if (!(a.seconds >= 0.1 && a.seconds <= 60)) Usage("--seconds takes 0.1 to 60");
    } else if (arg == "--rounds") {
      a.rounds = std::atoi(value().c_str());
      if (a.rounds < 1 || a.rounds > 50) Usage("--rounds takes 1 to 50");
    } else if (arg == "--switches") {
      a.switches = std::atoi(value().c_str());
      if (a.switches < 1 || a.switches > 10000) Usage("--switches takes 1 to 10000");
    } else {
      Usage(("unknown argument " + std::string(arg)).c_str());
    }
  }
  return a;
}

int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

enum class HotPath { kEnabled, kCall };

// One hot-path thread: runs `path` until `stop`, then reports its calls and
// its own CPU time.
struct HotResult {
  int64_t calls = 0;
  int64_t cpu_ns = 0;
};

HotResult RunHotPath(HotPath path, degrade::Switch& sw, const std::atomic<bool>& go,
                     const std::atomic<bool>& stop) {
  while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
  const int64_t cpu_start = ThreadCpuNs();
  int64_t calls = 0;
  int64_t sink = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    // Batches, so the stop flag is not part of the measured call.
    for (int i = 0; i < 1024; ++i) {
      if (path == HotPath::kEnabled) {
        sink += sw.enabled();
      } else {
        sink += degrade::Call(sw, [] { return 1; }, [] { return 0; });
      }
      asm volatile("" ::: "memory");
    }
    calls += 1024;
  }
  const int64_t cpu = ThreadCpuNs() - cpu_start;
  if (sink != calls) {
    std::fprintf(stderr, "admin_read_benchmark: the switch was not on for every call\n");
    std::exit(1);
  }
  return {calls, cpu};
}

struct PhaseResult {
  double cpu_ns = 0;        // per call, on the calling thread
  double calls_per_s = 0;   // all hot-path threads
  double reads_per_s = 0;   // 0 in the idle phase
};

// Runs one phase: `threads` hot-path threads, and a client reading `route`
// unless it is empty.
PhaseResult RunPhase(HotPath path, degrade::Switch& sw, int threads, int port,
                     const std::string& route, double seconds) {
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::vector<HotResult> results(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] { results[t] = RunHotPath(path, sw, go, stop); });
  }
  std::atomic<int64_t> reads{0};
  std::string client_error;
  std::thread client;
  if (!route.empty()) {
    client = std::thread([&] {
      httplib::Client cli("127.0.0.1", port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_connection_timeout(std::chrono::seconds(5));
      cli.set_read_timeout(std::chrono::seconds(5));
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      while (!stop.load(std::memory_order_relaxed)) {
        httplib::Result r = cli.Get(route);
        if (!r) {
          client_error = "GET " + route + ": " + httplib::to_string(r.error());
          return;
        }
        if (r->status != 200 || r->body.empty()) {
          client_error = "GET " + route + ": status " + std::to_string(r->status);
          return;
        }
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  const auto start = Clock::now();
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true, std::memory_order_relaxed);
  for (std::thread& w : workers) w.join();
  const double wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (client.joinable()) client.join();
  if (!client_error.empty()) {
    std::fprintf(stderr, "admin_read_benchmark: %s\n", client_error.c_str());
    std::exit(1);
  }
  PhaseResult out;
  int64_t calls = 0;
  int64_t cpu = 0;
  for (const HotResult& r : results) {
    calls += r.calls;
    cpu += r.cpu_ns;
  }
  out.cpu_ns = calls > 0 ? static_cast<double>(cpu) / static_cast<double>(calls) : 0;
  out.calls_per_s = static_cast<double>(calls) / wall_s;
  out.reads_per_s = static_cast<double>(reads.load()) / wall_s;
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double LoadAverage() {
  double load = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  return load;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);

  degrade::Registry::Options ro;
  ro.getenv = [](std::string_view) { return std::optional<std::string>(); };
  ro.log_sink = [](degrade::LogLevel, std::string_view) {};
  degrade::Registry registry(std::move(ro));
  // A listing of realistic size: some switches off or dimmed, with reasons.
  degrade::Switch* hot = nullptr;
  for (int i = 0; i < args.switches; ++i) {
    absl::StatusOr<degrade::Switch*> sw = registry.Define(
        {.name = "bench.dep-" + std::to_string(i),
         .description = "benchmark dependency " + std::to_string(i),
         .groups = {i % 2 == 0 ? "tier2" : "tier3"}});
    if (!sw.ok()) {
      std::fprintf(stderr, "admin_read_benchmark: %s\n", sw.status().ToString().c_str());
      return 1;
    }
    if (i == 0) hot = *sw;
    if (i > 0 && i % 5 == 0) {
      degrade::SwitchValue v;
      v.state = degrade::State::kOff;
      v.reason = "INC-1234 vendor errors";
      v.actor = "bench";
      (void)registry.SetOverride((*sw)->name(), v);
    }
  }

  degrade::internal::AdminConfig config;
  config.addr = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<degrade::internal::AdminServer>> server =
      degrade::internal::AdminServer::Start(registry, config);
  if (!server.ok()) {
    std::fprintf(stderr, "admin_read_benchmark: %s\n", server.status().ToString().c_str());
    return 1;
  }
  const int port = (*server)->port();

  struct Row {
    std::string path;
    int threads;
    std::string phase;
    double cpu_ns, ratio, calls_per_s, reads_per_s;
  };
  std::vector<Row> rows;
  const double load_before = LoadAverage();
  const std::vector<std::pair<std::string, std::string>> phases = {
      {"idle", ""}, {"switches", "/degrade/v1/switches"}, {"metrics", "/metrics"}};
  for (HotPath path : {HotPath::kEnabled, HotPath::kCall}) {
    const std::string path_name = path == HotPath::kEnabled ? "enabled" : "call";
    for (int threads : args.threads) {
      std::vector<std::vector<PhaseResult>> by_phase(phases.size());
      for (int round = 0; round < args.rounds; ++round) {
        for (size_t p = 0; p < phases.size(); ++p) {
          by_phase[p].push_back(
              RunPhase(path, *hot, threads, port, phases[p].second, args.seconds));
        }
      }
      double idle_cpu = 0;
      for (size_t p = 0; p < phases.size(); ++p) {
        std::vector<double> cpu, calls, reads;
        for (const PhaseResult& r : by_phase[p]) {
          cpu.push_back(r.cpu_ns);
          calls.push_back(r.calls_per_s);
          reads.push_back(r.reads_per_s);
        }
        const double c = Median(cpu);
        if (p == 0) idle_cpu = c;
        rows.push_back({path_name, threads, phases[p].first, c, idle_cpu > 0 ? c / idle_cpu : 0,
                        Median(calls), Median(reads)});
      }
    }
  }
  const double load_after = LoadAverage();

  if (args.json) {
    std::printf("{\"switches\": %d, \"seconds\": %g, \"rounds\": %d, \"load_before\": %.2f, "
                "\"load_after\": %.2f, \"rows\": [",
                args.switches, args.seconds, args.rounds, load_before, load_after);
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf("%s\n {\"hot_path\": \"%s\", \"threads\": %d, \"phase\": \"%s\", "
                  "\"cpu_ns\": %.4f, \"ratio\": %.4f, \"calls_per_s\": %.0f, "
                  "\"reads_per_s\": %.1f}",
                  i ? "," : "", r.path.c_str(), r.threads, r.phase.c_str(), r.cpu_ns, r.ratio,
                  r.calls_per_s, r.reads_per_s);
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("admin endpoint reads vs the hot path: %d switches, %g s per phase, median of %d "
              "rounds, load average %.2f before, %.2f after\n",
              args.switches, args.seconds, args.rounds, load_before, load_after);
  std::printf("%-8s %7s  %-9s %12s %7s %14s %10s\n", "hot path", "threads", "reads", "cpu/call",
              "ratio", "calls/s (all)", "reads/s");
  for (const Row& r : rows) {
    std::printf("%-8s %7d  %-9s %9.2f ns %6.2fx %14.3g %10.0f\n", r.path.c_str(), r.threads,
                r.phase.c_str(), r.cpu_ns, r.ratio, r.calls_per_s, r.reads_per_s);
  }
  return 0;
}
