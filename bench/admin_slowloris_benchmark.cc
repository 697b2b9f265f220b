// An operator's writes under a slow-connection attack on the admin endpoint,
// and what the attack costs the hot path (docs/security.md, "slow
// connections").
//
//   <builddir>/bench/admin_slowloris_benchmark [--attackers 200] [--gap-ms 500]
//       [--writes 200] [--write-gap-ms 25] [--seconds 2]
//
// One process: a Registry with one switch, the admin endpoint (default
// limits) on 127.0.0.1, one hot-path thread calling `enabled()`, and two
// phases run one after the other:
//   quiet   no attack;
//   attack  --attackers connections, each sending one byte of a request head
//           that never ends every --gap-ms and reconnecting when the server
//           closes it.
// In each phase, the hot-path thread runs for --seconds (its CPU time per
// call: CLOCK_THREAD_CPUTIME_ID / calls, so descheduling does not count),
// then an operator makes --writes authenticated PUTs --write-gap-ms apart
// (5 s in all by default, past the 3 s head_timeout, so that they also meet
// the attack's connections being closed and reopened), each on a new
// connection with 1 s timeouts (the contract: each succeeds within 1 s).
// Reported per phase: the writes' success rate and latency (p50, p99, max,
// over the successful ones), and the hot path's cpu_ns per call.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
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
#include "degrade/registry.h"
#include "httplib.h"
#include "test_net.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr char kToken[] = "bench-token-0123456789abcdef";

struct Args {
  int attackers = 200;
  int gap_ms = 500;
  int writes = 200;
  int write_gap_ms = 25;
  double seconds = 2;
};

int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// The attack (test_util::SlowLoris, as in AdminSecurityTest) on the PUT the
// operator makes.
constexpr char kSlowHead[] =
    "PUT /degrade/v1/switches/bench.hot HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

struct Phase {
  int ok = 0;
  std::vector<double> ms;  // latencies of the successful writes
  double cpu_ns = 0;
  std::string failures;  // what each failed write got
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

Phase RunPhase(degrade::Switch& sw, int port, const Args& args) {
  Phase out;
  std::atomic<bool> stop{false};
  int64_t calls = 0;
  int64_t cpu = 0;
  std::thread hot([&] {
    const int64_t start = ThreadCpuNs();
    int64_t sink = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      for (int i = 0; i < 1024; ++i) {
        sink += sw.enabled() ? 1 : 0;
        asm volatile("" ::: "memory");
      }
      calls += 1024;
    }
    cpu = ThreadCpuNs() - start;
    if (sink < 0) std::abort();
  });
  std::this_thread::sleep_for(std::chrono::duration<double>(args.seconds));
  stop.store(true);
  hot.join();
  out.cpu_ns = static_cast<double>(cpu) / static_cast<double>(std::max<int64_t>(1, calls));
  for (int i = 0; i < args.writes; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(args.write_gap_ms));
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(1, 0);
    client.set_read_timeout(1, 0);
    client.set_write_timeout(1, 0);
    const auto start = Clock::now();
    auto r = client.Put("/degrade/v1/switches/bench.hot",
                        {{"Authorization", std::string("Bearer ") + kToken}},
                        R"({"state": "on", "reason": "bench"})", "application/json");
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (r && r->status == 200 && ms <= 1000) {
      ++out.ok;
      out.ms.push_back(ms);
    } else {
      out.failures += r ? " " + std::to_string(r->status) + "/" + std::to_string(ms) + "ms"
                        : " " + httplib::to_string(r.error());
    }
  }
  return out;
}

void Print(const char* name, const Phase& p, const Args& args) {
  std::printf(
      "%-7s writes_ok %d/%d (%.1f%%)  latency_ms p50 %.2f p99 %.2f max %.2f  "
      "enabled_cpu_ns %.2f\n",
      name, p.ok, args.writes, 100.0 * p.ok / args.writes, Percentile(p.ms, 0.50),
      Percentile(p.ms, 0.99), p.ms.empty() ? 0 : *std::max_element(p.ms.begin(), p.ms.end()),
      p.cpu_ns);
}

bool ParseArgs(int argc, char** argv, Args& args) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--attackers") {
      args.attackers = std::atoi(v);
    } else if (flag == "--gap-ms") {
      args.gap_ms = std::atoi(v);
    } else if (flag == "--writes") {
      args.writes = std::atoi(v);
    } else if (flag == "--write-gap-ms") {
      args.write_gap_ms = std::atoi(v);
    } else if (flag == "--seconds") {
      args.seconds = std::atof(v);
    } else {
      return false;
    }
  }
  return (argc % 2 == 1) && args.attackers > 0 && args.gap_ms > 0 && args.writes > 0 &&
         args.write_gap_ms >= 0 && args.seconds > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, args)) {
    std::fprintf(stderr,
                 "usage: admin_slowloris_benchmark [--attackers N>0] [--gap-ms N>0] "
                 "[--writes N>0] [--write-gap-ms N>=0] [--seconds S>0]\n");
    return 2;
  }
  degrade::Registry::Options ro;
  ro.getenv = [](std::string_view) { return std::optional<std::string>(); };
  ro.log_sink = [](degrade::LogLevel, std::string_view) {};
  degrade::Registry registry(std::move(ro));
  absl::StatusOr<degrade::Switch*> sw =
      registry.Define({.name = "bench.hot", .description = "benchmark switch"});
  if (!sw.ok()) {
    std::fprintf(stderr, "admin_slowloris_benchmark: %s\n", sw.status().ToString().c_str());
    return 1;
  }
  degrade::internal::AdminConfig config;
  config.addr = "127.0.0.1:0";
  config.token = kToken;
  auto server = degrade::internal::AdminServer::Start(registry, config);
  if (!server.ok()) {
    std::fprintf(stderr, "admin_slowloris_benchmark: %s\n", server.status().ToString().c_str());
    return 1;
  }
  const int port = (*server)->port();
  std::printf("attackers %d, one byte each every %d ms; %d writes per phase, 1 s timeouts\n",
              args.attackers, args.gap_ms, args.writes);
  const Phase quiet = RunPhase(**sw, port, args);
  Print("quiet", quiet, args);
  Phase attacked;
  size_t connects = 0;
  {
    degrade::test_util::SlowLoris attack(port, static_cast<size_t>(args.attackers),
                                         std::chrono::milliseconds(args.gap_ms), kSlowHead);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    attacked = RunPhase(**sw, port, args);
    connects = attack.connects();
  }
  Print("attack", attacked, args);
  std::printf("attack connections opened: %lld; enabled() cpu ratio attack/quiet: %.2f\n",
              static_cast<long long>(connects), attacked.cpu_ns / quiet.cpu_ns);
  return 0;
}
