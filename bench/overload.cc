// The governor under overload (issue 16, docs/governor.md, docs/tiers.md):
// a real service process, an open-loop load generator, and the same load
// (0.5x -> 2x -> 0.5x of the service's measured capacity) against three ways
// of running the service, plus the best fixed dimmer found by a sweep.
//
//   <builddir>/bench/overload [--quick] [--trace FILE] [--target-ms 50]
//       [--period-ms 250] [--workers 8] [--essential-ms 4] [--optional-ms 4]
//       [--phase-s 6] [--overload-s 10] [--sweep-s 5] [--seed 1]
//
// The service is this program run again with --serve, as a child process on
// 127.0.0.1 (a line protocol over TCP; one connection for requests, one for
// control). It has --workers threads (the bounded essential path) taking
// requests from one queue. A request costs:
//   essential  --essential-ms of wall time plus about 20 us of integer
//              arithmetic;
//   optional   four switches with tiers 9, 7, 5 and 3, each a degrade::Call
//              (sticky, keyed by the request's user) whose primary costs
//              --optional-ms the same way and whose fallback costs nothing.
// The wall time is a sleep until the request's deadline (the sum of its
// units): the worker is held as it would be waiting on an IO-bound backend.
// So the service's capacity is workers / (essential + served optional work)
// whatever the CPU is doing: the machine's other load changes nothing but
// the timers' wake-up jitter. Each request is timed by a degrade::LatencyTimer
// from the moment the service reads it off its socket until its answer is
// written, so the service's own queue counts.
//
// The load generator sends requests at Poisson arrival times of a fixed rate
// (open loop: it never waits for an answer before sending the next request)
// and measures each one from its scheduled send time, so that its own delays
// and the service's queue both count. A request succeeds when its answer
// arrives within the deadline (5 x target) and says no error.
//
// The run:
//   capacity  a closed loop (64 requests outstanding) with everything on;
//             C = answers per second.
//   1 on      everything on, no governor: 0.5x, 2x, 0.5x of C.
//   2 shed    the best static tier shedding: every shed level N (tiers >= N
//             off: Registry::SetShed, the admin layer's) tried at 2x; the one serving the most
//             optional work with p95 <= target, then 0.5x, 2x, 0.5x with it.
//             (In both sweeps a point missing the target by less than 3x is
//             run twice and the better run kept: the sweep rows marked '.)
//   oracle    one fixed allow for every optional switch, swept 1.0, 0.9, ...
//             0.0 at 2x: the most optional work served with p95 <= target.
//   3 gov     the governor (ConfigureGovernor: the target, p95, --period-ms):
//             0.5x, 2x, 0.5x; its status (Registry::governor()) is read from
//             the service after every period.
// Per mode and phase: the essential path's p50/p95/p99 (unanswered requests
// count with the time they had waited when the phase's wait ended), the
// success ratio and the share of optional work served. For the governor:
// the periods from each load step until it settles (the step up: from then
// on the p95 the governor measured in each period stays within +-10% of the
// target; also shown: "at most 10% over", and both for the p95 the load
// generator saw over the last 4 periods; the step down: everything served
// again, and from then on), and the s.d. of its served level and of the
// dimmed tier's allow from settling to the end of 2x. The last line:
//   overload: governed_p95_over_target=X ungoverned_p95_over_target=Y
//             served_vs_oracle=Z converge_periods=N
// where the p95s are over the 2x phase after its first 10 periods (the
// convergence allowance; the table also shows the whole phase), Z is the
// governor's optional share there over the oracle's, and N the slower of
// the two steps (-1: it did not settle).
//
// --quick (about 40 s, for scripts/demo.sh) shortens every phase and finds
// the static level and the oracle's allow by bisection instead of a full
// sweep. --trace FILE writes one CSV row per governor period (and per
// status sample in the other modes). Exit status: 0 when the run completed
// (whatever the figures), 1 when it could not, 2 for a usage error.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "degrade/call.h"
#include "degrade/governor.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/switch.h"

extern char** environ;

namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

SteadyClock::time_point FromNs(int64_t ns) {
  return SteadyClock::time_point(std::chrono::nanoseconds(ns));
}

// The tiers of the optional switches, shed first to shed last.
constexpr int kTiers[] = {9, 7, 5, 3};
constexpr int kOptional = 4;

// --------------------------------------------------------------- sockets

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads newline-terminated lines from a socket.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // False at end of stream or on an error.
  bool Next(std::string& line) {
    while (true) {
      const size_t nl = buffer_.find('\n', start_);
      if (nl != std::string::npos) {
        line.assign(buffer_, start_, nl - start_);
        start_ = nl + 1;
        if (start_ > 65536) {
          buffer_.erase(0, start_);
          start_ = 0;
        }
        return true;
      }
      char chunk[16384];
      const ssize_t n = read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buffer_;
  size_t start_ = 0;
};

void NoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// ---------------------------------------------------------------- service

struct ServiceParams {
  int workers = 8;
  double essential_ms = 4;
  double optional_ms = 4;
};

// The "small real computation" of each unit of work: about 20 us of
// integer mixing on this kind of machine, its result kept.
uint64_t Mix(uint64_t x) {
  for (int i = 0; i < 4000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

class Service {
 public:
  explicit Service(const ServiceParams& params)
      : params_(params),
        essential_(std::chrono::microseconds(std::llround(params.essential_ms * 1000))),
        optional_(std::chrono::microseconds(std::llround(params.optional_ms * 1000))) {}

  int Run() {
    for (int i = 0; i < kOptional; ++i) {
      degrade::SwitchSpec spec;
      spec.name = absl::StrCat("optional.tier", kTiers[i]);
      spec.description = absl::StrCat("Optional work of tier ", kTiers[i],
                                      " (costs --optional-ms of a worker per request)");
      spec.tier = kTiers[i];
      absl::StatusOr<degrade::Switch*> sw = registry_.Define(std::move(spec));
      if (!sw.ok()) {
        std::fprintf(stderr, "overload --serve: %s\n", sw.status().ToString().c_str());
        return 1;
      }
      switches_[i] = *sw;
    }
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listener, 16) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::fprintf(stderr, "overload --serve: cannot listen on 127.0.0.1: %s\n",
                   std::strerror(errno));
      return 1;
    }
    std::vector<std::thread> workers;
    for (int i = 0; i < params_.workers; ++i) workers.emplace_back([this] { Work(); });
    std::printf("PORT %d\n", ntohs(addr.sin_port));
    std::fflush(stdout);

    std::vector<std::thread> readers;
    std::vector<int> fds;
    while (!quit_.load()) {
      const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (quit_.load()) {
        close(fd);
        break;
      }
      NoDelay(fd);
      fds.push_back(fd);
      readers.emplace_back([this, fd, listener] { Read(fd, listener); });
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      for (auto& job : queue_) job->timer.Cancel();
      queue_.clear();
    }
    cv_.notify_all();
    for (auto& t : workers) t.join();
    for (int fd : fds) shutdown(fd, SHUT_RDWR);
    for (auto& t : readers) t.join();
    for (int fd : fds) close(fd);
    close(listener);
    registry_.StopGovernor();
    return 0;
  }

 private:
  struct Connection {
    int fd;
    std::mutex write_mu;
  };
  struct Job {
    explicit Job(degrade::Registry& registry) : timer(registry) {}
    std::shared_ptr<Connection> conn;
    uint64_t id = 0;
    uint32_t user = 0;
    degrade::LatencyTimer timer;  // from the read off the socket to the answer
  };

  // One connection: "R <id> <user>" lines are requests (answered by a
  // worker with "<id> <optional units served>"); anything else is a control
  // command, answered here with one "OK ..." or "ERR ..." line.
  void Read(int fd, int listener) {
    auto conn = std::make_shared<Connection>();
    conn->fd = fd;
    LineReader reader(fd);
    std::string line;
    while (reader.Next(line)) {
      if (line.size() > 2 && line[0] == 'R' && line[1] == ' ') {
        auto job = std::make_unique<Job>(registry_);
        std::vector<absl::string_view> parts = absl::StrSplit(absl::string_view(line).substr(2), ' ');
        if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &job->id) ||
            !absl::SimpleAtoi(parts[1], &job->user)) {
          job->timer.Cancel();
          std::lock_guard<std::mutex> lock(conn->write_mu);
          WriteAll(fd, absl::StrCat("ERR bad request line: ", line, "\n"));
          continue;
        }
        job->conn = conn;
        {
          std::lock_guard<std::mutex> lock(mu_);
          queue_.push_back(std::move(job));
        }
        cv_.notify_one();
        continue;
      }
      std::string reply = Control(line);
      {
        std::lock_guard<std::mutex> lock(conn->write_mu);
        WriteAll(fd, reply + "\n");
      }
      if (quit_.load()) {
        // Wakes the accept loop.
        shutdown(listener, SHUT_RDWR);
        return;
      }
    }
  }

  void Work() {
    while (true) {
      std::unique_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
        ++busy_;
      }
      const int units = Handle(*job);
      const std::string answer = absl::StrCat(job->id, " ", units, "\n");
      {
        std::lock_guard<std::mutex> lock(job->conn->write_mu);
        WriteAll(job->conn->fd, answer);
      }
      job->timer.Finish();
      std::lock_guard<std::mutex> lock(mu_);
      --busy_;
    }
  }

  // The request's work; returns the optional units served (0-4). Each unit
  // (the essential one and every optional one that runs) does its
  // arithmetic and adds its wall time to the request's deadline; the worker
  // then sleeps once, until that deadline. One wake-up per request instead
  // of one per unit: on a busy machine every wake-up can wait for a CPU, and
  // the capacity should not depend on how busy the machine is.
  int Handle(const Job& job) {
    auto deadline = SteadyClock::now() + essential_;
    uint64_t h = Mix(job.id | 1);
    char key[24];
    const int key_len = std::snprintf(key, sizeof key, "user-%" PRIu32, job.user);
    const std::string_view user(key, static_cast<size_t>(key_len));
    int units = 0;
    for (degrade::Switch* sw : switches_) {
      units += degrade::Call(
          *sw, user,
          [&] {
            h = Mix(h);
            deadline += optional_;
            return 1;
          },
          [] { return 0; });
    }
    std::this_thread::sleep_until(deadline);
    sink_.fetch_xor(h, std::memory_order_relaxed);
    return units;
  }

  absl::Status SetAllOverrides(const std::function<std::optional<degrade::SwitchValue>(int)>& f) {
    for (int i = 0; i < kOptional; ++i) {
      const std::optional<degrade::SwitchValue> value = f(kTiers[i]);
      if (value.has_value()) {
        absl::Status s = registry_.SetOverride(switches_[i]->name(), *value);
        if (!s.ok()) return s;
        overridden_[i] = true;
      } else if (overridden_[i]) {
        absl::Status s = registry_.ClearOverride(switches_[i]->name());
        if (!s.ok()) return s;
        overridden_[i] = false;
      }
    }
    return absl::OkStatus();
  }

  // Control commands:
  //   ALLOW <a>        every optional switch on with allow a (admin
  //                    overrides; no shed)
  //   SHED <n>         the admin layer's shed level n: tiers >= n off
  //                    (Registry::SetShed; 0: none; no overrides)
  //   CLEAR            no admin entries, no shed
  //   GOV <target_ms> <period_ms>   ConfigureGovernor (p95)
  //   NOGOV            StopGovernor
  //   FLUSH            drop the queued requests (unanswered, uncounted)
  //   STATUS           queue, busy workers and Registry::governor()
  //   QUIT
  std::string Control(const std::string& line) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.empty()) return "ERR empty command";
    const absl::string_view cmd = parts[0];
    absl::Status s;
    if (cmd == "ALLOW" && parts.size() == 2) {
      double allow = 0;
      if (!absl::SimpleAtod(parts[1], &allow) || allow < 0 || allow > 1) {
        return absl::StrCat("ERR ALLOW: ", parts[1], " is not a fraction in [0, 1]");
      }
      s = registry_.ClearShed();
      if (s.ok()) {
        s = SetAllOverrides([allow](int) {
          degrade::SwitchValue v;
          v.allow = allow;
          v.actor = "overload";
          v.reason = "fixed allow";
          return std::optional<degrade::SwitchValue>(v);
        });
      }
    } else if (cmd == "SHED" && parts.size() == 2) {
      int level = 0;
      if (!absl::SimpleAtoi(parts[1], &level) || level < 0 || level > 9) {
        return absl::StrCat("ERR SHED: ", parts[1], " is not a level in [0, 9]");
      }
      s = SetAllOverrides([](int) { return std::optional<degrade::SwitchValue>(); });
      if (s.ok() && level == 0) s = registry_.ClearShed();
      if (s.ok() && level > 0) {
        degrade::Shed shed;
        shed.level = level;
        shed.actor = "overload";
        shed.reason = "static shedding";
        s = registry_.SetShed(shed);
      }
    } else if (cmd == "CLEAR" && parts.size() == 1) {
      s = SetAllOverrides([](int) { return std::optional<degrade::SwitchValue>(); });
      if (s.ok()) s = registry_.ClearShed();
    } else if (cmd == "GOV" && parts.size() == 3) {
      int target_ms = 0, period_ms = 0;
      if (!absl::SimpleAtoi(parts[1], &target_ms) || !absl::SimpleAtoi(parts[2], &period_ms)) {
        return "ERR GOV: usage GOV <target_ms> <period_ms>";
      }
      degrade::GovernorOptions options;
      options.target = absl::Milliseconds(target_ms);
      options.period = absl::Milliseconds(period_ms);
      s = registry_.ConfigureGovernor(options);
    } else if (cmd == "NOGOV" && parts.size() == 1) {
      registry_.StopGovernor();
    } else if (cmd == "FLUSH" && parts.size() == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& job : queue_) job->timer.Cancel();
      queue_.clear();
    } else if (cmd == "STATUS" && parts.size() == 1) {
      return Status();
    } else if (cmd == "QUIT" && parts.size() == 1) {
      quit_.store(true);
    } else {
      return absl::StrCat("ERR unknown command: ", line,
                          " (accepted: ALLOW a, SHED n, CLEAR, GOV target_ms period_ms, NOGOV, "
                          "FLUSH, STATUS, QUIT)");
    }
    if (!s.ok()) return absl::StrCat("ERR ", s.ToString());
    return "OK";
  }

  std::string Status() {
    size_t queued = 0;
    int busy = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queued = queue_.size();
      busy = busy_;
    }
    const degrade::GovernorStatus g = registry_.governor();
    const double measured_ms =
        g.measured.has_value() ? absl::ToDoubleMilliseconds(*g.measured) : -1.0;
    return absl::StrFormat(
        "OK queue=%d busy=%d configured=%d periods=%d measured_ms=%.3f samples=%d "
        "in_flight=%d served=%.4f tier=%d tier_allow=%.4f tiers_off=%d",
        queued, busy, g.configured ? 1 : 0, g.periods, measured_ms, g.samples, g.in_flight,
        g.served, g.tier, g.tier_allow, g.tiers_off);
  }

  ServiceParams params_;
  std::chrono::microseconds essential_;
  std::chrono::microseconds optional_;
  degrade::Registry registry_;
  degrade::Switch* switches_[kOptional] = {};
  bool overridden_[kOptional] = {};  // has an admin entry (Control's thread only)
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  int busy_ = 0;
  bool stopping_ = false;
  std::atomic<bool> quit_{false};
  std::atomic<uint64_t> sink_{0};
};

// ----------------------------------------------------------------- driver

struct Args {
  bool quick = false;
  std::string trace;
  int target_ms = 50;
  int period_ms = 250;
  ServiceParams service;
  double phase_s = 6;     // each 0.5x phase
  double overload_s = 10;  // the 2x phase
  double sweep_s = 5;     // each 2x run of a sweep
  uint64_t seed = 1;
};

// One line of the service's STATUS answer.
struct StatusSample {
  int64_t t_ns = 0;  // since the run's start
  int64_t queue = 0;
  int64_t busy = 0;
  bool configured = false;
  int64_t periods = 0;
  double measured_ms = -1;
  int64_t samples = 0;
  int64_t in_flight = 0;
  double served = 1;
  int64_t tier = 0;
  double tier_allow = 1;
  int64_t tiers_off = 0;
};

std::optional<StatusSample> ParseStatus(absl::string_view line) {
  if (!absl::ConsumePrefix(&line, "OK ")) return std::nullopt;
  StatusSample s;
  for (absl::string_view field : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(field, '=');
    bool ok = true;
    if (kv.first == "queue") ok = absl::SimpleAtoi(kv.second, &s.queue);
    else if (kv.first == "busy") ok = absl::SimpleAtoi(kv.second, &s.busy);
    else if (kv.first == "configured") s.configured = kv.second == "1";
    else if (kv.first == "periods") ok = absl::SimpleAtoi(kv.second, &s.periods);
    else if (kv.first == "measured_ms") ok = absl::SimpleAtod(kv.second, &s.measured_ms);
    else if (kv.first == "samples") ok = absl::SimpleAtoi(kv.second, &s.samples);
    else if (kv.first == "in_flight") ok = absl::SimpleAtoi(kv.second, &s.in_flight);
    else if (kv.first == "served") ok = absl::SimpleAtod(kv.second, &s.served);
    else if (kv.first == "tier") ok = absl::SimpleAtoi(kv.second, &s.tier);
    else if (kv.first == "tier_allow") ok = absl::SimpleAtod(kv.second, &s.tier_allow);
    else if (kv.first == "tiers_off") ok = absl::SimpleAtoi(kv.second, &s.tiers_off);
    if (!ok) return std::nullopt;
  }
  return s;
}

struct Phase {
  std::string name;
  double load = 1;  // x capacity
  double seconds = 1;
};

// What one phase measured.
struct PhaseResult {
  std::string name;
  double load = 0;
  int64_t sent = 0;
  int64_t answered = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0;
  double success = 0;  // answered within the deadline
  double optional = 0;  // optional units served / (4 x answered)
};

struct RunResult {
  std::vector<PhaseResult> phases;
  std::vector<StatusSample> status;  // one per governor period (or per poll)
  std::vector<int64_t> phase_start_ns;  // since the run's start
  // Per request, for windows that are not whole phases.
  std::vector<int64_t> sched_ns, latency_ns;  // latency -1: unanswered
  std::vector<int8_t> units;
  int64_t wait_end_ns = 0;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

// The figures of the requests scheduled in [from_ns, to_ns).
PhaseResult Summarize(const RunResult& run, int64_t from_ns, int64_t to_ns, double deadline_ms) {
  PhaseResult r;
  std::vector<double> lat;
  int64_t answered = 0, within = 0, units = 0;
  for (size_t i = 0; i < run.sched_ns.size(); ++i) {
    if (run.sched_ns[i] < from_ns || run.sched_ns[i] >= to_ns) continue;
    ++r.sent;
    const int64_t l = run.latency_ns[i];
    if (l < 0) {
      lat.push_back(static_cast<double>(run.wait_end_ns - run.sched_ns[i]) / 1e6);
      continue;
    }
    ++answered;
    units += run.units[i];
    const double ms = static_cast<double>(l) / 1e6;
    lat.push_back(ms);
    if (ms <= deadline_ms) ++within;
  }
  r.p50_ms = Percentile(lat, 0.50);
  r.p95_ms = Percentile(lat, 0.95);
  r.p99_ms = Percentile(lat, 0.99);
  r.success = r.sent > 0 ? static_cast<double>(within) / static_cast<double>(r.sent) : 0;
  r.answered = answered;
  r.optional = answered > 0 ? static_cast<double>(units) /
                                  static_cast<double>(kOptional * answered)
                            : 0;
  return r;
}

class Driver {
 public:
  explicit Driver(const Args& args) : args_(args) {}
  ~Driver() { Stop(); }

  // Starts the service process and connects to it.
  bool Start(const char* self) {
    int out_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0) return Fail("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    std::vector<std::string> argv_s = {
        self,
        "--serve",
        absl::StrCat("--workers=", args_.service.workers),
        absl::StrCat("--essential-ms=", args_.service.essential_ms),
        absl::StrCat("--optional-ms=", args_.service.optional_ms)};
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&child_, self, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out_pipe[1]);
    if (rc != 0) {
      close(out_pipe[0]);
      child_ = -1;
      return Fail(absl::StrCat("cannot run ", self, " --serve: ", std::strerror(rc)));
    }
    LineReader out(out_pipe[0]);
    std::string line;
    int port = 0;
    const bool got = out.Next(line);
    close(out_pipe[0]);
    if (!got || !absl::SimpleAtoi(absl::StripPrefix(line, "PORT "), &port)) {
      return Fail("the service did not start (no PORT line)");
    }
    data_fd_ = Connect(port);
    control_fd_ = Connect(port);
    if (data_fd_ < 0 || control_fd_ < 0) return Fail("cannot connect to the service");
    control_reader_ = std::make_unique<LineReader>(control_fd_);
    receiver_ = std::thread([this] { Receive(); });
    return true;
  }

  void Stop() {
    if (control_fd_ >= 0) {
      Control("QUIT");
      shutdown(data_fd_, SHUT_RDWR);
    }
    if (receiver_.joinable()) receiver_.join();
    if (data_fd_ >= 0) close(data_fd_);
    if (control_fd_ >= 0) close(control_fd_);
    data_fd_ = control_fd_ = -1;
    if (child_ > 0) {
      int status = 0;
      // The service exits on QUIT; a stuck one is ended after 5 s.
      for (int i = 0; i < 500 && waitpid(child_, &status, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (waitpid(child_, &status, WNOHANG) == 0) {
        kill(child_, SIGKILL);
        waitpid(child_, &status, 0);
      }
      child_ = -1;
    }
  }

  const std::string& error() const { return error_; }

  // One control command; its answer line ("OK ..." or "ERR ...").
  std::string Control(const std::string& command) {
    std::lock_guard<std::mutex> lock(control_mu_);
    std::string line;
    if (!WriteAll(control_fd_, command + "\n") || !control_reader_->Next(line)) {
      return "ERR the service's control connection closed";
    }
    return line;
  }

  bool MustControl(const std::string& command) {
    const std::string answer = Control(command);
    if (answer.rfind("OK", 0) == 0) return true;
    return Fail(absl::StrCat(command, ": ", answer));
  }

  // Closed loop with `outstanding` requests in flight for `seconds`: answers
  // per second.
  double MeasureCapacity(int outstanding, double seconds) {
    auto run = std::make_shared<RunState>();
    const size_t n = 1'000'000;
    run->Init(n);
    run->t0_ns = NowNs();
    {
      std::lock_guard<std::mutex> lock(run_mu_);
      run_ = run;
    }
    std::mt19937_64 rng(args_.seed);
    uint64_t next = 0;
    auto send_one = [&] {
      const uint64_t id = next++;
      run->sched_ns[id] = NowNs() - run->t0_ns;
      WriteAll(data_fd_, absl::StrCat("R ", base_id_ + id, " ", rng() % 100000, "\n"));
    };
    for (int i = 0; i < outstanding; ++i) send_one();
    const int64_t warm_end = run->t0_ns + static_cast<int64_t>(0.5e9);
    const int64_t end = warm_end + static_cast<int64_t>(seconds * 1e9);
    int64_t warm_count = -1;
    while (NowNs() < end && next < n) {
      std::unique_lock<std::mutex> lock(run->mu);
      run->cv.wait_for(lock, std::chrono::milliseconds(5),
                       [&] { return run->answered + outstanding > next; });
      lock.unlock();
      if (warm_count < 0 && NowNs() >= warm_end) warm_count = run->answered_count.load();
      while (run->answered_count.load() + static_cast<uint64_t>(outstanding) > next) send_one();
    }
    const double rate =
        static_cast<double>(run->answered_count.load() - static_cast<uint64_t>(warm_count)) /
        seconds;
    Drain(run);
    return rate;
  }

  // Open loop: Poisson arrivals at each phase's load x capacity.
  RunResult Drive(const std::vector<Phase>& phases, double capacity, bool poll_status) {
    std::mt19937_64 rng(args_.seed + run_count_++);
    std::vector<int64_t> sched;
    RunResult result;
    double t = 0;
    double phase_start = 0;
    for (const Phase& p : phases) {
      result.phase_start_ns.push_back(static_cast<int64_t>(phase_start * 1e9));
      std::exponential_distribution<double> gap(p.load * capacity);
      const double phase_end = phase_start + p.seconds;
      while (true) {
        t += gap(rng);
        if (t >= phase_end) break;
        sched.push_back(static_cast<int64_t>(t * 1e9));
      }
      t = phase_end;
      phase_start = phase_end;
    }
    const int64_t total_ns = static_cast<int64_t>(phase_start * 1e9);
    result.phase_start_ns.push_back(total_ns);

    auto run = std::make_shared<RunState>();
    run->Init(sched.size());
    run->t0_ns = NowNs() + 20'000'000;
    {
      std::lock_guard<std::mutex> lock(run_mu_);
      run_ = run;
    }
    std::atomic<bool> polling{poll_status};
    std::thread poller;
    if (poll_status) {
      poller = std::thread([&] {
        int64_t last_periods = -1;
        while (polling.load()) {
          std::optional<StatusSample> s = ParseStatus(Control("STATUS"));
          if (s.has_value()) {
            s->t_ns = NowNs() - run->t0_ns;
            // One row per governor period; without a governor, one per poll.
            if (!s->configured || s->periods != last_periods) {
              last_periods = s->periods;
              result.status.push_back(*s);
            }
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(s && s->configured ? 20 : 100));
        }
      });
    }
    std::string batch;
    for (size_t i = 0; i < sched.size();) {
      std::this_thread::sleep_until(FromNs(run->t0_ns + sched[i]));
      const int64_t now = NowNs() - run->t0_ns;
      batch.clear();
      // Everything due by now goes in one write (the sender is late, not
      // the request: its latency still counts from its scheduled time).
      while (i < sched.size() && sched[i] <= now) {
        run->sched_ns[i] = sched[i];
        absl::StrAppend(&batch, "R ", base_id_ + i, " ", rng() % 100000, "\n");
        ++i;
      }
      WriteAll(data_fd_, batch);
    }
    // Wait for the answers still due, up to the deadline after the last send.
    const int64_t wait_end = run->t0_ns + total_ns + DeadlineNs() + 50'000'000;
    {
      std::unique_lock<std::mutex> lock(run->mu);
      run->cv.wait_until(lock, FromNs(wait_end), [&] { return run->answered == sched.size(); });
    }
    result.wait_end_ns = NowNs() - run->t0_ns;
    polling.store(false);
    if (poller.joinable()) poller.join();
    Drain(run);

    result.sched_ns = std::move(sched);
    result.latency_ns.resize(result.sched_ns.size());
    result.units.resize(result.sched_ns.size());
    for (size_t i = 0; i < result.sched_ns.size(); ++i) {
      const int64_t done = run->done_ns[i].load();
      result.latency_ns[i] = done > 0 ? done - result.sched_ns[i] : -1;
      result.units[i] = static_cast<int8_t>(run->units[i].load());
    }
    for (size_t p = 0; p < phases.size(); ++p) {
      PhaseResult r = Summarize(result, result.phase_start_ns[p], result.phase_start_ns[p + 1],
                                DeadlineMs());
      r.name = phases[p].name;
      r.load = phases[p].load;
      result.phases.push_back(r);
    }
    return result;
  }

  double DeadlineMs() const { return 5.0 * args_.target_ms; }
  int64_t DeadlineNs() const { return static_cast<int64_t>(DeadlineMs() * 1e6); }

 private:
  struct RunState {
    void Init(size_t n) {
      sched_ns.assign(n, 0);
      done_ns = std::make_unique<std::atomic<int64_t>[]>(n);
      units = std::make_unique<std::atomic<int>[]>(n);
      size = n;
    }
    size_t size = 0;
    int64_t t0_ns = 0;
    std::vector<int64_t> sched_ns;
    std::unique_ptr<std::atomic<int64_t>[]> done_ns;  // since t0; 0 = not yet
    std::unique_ptr<std::atomic<int>[]> units;
    std::atomic<uint64_t> answered_count{0};
    std::mutex mu;
    std::condition_variable cv;
    uint64_t answered = 0;  // under mu
  };

  // Drops what the service still has queued, waits for its workers to
  // finish, and moves the request ids past this run's.
  void Drain(const std::shared_ptr<RunState>& run) {
    Control("FLUSH");
    for (int i = 0; i < 500; ++i) {
      std::optional<StatusSample> s = ParseStatus(Control("STATUS"));
      if (!s.has_value() || (s->queue == 0 && s->busy == 0)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::lock_guard<std::mutex> lock(run_mu_);
    base_id_ += run->size;
    run_.reset();
  }

  void Receive() {
    LineReader reader(data_fd_);
    std::string line;
    while (reader.Next(line)) {
      const int64_t now = NowNs();
      std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(line, ' ');
      uint64_t id = 0;
      int units = 0;
      if (!absl::SimpleAtoi(parts.first, &id) || !absl::SimpleAtoi(parts.second, &units)) {
        continue;  // an ERR line: the request stays unanswered
      }
      std::shared_ptr<RunState> run;
      uint64_t base = 0;
      {
        std::lock_guard<std::mutex> lock(run_mu_);
        run = run_;
        base = base_id_;
      }
      if (run == nullptr || id < base || id - base >= run->size) continue;
      const size_t i = id - base;
      run->units[i].store(units);
      run->done_ns[i].store(std::max<int64_t>(1, now - run->t0_ns));
      run->answered_count.fetch_add(1);
      {
        std::lock_guard<std::mutex> lock(run->mu);
        ++run->answered;
      }
      run->cv.notify_all();
    }
  }

  int Connect(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (fd >= 0) close(fd);
      return -1;
    }
    NoDelay(fd);
    return fd;
  }

  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  const Args& args_;
  pid_t child_ = -1;
  int data_fd_ = -1;
  int control_fd_ = -1;
  std::mutex control_mu_;
  std::unique_ptr<LineReader> control_reader_;
  std::thread receiver_;
  std::mutex run_mu_;
  std::shared_ptr<RunState> run_;
  uint64_t base_id_ = 0;
  uint64_t run_count_ = 0;
  std::string error_;
};

// --------------------------------------------------------------- analysis

// The governor's periods within [from_ns, to_ns) of a run.
std::vector<StatusSample> PeriodsIn(const RunResult& run, int64_t from_ns, int64_t to_ns) {
  std::vector<StatusSample> out;
  for (const StatusSample& s : run.status) {
    if (s.configured && s.t_ns >= from_ns && s.t_ns < to_ns) out.push_back(s);
  }
  return out;
}

// The number of periods after a step until every value from then on lies in
// [lo, hi] (1: from the first period on); -1 if the last one does not.
int Settle(const std::vector<double>& values, double lo, double hi) {
  int settled = -1;
  for (int i = static_cast<int>(values.size()) - 1; i >= 0; --i) {
    const double v = values[static_cast<size_t>(i)];
    if (v < lo || v > hi) break;
    settled = i;
  }
  return settled < 0 ? -1 : settled + 1;
}

// The p95 the load generator saw over the requests that completed in the
// `window_ns` before each period's end (-1: none).
std::vector<double> WindowedP95(const RunResult& run, const std::vector<StatusSample>& periods,
                                int64_t window_ns) {
  std::vector<double> values;
  for (const StatusSample& period : periods) {
    const int64_t to = period.t_ns;
    const int64_t from = to - window_ns;
    std::vector<double> lat;
    for (size_t r = 0; r < run.sched_ns.size(); ++r) {
      if (run.latency_ns[r] < 0) continue;
      const int64_t done = run.sched_ns[r] + run.latency_ns[r];
      if (done > from && done <= to) lat.push_back(static_cast<double>(run.latency_ns[r]) / 1e6);
    }
    values.push_back(lat.empty() ? -1 : Percentile(lat, 0.95));
  }
  return values;
}


double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

double StdDev(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  return std::sqrt(var / static_cast<double>(v.size() - 1));
}

void PrintHeader() {
  std::printf("  %-8s %-9s %5s %7s %8s %8s %8s %8s %9s\n", "mode", "phase", "load", "sent",
              "p50_ms", "p95_ms", "p99_ms", "success", "optional");
}

// One row of the table; "-" for the optional share of a phase in which
// nothing was answered.
void PrintPhase(const std::string& mode, const PhaseResult& r) {
  const std::string optional =
      r.answered > 0 ? absl::StrFormat("%.1f%%", 100 * r.optional) : "-";
  std::printf("  %-8s %-9s %4.1fx %7" PRId64 " %8.1f %8.1f %8.1f %7.2f%% %9s\n",
              mode.c_str(), r.name.c_str(), r.load, r.sent, r.p50_ms, r.p95_ms, r.p99_ms,
              100 * r.success, optional.c_str());
  std::fflush(stdout);
}

// One row per status sample; client_p95_ms is the p95 of the requests the
// load generator saw complete since the previous row (-1: none).
void WriteTrace(std::ofstream& out, const std::string& mode, const RunResult& run,
                const std::vector<Phase>& phases) {
  int64_t previous = 0;
  for (const StatusSample& s : run.status) {
    size_t p = 0;
    while (p + 1 < phases.size() && s.t_ns >= run.phase_start_ns[p + 1]) ++p;
    std::vector<double> lat;
    for (size_t r = 0; r < run.sched_ns.size(); ++r) {
      if (run.latency_ns[r] < 0) continue;
      const int64_t done = run.sched_ns[r] + run.latency_ns[r];
      if (done > previous && done <= s.t_ns) {
        lat.push_back(static_cast<double>(run.latency_ns[r]) / 1e6);
      }
    }
    previous = s.t_ns;
    out << absl::StrFormat("%s,%s,%.3f,%d,%.3f,%.3f,%d,%d,%.4f,%d,%.4f,%d,%d,%d\n", mode,
                           phases[p].name, static_cast<double>(s.t_ns) / 1e9, s.periods,
                           s.measured_ms, lat.empty() ? -1.0 : Percentile(lat, 0.95), s.samples,
                           s.in_flight, s.served, s.tier, s.tier_allow, s.tiers_off, s.queue,
                           s.busy);
  }
}

int Usage(const std::string& problem) {
  std::fprintf(stderr,
               "overload: %s\n"
               "usage: overload [--quick] [--trace FILE] [--target-ms N] [--period-ms N]\n"
               "                [--workers N] [--essential-ms X] [--optional-ms X]\n"
               "                [--phase-s X] [--overload-s X] [--sweep-s X] [--seed N]\n",
               problem.c_str());
  return 2;
}

// Parses "--name=value" or "--name value" arguments into `args`.
std::optional<std::string> ParseArgs(int argc, char** argv, Args& args, bool& serve) {
  std::vector<std::string> list(argv + 1, argv + argc);
  for (size_t i = 0; i < list.size(); ++i) {
    std::string name = list[i];
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (name == "--quick") {
      args.quick = true;
      continue;
    }
    if (name == "--serve") {
      serve = true;
      continue;
    }
    static constexpr absl::string_view kValued[] = {
        "--trace",       "--target-ms", "--period-ms",  "--workers", "--essential-ms",
        "--optional-ms", "--phase-s",   "--overload-s", "--sweep-s", "--seed"};
    if (std::find(std::begin(kValued), std::end(kValued), name) == std::end(kValued)) {
      return absl::StrCat("unknown argument ", name);
    }
    if (!value.has_value()) {
      if (i + 1 >= list.size()) return absl::StrCat(name, " needs a value");
      value = list[++i];
    }
    auto positive_int = [&](int& out, int lo, int hi) -> std::optional<std::string> {
      if (!absl::SimpleAtoi(*value, &out) || out < lo || out > hi) {
        return absl::StrCat(name, ": ", *value, " is not an integer in [", lo, ", ", hi, "]");
      }
      return std::nullopt;
    };
    auto positive_double = [&](double& out, double lo, double hi) -> std::optional<std::string> {
      if (!absl::SimpleAtod(*value, &out) || !(out >= lo && out <= hi)) {
        return absl::StrCat(name, ": ", *value, " is not a number in [", lo, ", ", hi, "]");
      }
      return std::nullopt;
    };
    std::optional<std::string> err;
    if (name == "--trace") args.trace = *value;
    else if (name == "--target-ms") err = positive_int(args.target_ms, 1, 60000);
    else if (name == "--period-ms") err = positive_int(args.period_ms, 10, 60000);
    else if (name == "--workers") err = positive_int(args.service.workers, 1, 256);
    else if (name == "--essential-ms") err = positive_double(args.service.essential_ms, 0.1, 1000);
    else if (name == "--optional-ms") err = positive_double(args.service.optional_ms, 0.1, 1000);
    else if (name == "--phase-s") err = positive_double(args.phase_s, 0.5, 600);
    else if (name == "--overload-s") err = positive_double(args.overload_s, 0.5, 600);
    else if (name == "--sweep-s") err = positive_double(args.sweep_s, 0.5, 600);
    else if (name == "--seed") {
      if (!absl::SimpleAtoi(*value, &args.seed)) err = absl::StrCat("--seed: ", *value, " is not an integer");
    } else {
      return absl::StrCat("unknown argument ", name);
    }
    if (err.has_value()) return err;
  }
  return std::nullopt;
}

int RunBench(const Args& args, const char* self) {
  const double target = args.target_ms;
  Driver driver(args);
  if (!driver.Start(self)) {
    std::fprintf(stderr, "overload: %s\n", driver.error().c_str());
    return 1;
  }
  std::ofstream trace;
  if (!args.trace.empty()) {
    trace.open(args.trace);
    if (!trace) {
      std::fprintf(stderr, "overload: cannot write --trace %s\n", args.trace.c_str());
      return 1;
    }
    trace << "mode,phase,t_s,periods,measured_p95_ms,client_p95_ms,samples,in_flight,served,tier,"
             "tier_allow,tiers_off,queue,busy\n";
  }
  const double work_ms = args.service.essential_ms + kOptional * args.service.optional_ms;
  std::printf("overload: service with %d workers; a request: %.1f ms essential + 4 optional "
              "switches (tiers 9 7 5 3) x %.1f ms; target p95 %d ms, deadline %.0f ms, "
              "governor period %d ms%s\n",
              args.service.workers, args.service.essential_ms, args.service.optional_ms,
              args.target_ms, driver.DeadlineMs(), args.period_ms, args.quick ? " (quick)" : "");
  const double capacity = driver.MeasureCapacity(64, args.quick ? 1.5 : 3.0);
  std::printf("capacity (everything on, closed loop): %.0f requests/s (ideal %.0f)\n", capacity,
              1000.0 * args.service.workers / work_ms);
  std::fflush(stdout);
  if (!(capacity > 0)) {
    std::fprintf(stderr, "overload: the service answered nothing\n");
    return 1;
  }

  const std::vector<Phase> steps = {{"0.5x", 0.5, args.phase_s},
                                    {"2x", 2.0, args.overload_s},
                                    {"0.5x-back", 0.5, args.phase_s}};
  const std::vector<Phase> sweep = {{"2x", 2.0, args.sweep_s}};
  const int64_t overload_from = static_cast<int64_t>(args.phase_s * 1e9);
  const int64_t overload_to = static_cast<int64_t>((args.phase_s + args.overload_s) * 1e9);
  // The convergence allowance: the first 10 periods of the 2x phase.
  const int64_t steady_from =
      std::min(overload_to, overload_from + int64_t{10} * args.period_ms * 1'000'000);

  PrintHeader();
  // 1. Everything on.
  bool ok = driver.MustControl("CLEAR");
  const RunResult on = driver.Drive(steps, capacity, true);
  for (const PhaseResult& r : on.phases) PrintPhase("on", r);
  if (trace) WriteTrace(trace, "on", on, steps);

  // 2. Static tier shedding: the level serving most with p95 <= target.
  // A point that misses the target by less than 3x runs once more and keeps
  // the better run: on a shared machine a stall of a few hundred ms (other
  // processes, not the service) can push one short run near capacity over.
  auto sweep_one = [&](const std::string& command, const std::string& label) {
    if (!driver.MustControl(command)) return PhaseResult{};
    PhaseResult r = driver.Drive(sweep, capacity, false).phases[0];
    r.name = label;
    PrintPhase("sweep", r);
    if (r.p95_ms > target && r.p95_ms < 3 * target) {
      PhaseResult again = driver.Drive(sweep, capacity, false).phases[0];
      again.name = label + "'";
      PrintPhase("sweep", again);
      if (again.p95_ms < r.p95_ms) r = again;
    }
    return r;
  };
  int best_level = -1;
  double best_level_optional = -1;
  for (int level : {9, 7, 5, 3}) {  // most optional work first
    const PhaseResult r = sweep_one(absl::StrCat("SHED ", level), absl::StrCat("shed", level));
    if (r.p95_ms <= target && r.optional > best_level_optional) {
      best_level = level;
      best_level_optional = r.optional;
      break;  // the next levels serve less
    }
  }
  if (best_level < 0) best_level = 3;
  ok = ok && driver.MustControl(absl::StrCat("SHED ", best_level));
  const RunResult shed = driver.Drive(steps, capacity, false);
  const std::string shed_mode = absl::StrCat("shed", best_level);
  for (const PhaseResult& r : shed.phases) PrintPhase(shed_mode, r);

  // The oracle: one fixed allow for every optional switch.
  double oracle_allow = 0;
  double oracle_optional = 0;
  auto try_allow = [&](int tenths) {
    return sweep_one(absl::StrFormat("ALLOW %.1f", tenths / 10.0),
                     absl::StrFormat("allow%.1f", tenths / 10.0));
  };
  if (args.quick) {
    // Bisection over 0.0 ... 1.0 (p95 grows with allow).
    int lo = 0, hi = 10;  // lo: assumed to pass; hi: not yet known
    PhaseResult lo_result;
    bool lo_known = false;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      const PhaseResult r = try_allow(mid);
      if (r.p95_ms <= target) {
        lo = mid;
        lo_result = r;
        lo_known = true;
      } else {
        hi = mid - 1;
      }
    }
    if (!lo_known) lo_result = try_allow(lo);
    oracle_allow = lo / 10.0;
    oracle_optional = lo_result.optional;
  } else {
    for (int tenths = 10; tenths >= 0; --tenths) {
      const PhaseResult r = try_allow(tenths);
      if (r.p95_ms <= target && r.optional > oracle_optional) {
        oracle_allow = tenths / 10.0;
        oracle_optional = r.optional;
      }
    }
  }
  std::printf("oracle: allow %.1f for every optional switch serves %.1f%% of the optional "
              "work with p95 <= %d ms at 2x\n",
              oracle_allow, 100 * oracle_optional, args.target_ms);

  // 3. The governor, in a new service process: the latencies the sweeps
  // left behind would otherwise be its first period's (RecordLatency counts
  // before a governor is configured), and a real service starts its
  // governor with the process.
  driver.Stop();
  if (!driver.Start(self)) {
    std::fprintf(stderr, "overload: %s\n", driver.error().c_str());
    return 1;
  }
  ok = ok && driver.MustControl(absl::StrCat("GOV ", args.target_ms, " ", args.period_ms));
  const RunResult gov = driver.Drive(steps, capacity, true);
  ok = ok && driver.MustControl("NOGOV");
  for (const PhaseResult& r : gov.phases) PrintPhase("governor", r);
  if (trace) WriteTrace(trace, "governor", gov, steps);
  if (!ok) {
    std::fprintf(stderr, "overload: %s\n", driver.error().c_str());
    return 1;
  }

  // The governor's periods around the steps.
  const std::vector<StatusSample> up = PeriodsIn(gov, overload_from, overload_to);
  const std::vector<StatusSample> down =
      PeriodsIn(gov, overload_to, gov.phase_start_ns.back() + 1);
  std::vector<double> measured, served, allow;
  for (const StatusSample& p : up) measured.push_back(p.measured_ms);
  std::vector<double> back_served;
  for (const StatusSample& p : down) back_served.push_back(p.served);
  // The criterion: the period's p95 within +-10% of the target from
  // then on. Also: at most 10% over it (a controller may hold below the
  // target), and both for the p95 the load generator saw over the last 4
  // periods (about 4 x 90 requests at the defaults, against about 90).
  const std::vector<double> window = WindowedP95(gov, up, int64_t{4} * args.period_ms * 1'000'000);
  const int settle_band = Settle(measured, 0.9 * target, 1.1 * target);
  const int settle_cap = Settle(measured, 0, 1.1 * target);
  const int settle_band_window = Settle(window, 0.9 * target, 1.1 * target);
  const int settle_cap_window = Settle(window, 0, 1.1 * target);
  const int settle_down = Settle(back_served, 0.9999, 1);
  const int steady_from_period = settle_band > 0 ? settle_band : settle_cap;
  const size_t steady_first =
      steady_from_period > 0 ? static_cast<size_t>(steady_from_period - 1) : up.size() / 2;
  for (size_t i = steady_first; i < up.size(); ++i) {
    served.push_back(up[i].served);
    allow.push_back(up[i].tier_allow);
  }
  std::printf("governor: %zu periods at 2x; periods after the step until the p95 stays "
              "within +-10%% of %d ms: %d (load generator, last 4 periods: %d); until it "
              "stays at most 10%% over: %d (%d)\n",
              up.size(), args.target_ms, settle_band, settle_band_window, settle_cap,
              settle_cap_window);
  std::printf("governor: back to full service %d periods after the step down\n", settle_down);
  std::printf("governor: steady state (%s, %zu periods): served s.d. %.3f (mean %.3f), "
              "dimmed tier's allow s.d. %.3f\n",
              steady_from_period > 0 ? "from settling to the end of 2x"
                                     : "second half of 2x: never settled",
              served.size(), StdDev(served), Mean(served), StdDev(allow));

  // The same over the 2x phase after its first 10 periods, settled or not.
  std::vector<double> served_after10, allow_after10;
  for (size_t i = 10; i < up.size(); ++i) {
    served_after10.push_back(up[i].served);
    allow_after10.push_back(up[i].tier_allow);
  }
  std::printf("governor: 2x after its first 10 periods (%zu periods): served s.d. %.3f (mean "
              "%.3f, min %.3f, max %.3f), dimmed tier's allow s.d. %.3f\n",
              served_after10.size(), StdDev(served_after10), Mean(served_after10),
              served_after10.empty() ? 0.0
                                     : *std::min_element(served_after10.begin(),
                                                         served_after10.end()),
              served_after10.empty() ? 0.0
                                     : *std::max_element(served_after10.begin(),
                                                         served_after10.end()),
              StdDev(allow_after10));

  const PhaseResult gov_steady = Summarize(gov, steady_from, overload_to, driver.DeadlineMs());
  const PhaseResult on_steady = Summarize(on, steady_from, overload_to, driver.DeadlineMs());
  std::printf("2x after the first 10 periods: governor p95 %.1f ms, success %.2f%%, optional "
              "%.1f%%; everything on p95 %.1f ms, success %.2f%%\n",
              gov_steady.p95_ms, 100 * gov_steady.success, 100 * gov_steady.optional,
              on_steady.p95_ms, 100 * on_steady.success);
  const int converge =
      settle_band < 0 || settle_down < 0 ? -1 : std::max(settle_band, settle_down);
  std::printf(
      "overload: governed_p95_over_target=%.2f ungoverned_p95_over_target=%.2f "
      "served_vs_oracle=%.2f converge_periods=%d\n",
      gov_steady.p95_ms / target, on_steady.p95_ms / target,
      oracle_optional > 0 ? gov_steady.optional / oracle_optional : 0.0, converge);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  bool serve = false;
  // --quick shortens every phase; explicit lengths still win.
  for (int i = 1; i < argc; ++i) {
    if (absl::string_view(argv[i]) == "--quick") {
      args.phase_s = 2;
      args.overload_s = 4.5;
      args.sweep_s = 1.5;
    }
  }
  if (std::optional<std::string> problem = ParseArgs(argc, argv, args, serve)) {
    return Usage(*problem);
  }
  if (serve) {
    // The service ends with the driver, however the driver ends.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) return 1;
    return Service(args.service).Run();
  }
  signal(SIGPIPE, SIG_IGN);
  return RunBench(args, "/proc/self/exe");
}
