// Fleet propagation: how long after a switch is changed at the control plane
// does `enabled()` change in every process of a fleet? (Issue 4, section 4;
// DESIGN section 6: "within tens of milliseconds on one host".)
//
//   ninja -C build bench/fleet_propagation bench/fleet_watcher
//   build/bench/fleet_propagation                      # every source, N = 1, 10, 50
//   build/bench/fleet_propagation --sources http-fast --n 10 --flips 20
//
// For each source and each N it starts N fleet_watcher processes (the real
// library, Runtime::FromEnv, as a service would run it), changes the switch
// `bench.flip` M times, alternating off and on, and takes from every process
// the CLOCK_MONOTONIC time at which its enabled() changed. All processes
// share the host's CLOCK_MONOTONIC, so latency = that time - the time just
// before the change was made. Reported per (source, N) over all N x M
// samples: p50, p99 (nearest rank), max, and changes a process did not see
// within the deadline (missed; none expected). The first flip waits for
// the fleet to settle (Source::Settle: for etcd, all N registered and no
// write for 500 ms), so every flip is measured on a fleet at rest.
//
// Sources:
//   etcd          DEGRADE_ETCD_ENDPOINTS/PREFIX against a single-member etcd
//                 started here (tests/etcd_fixture.h: $DEGRADE_ETCD_BIN or
//                 etcd on PATH); the change is a put through the library's
//                 etcd client, timed from just before it is sent.
//   http          DEGRADE_REMOTE_URLS against a snapshot server started here,
//                 at the default poll interval (5000 ms, jittered +-10%). The
//                 change is the server starting to serve the new snapshot.
//   http-fast     the same at DEGRADE_REMOTE_INTERVAL_MS=500, for scale.
// Between HTTP flips the program waits a random fraction of the interval, so
// a flip does not always land just after the pollers' last poll.
//
// --wait mode (issue 17): how long until the fleet has *confirmed* a
// change. Against the etcd source only, at N = 10, 50, 200 by default: each
// watcher registers under PREFIX/instances/ (lib/etcd/registration.h), and
// every flip is `degradectl --etcd ... on|off bench.flip --wait --json`,
// timed from just before degradectl starts until it returns with every
// instance confirmed (a flip where one did not is counted as missed).
// Reported: p50, p99 and max of that time over the flips, and the etcd
// writes the registrations added: per change (the store's revisions
// between two flips, less the flip's own put, after a pause that lets late
// registrations land) and per second over the run. Target (issue 17): at
// N = 200, p99 under 500 ms and at most N registration writes per change.
//
//   build/bench/fleet_propagation --wait                  # N = 10, 50, 200
//   build/bench/fleet_propagation --wait --n 50 --flips 20
//
// Run time: bounded by --max-seconds (default 600); a source or N that
// would start after it is skipped, and says so. Default flips: 50 for etcd
// (20-100 ms apart: seconds), 10 for http (about 3 minutes for N = 1, 10,
// 50), 20 for http-fast (about 40 s). Target (issue 4): etcd p99 under 50 ms
// for N = 50 on one host.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "etcd/etcd_client.h"
#include "etcd/etcd_json.h"
#include "etcd_fixture.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace {

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string one, five, fifteen;
  f >> one >> five >> fifteen;
  return absl::StrCat(one, " ", five, " ", fifteen);
}

// ------------------------------------------------------------------ fleet

// One fleet_watcher process: its stdin (closed to end it) and stdout.
struct Watcher {
  pid_t pid = -1;
  int stdin_fd = -1;
  int stdout_fd = -1;
  std::string buffer;  // a partial line
  int enabled = -1;    // last reported
  bool ready = false;
  std::vector<std::pair<int, int64_t>> changes;  // (enabled, time) not yet taken
};

// N watcher processes with the same environment. Their stderr goes to
// `log_path`, shown when something fails.
class Fleet {
 public:
  Fleet(const std::string& watcher_path, int n, const std::vector<std::string>& env,
        const std::string& log_path)
      : log_path_(log_path) {
    const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    for (int i = 0; i < n; ++i) {
      int in_pipe[2], out_pipe[2];
      if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
        error_ = "pipe failed";
        break;
      }
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
      posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
      if (log_fd >= 0) posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
      std::vector<std::string> argv_s = {watcher_path};
      std::vector<char*> argv, envp;
      for (auto& s : argv_s) argv.push_back(s.data());
      argv.push_back(nullptr);
      std::vector<std::string> env_s = env;
      for (auto& s : env_s) envp.push_back(s.data());
      envp.push_back(nullptr);
      Watcher w;
      const int rc =
          posix_spawn(&w.pid, watcher_path.c_str(), &actions, nullptr, argv.data(), envp.data());
      posix_spawn_file_actions_destroy(&actions);
      close(in_pipe[0]);
      close(out_pipe[1]);
      w.stdin_fd = in_pipe[1];
      w.stdout_fd = out_pipe[0];
      if (rc != 0) {
        close(w.stdin_fd);
        close(w.stdout_fd);
        error_ = absl::StrCat("cannot run ", watcher_path);
        break;
      }
      watchers_.push_back(std::move(w));
    }
    if (log_fd >= 0) close(log_fd);
  }

  // Closes every stdin (the watchers stop their runtimes and exit), waits up
  // to 10 s for all, then kills the rest.
  ~Fleet() {
    for (Watcher& w : watchers_) close(w.stdin_fd);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (Watcher& w : watchers_) {
      int status = 0;
      while (waitpid(w.pid, &status, WNOHANG) == 0) {
        if (absl::Now() > deadline) {
          kill(w.pid, SIGKILL);
          waitpid(w.pid, &status, 0);
          break;
        }
        absl::SleepFor(absl::Milliseconds(5));
      }
      close(w.stdout_fd);
    }
  }

  const std::string& error() const { return error_; }
  size_t size() const { return watchers_.size(); }

  // Waits until every watcher said ready. Error names how many did not.
  absl::Status WaitReady(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      size_t ready = 0;
      for (const Watcher& w : watchers_) ready += w.ready ? 1 : 0;
      if (ready == watchers_.size()) return absl::OkStatus();
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            watchers_.size() - ready, " of ", watchers_.size(), " watchers not ready after ",
            absl::FormatDuration(timeout), "; their stderr: ", log_path_));
      }
      if (absl::Status s = ReadSome(absl::Milliseconds(50)); !s.ok()) return s;
    }
  }

  // Waits until every watcher reported enabled() == `enabled` at or after
  // `since_ns`, or `timeout`. Latencies in ms of those that did; `missed`
  // counts those that did not.
  absl::Status WaitChange(int enabled, int64_t since_ns, absl::Duration timeout,
                          std::vector<double>& latencies_ms, int& missed) {
    const absl::Time deadline = absl::Now() + timeout;
    std::vector<bool> seen(watchers_.size(), false);
    size_t count = 0;
    while (count < watchers_.size()) {
      for (size_t i = 0; i < watchers_.size(); ++i) {
        for (const auto& [value, t] : watchers_[i].changes) {
          if (!seen[i] && value == enabled && t >= since_ns) {
            seen[i] = true;
            ++count;
            latencies_ms.push_back(static_cast<double>(t - since_ns) / 1e6);
          }
        }
        watchers_[i].changes.clear();
      }
      if (count == watchers_.size()) break;
      if (absl::Now() > deadline) break;
      if (absl::Status s = ReadSome(absl::Milliseconds(20)); !s.ok()) return s;
    }
    missed += static_cast<int>(watchers_.size() - count);
    return absl::OkStatus();
  }

 private:
  absl::Status ReadSome(absl::Duration wait) {
    std::vector<pollfd> fds;
    for (const Watcher& w : watchers_) fds.push_back({w.stdout_fd, POLLIN, 0});
    const int r = poll(fds.data(), fds.size(), static_cast<int>(absl::ToInt64Milliseconds(wait)));
    if (r <= 0) return absl::OkStatus();
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      Watcher& w = watchers_[i];
      if (n <= 0) {
        return absl::InternalError(absl::StrCat("watcher ", w.pid,
                                                " exited early; its stderr: ", log_path_));
      }
      w.buffer.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = w.buffer.find('\n')) != std::string::npos) {
        const std::string line = w.buffer.substr(0, nl);
        w.buffer.erase(0, nl + 1);
        std::vector<std::string> parts = absl::StrSplit(line, ' ');
        int value = 0;
        int64_t t = 0;
        if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &value) ||
            !absl::SimpleAtoi(parts[2], &t)) {
          return absl::InternalError(absl::StrCat("watcher ", w.pid, " said \"", line, "\""));
        }
        if (parts[0] == "ready") {
          w.ready = true;
          w.enabled = value;
        } else if (parts[0] == "change") {
          w.enabled = value;
          w.changes.emplace_back(value, t);
        }
      }
    }
    return absl::OkStatus();
  }

  std::string log_path_;
  std::string error_;
  std::vector<Watcher> watchers_;
};

// ---------------------------------------------------------------- sources

// A control plane the fleet follows: it makes the change and says how the
// watchers find it.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::string label() const = 0;
  // DEGRADE_* variables for the watchers.
  virtual std::vector<std::string> WatcherEnv() const = 0;
  // Sets bench.flip; returns once the control plane holds the new value.
  virtual absl::Status Set(bool on) = 0;
  // How long a watcher may take before its change counts as missed.
  virtual absl::Duration Deadline() const = 0;
  // Pause after every watcher saw a change, before the next one.
  virtual absl::Duration Gap(std::mt19937_64& rng) const = 0;
  // Returns once the `n` watchers just started have settled, so the first
  // flip is measured on a fleet at rest, as the others are.
  virtual absl::Status Settle(int n) {
    (void)n;
    return absl::OkStatus();
  }
};

// A snapshot file server (a stand-in for nginx or object storage) with
// ETags, as DESIGN section 5 expects.
class HttpSource final : public Source {
 public:
  HttpSource(absl::Duration interval, bool is_default) : interval_(interval), default_(is_default) {
    Publish(true);
    server_.Get("/degrade.json", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      const std::string etag = absl::StrCat("\"v", version_, "\"");
      res.set_header("ETag", etag);
      if (req.get_header_value("If-None-Match") == etag) {
        res.status = 304;
        return;
      }
      res.set_content(body_, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) absl::SleepFor(absl::Milliseconds(1));
  }
  ~HttpSource() override {
    server_.stop();
    thread_.join();
  }

  std::string label() const override {
    return absl::StrCat("http poll ", absl::ToInt64Milliseconds(interval_), " ms",
                        default_ ? " (default)" : "");
  }
  std::vector<std::string> WatcherEnv() const override {
    return {absl::StrCat("DEGRADE_REMOTE_URLS=http://127.0.0.1:", port_, "/degrade.json"),
            absl::StrCat("DEGRADE_REMOTE_INTERVAL_MS=", absl::ToInt64Milliseconds(interval_))};
  }
  absl::Status Set(bool on) override {
    Publish(on);
    return absl::OkStatus();
  }
  // The poll interval plus its jitter, plus slack for a loaded machine.
  absl::Duration Deadline() const override { return interval_ * 2 + absl::Seconds(5); }
  absl::Duration Gap(std::mt19937_64& rng) const override {
    return interval_ * std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  }

 private:
  void Publish(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    ++version_;
    body_ = nlohmann::json{{"switches", {{"bench.flip", on ? "on" : "off"}}}}.dump();
  }

  const absl::Duration interval_;
  const bool default_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  int64_t version_ = 0;
  std::string body_;
};

// A real etcd started here (tests/etcd_fixture.h), written with the
// library's etcd client; watchers use DEGRADE_ETCD_ENDPOINTS/PREFIX. The
// change is the put: the time is taken before it is sent, so the latency
// includes etcd's commit.
class EtcdBenchSource final : public Source {
 public:
  static absl::StatusOr<std::unique_ptr<EtcdBenchSource>> Start() {
    auto cluster = degrade::testing::EtcdCluster::Start({});
    if (!cluster.ok()) return cluster.status();
    return std::unique_ptr<EtcdBenchSource>(new EtcdBenchSource(*std::move(cluster)));
  }

  std::string label() const override { return "etcd watch"; }
  std::vector<std::string> WatcherEnv() const override {
    return {"DEGRADE_ETCD_ENDPOINTS=" + cluster_->endpoints_csv(),
            std::string("DEGRADE_ETCD_PREFIX=") + kPrefix};
  }
  absl::Status Set(bool on) override {
    return client_->Put(std::string(kPrefix) + "/switches/bench.flip", on ? "\"on\"" : "\"off\"")
        .status();
  }
  absl::Duration Deadline() const override { return absl::Seconds(10); }
  const degrade::testing::EtcdCluster& cluster() const { return *cluster_; }
  degrade::internal::EtcdClient& client() { return *client_; }
  static std::string prefix() { return kPrefix; }
  // Flips 20 to 100 ms apart: faster than any operator, slow enough that
  // each flip is measured on its own.
  absl::Duration Gap(std::mt19937_64& rng) const override {
    return absl::Milliseconds(std::uniform_int_distribution<int>(20, 100)(rng));
  }
  // Each watcher registers under PREFIX/instances/ as it starts, and the
  // others' watches catch up past those writes. A flip made while N
  // processes are still doing that waits behind them (in one run with
  // flips 600 to 680 ms apart, the first flip after 50 started took 99.8 ms
  // to reach the last of them; the 29 after it at most 29.1 ms), which is
  // start-up, not propagation. So: all N
  // registered (a previous fleet's registrations are gone), then no write
  // to the store for 500 ms.
  absl::Status Settle(int n) override {
    const std::string dir = std::string(kPrefix) + "/instances/";
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    int64_t revision = -1;
    absl::Time quiet_since = absl::Now();
    for (;;) {
      auto range = client_->Range(dir, degrade::internal::EtcdPrefixEnd(dir));
      const absl::Time now = absl::Now();
      if (range.ok() && static_cast<int>(range->kvs.size()) == n) {
        if (range->revision != revision) {
          revision = range->revision;
          quiet_since = now;
        } else if (now - quiet_since >= absl::Milliseconds(500)) {
          return absl::OkStatus();
        }
      } else {
        revision = -1;
      }
      if (now > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            range.ok() ? range->kvs.size() : 0, " of ", n,
            " watchers registered, or the store did not settle, within 60 s"));
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

 private:
  static constexpr const char* kPrefix = "/degrade/bench";

  explicit EtcdBenchSource(std::unique_ptr<degrade::testing::EtcdCluster> cluster)
      : cluster_(std::move(cluster)) {
    degrade::internal::EtcdClient::Config config;
    config.endpoints = cluster_->endpoints();
    client_ = std::make_unique<degrade::internal::EtcdClient>(config);
  }

  std::unique_ptr<degrade::testing::EtcdCluster> cluster_;
  std::unique_ptr<degrade::internal::EtcdClient> client_;
};

// ------------------------------------------------------------------ runs

struct Result {
  std::string source;
  int n = 0;
  int flips = 0;
  std::vector<double> latencies_ms;
  int missed = 0;
  std::string load_before, load_after;
  std::string error;  // the run failed: why
  // --wait mode: registration writes per change, and per second of the run.
  double writes_per_change = NAN;
  double writes_per_second = NAN;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least p of the samples at or
  // below it.
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

Result Run(Source& source, const std::string& watcher, int n, int flips,
           const std::string& tmp_dir, std::mt19937_64& rng) {
  Result r;
  r.source = source.label();
  r.n = n;
  r.flips = flips;
  r.load_before = LoadAverage();
  std::vector<std::string> env = {"PATH=/usr/bin:/bin"};
  for (std::string& e : source.WatcherEnv()) env.push_back(std::move(e));
  if (absl::Status s = source.Set(true); !s.ok()) {
    r.error = std::string(s.message());
    return r;
  }
  Fleet fleet(watcher, n, env, absl::StrCat(tmp_dir, "/watchers.log"));
  if (!fleet.error().empty()) {
    r.error = fleet.error();
    return r;
  }
  if (absl::Status s = fleet.WaitReady(absl::Seconds(60)); !s.ok()) {
    r.error = std::string(s.message());
    return r;
  }
  if (absl::Status s = source.Settle(n); !s.ok()) {
    r.error = std::string(s.message());
    return r;
  }
  bool on = true;
  for (int i = 0; i < flips; ++i) {
    on = !on;
    const int64_t before = MonotonicNs();
    if (absl::Status s = source.Set(on); !s.ok()) {
      r.error = absl::StrCat("flip ", i + 1, ": ", s.message());
      return r;
    }
    if (absl::Status s =
            fleet.WaitChange(on ? 1 : 0, before, source.Deadline(), r.latencies_ms, r.missed);
        !s.ok()) {
      r.error = absl::StrCat("flip ", i + 1, ": ", s.message());
      return r;
    }
    absl::SleepFor(source.Gap(rng));
  }
  r.load_after = LoadAverage();
  return r;
}

// Runs `argv` (argv[0] a path) with `env`, stdout to `out`; its exit status
// (-1 when it could not run or was killed).
int RunProgram(const std::vector<std::string>& argv_s, const std::vector<std::string>& env_s,
               std::string& out) {
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  std::vector<std::string> a = argv_s, e = env_s;
  std::vector<char*> argv, envp;
  for (auto& x : a) argv.push_back(x.data());
  argv.push_back(nullptr);
  for (auto& x : e) envp.push_back(x.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    return -1;
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(out_pipe[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(out_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// --wait mode: N registered watchers; each flip through `degradectl --wait`.
Result RunWait(EtcdBenchSource& source, const std::string& watcher, const std::string& ctl,
               int n, int flips, const std::string& tmp_dir, std::mt19937_64& rng) {
  Result r;
  r.source = "etcd, degradectl --wait";
  r.n = n;
  r.flips = flips;
  r.load_before = LoadAverage();
  degrade::internal::EtcdClient& client = source.client();
  const std::string prefix = source.prefix() + "/";
  const std::string dir = prefix + "instances/";
  // A clean slate: no registrations of a previous fleet, bench.flip on.
  if (auto d = client.DeletePrefix(dir); !d.ok()) {
    r.error = std::string(d.status().message());
    return r;
  }
  if (absl::Status s = source.Set(true); !s.ok()) {
    r.error = std::string(s.message());
    return r;
  }
  std::vector<std::string> env = {"PATH=/usr/bin:/bin"};
  for (std::string& e : source.WatcherEnv()) env.push_back(std::move(e));
  Fleet fleet(watcher, n, env, absl::StrCat(tmp_dir, "/watchers.log"));
  if (!fleet.error().empty()) {
    r.error = fleet.error();
    return r;
  }
  if (absl::Status s = fleet.WaitReady(absl::Seconds(120)); !s.ok()) {
    r.error = std::string(s.message());
    return r;
  }
  // Every watcher registered, and their first writes settled.
  if (absl::Status s = source.Settle(n); !s.ok()) {
    r.error = std::string(s.message());
    return r;
  }
  const std::vector<std::string> ctl_env = {"PATH=/usr/bin:/bin", "HOME=/tmp", "USER=bench"};
  int64_t registration_writes = 0;
  const absl::Time run_start = absl::Now();
  bool on = true;
  for (int i = 0; i < flips; ++i) {
    on = !on;
    auto before = client.Range(prefix, "");
    if (!before.ok()) {
      r.error = absl::StrCat("flip ", i + 1, ": ", before.status().message());
      return r;
    }
    std::string out;
    const int64_t t0 = MonotonicNs();
    const int rc = RunProgram({ctl, "--etcd", source.cluster().endpoints_csv(), "--prefix", prefix,
                               on ? "on" : "off", "bench.flip", "--wait=30s", "--json"},
                              ctl_env, out);
    const int64_t t1 = MonotonicNs();
    const nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
    if (rc == 0 && j.is_object() && j.contains("wait") && j["wait"].value("ok", false)) {
      r.latencies_ms.push_back(static_cast<double>(t1 - t0) / 1e6);
    } else {
      ++r.missed;
      std::cerr << "flip " << i + 1 << ": degradectl --wait did not confirm the fleet (exit " << rc
                << "): " << out << "\n";
      if (rc != 0 && rc != 1) {
        r.error = absl::StrCat("flip ", i + 1, ": degradectl exited with ", rc, ": ", out);
        return r;
      }
    }
    // Late registrations land within the 200 ms coalescing window.
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(300, 500)(rng)));
    auto after = client.Range(prefix, "");
    if (!after.ok()) {
      r.error = absl::StrCat("flip ", i + 1, ": ", after.status().message());
      return r;
    }
    registration_writes += after->revision - before->revision - 1;  // less the flip's put
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - run_start);
  r.writes_per_change = static_cast<double>(registration_writes) / flips;
  r.writes_per_second = static_cast<double>(registration_writes) / seconds;
  r.load_after = LoadAverage();
  return r;
}

std::string FormatMs(double ms) {
  if (std::isnan(ms)) return "-";
  return ms < 10 ? absl::StrFormat("%.2f", ms) : absl::StrFormat("%.1f", ms);
}

void PrintTable(const std::vector<Result>& results) {
  std::cout << absl::StrFormat("%-28s %4s %6s %8s %7s %10s %10s %10s  %s\n", "source", "N", "flips",
                               "samples", "missed", "p50 ms", "p99 ms", "max ms",
                               "load avg before -> after");
  for (const Result& r : results) {
    if (!r.error.empty()) {
      std::cout << absl::StrFormat("%-28s %4d  FAILED: %s\n", r.source, r.n, r.error);
      continue;
    }
    const double max = r.latencies_ms.empty()
                           ? NAN
                           : *std::max_element(r.latencies_ms.begin(), r.latencies_ms.end());
    std::cout << absl::StrFormat("%-28s %4d %6d %8d %7d %10s %10s %10s  %s -> %s\n", r.source, r.n,
                                 r.flips, r.latencies_ms.size(), r.missed,
                                 FormatMs(Percentile(r.latencies_ms, 0.50)),
                                 FormatMs(Percentile(r.latencies_ms, 0.99)), FormatMs(max),
                                 r.load_before, r.load_after);
    if (!std::isnan(r.writes_per_change)) {
      std::cout << absl::StrFormat("%-28s %4s registration writes: %.1f per change (N = %d), "
                                   "%.1f/s over the run\n",
                                   "", "", r.writes_per_change, r.n, r.writes_per_second);
    }
  }
}

nlohmann::json ResultsJson(const std::vector<Result>& results) {
  nlohmann::json out = nlohmann::json::array();
  for (const Result& r : results) {
    nlohmann::json j = {{"source", r.source}, {"n", r.n},       {"flips", r.flips},
                        {"missed", r.missed}, {"error", r.error}, {"load_before", r.load_before},
                        {"load_after", r.load_after}, {"samples", r.latencies_ms.size()}};
    if (!std::isnan(r.writes_per_change)) {
      j["registration_writes_per_change"] = r.writes_per_change;
      j["registration_writes_per_second"] = r.writes_per_second;
    }
    if (!r.latencies_ms.empty()) {
      j["p50_ms"] = Percentile(r.latencies_ms, 0.50);
      j["p99_ms"] = Percentile(r.latencies_ms, 0.99);
      j["max_ms"] = *std::max_element(r.latencies_ms.begin(), r.latencies_ms.end());
    }
    out.push_back(std::move(j));
  }
  return out;
}

// ---------------------------------------------------------------- options

struct Flags {
  std::vector<std::string> sources = {"etcd", "http", "http-fast"};
  std::vector<int> ns = {1, 10, 50};
  std::optional<int> flips;  // per source default when unset
  std::string watcher;
  std::string json_out;
  int max_seconds = 600;
  bool wait = false;       // --wait mode (etcd, through degradectl --wait)
  std::string degradectl;  // --degradectl PATH; default: ../tools/degradectl
};

constexpr char kUsage[] =
    "usage: fleet_propagation [--sources etcd,http,http-fast] [--n 1,10,50] [--flips M]\n"
    "                         [--watcher PATH] [--json FILE] [--max-seconds S]\n"
    "       fleet_propagation --wait [--n 10,50,200] [--flips M] [--degradectl PATH] ...\n";

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags f;
  bool n_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return absl::CancelledError(kUsage);
    if (arg == "--wait") {
      f.wait = true;
      continue;
    }
    if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
    const std::string value = argv[++i];
    if (arg == "--sources") {
      f.sources = absl::StrSplit(value, ',');
      for (const std::string& s : f.sources) {
        if (s != "etcd" && s != "http" && s != "http-fast") {
          return absl::InvalidArgumentError(absl::StrCat(
              "--sources: \"", s, "\" is not a source; accepted: etcd, http, http-fast"));
        }
      }
    } else if (arg == "--n") {
      n_given = true;
      f.ns.clear();
      for (absl::string_view part : absl::StrSplit(value, ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(part, &n) || n < 1 || n > 200) {
          return absl::InvalidArgumentError(absl::StrCat(
              "--n: \"", part, "\" is not a fleet size; accepted: 1 to 200, comma-separated"));
        }
        f.ns.push_back(n);
      }
    } else if (arg == "--flips") {
      int m = 0;
      if (!absl::SimpleAtoi(value, &m) || m < 1 || m > 10000) {
        return absl::InvalidArgumentError(
            absl::StrCat("--flips: \"", value, "\" is not valid; accepted: 1 to 10000"));
      }
      f.flips = m;
    } else if (arg == "--degradectl") {
      f.degradectl = value;
    } else if (arg == "--watcher") {
      f.watcher = value;
    } else if (arg == "--json") {
      f.json_out = value;
    } else if (arg == "--max-seconds") {
      if (!absl::SimpleAtoi(value, &f.max_seconds) || f.max_seconds < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("--max-seconds: \"", value, "\" is not valid; accepted: 1 or more"));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown option ", arg, "\n", kUsage));
    }
  }
  if (f.watcher.empty()) {
    // fleet_watcher is built beside this program.
    char self[4096];
    const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return absl::InternalError("cannot find this program's directory; pass --watcher");
    std::string dir(self, static_cast<size_t>(len));
    f.watcher = dir.substr(0, dir.rfind('/')) + "/fleet_watcher";
  }
  if (f.wait && f.degradectl.empty()) {
    char self[4096];
    const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return absl::InternalError("cannot find this program's directory; pass --degradectl");
    std::string dir(self, static_cast<size_t>(len));
    dir = dir.substr(0, dir.rfind('/'));
    f.degradectl = dir.substr(0, dir.rfind('/')) + "/tools/degradectl";
  }
  if (f.wait && access(f.degradectl.c_str(), X_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("degradectl ", f.degradectl,
                     " is not executable; build it (ninja -C build tools/degradectl) or pass "
                     "--degradectl PATH"));
  }
  if (f.wait && !n_given) f.ns = {10, 50, 200};
  if (access(f.watcher.c_str(), X_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("watcher program ", f.watcher,
                     " is not executable; build it (ninja -C build bench/fleet_watcher) or pass "
                     "--watcher PATH"));
  }
  return f;
}

absl::StatusOr<std::unique_ptr<Source>> MakeSource(const std::string& name) {
  if (name == "etcd") {
    auto etcd = EtcdBenchSource::Start();
    if (!etcd.ok()) return etcd.status();
    return std::unique_ptr<Source>(*std::move(etcd));
  }
  if (name == "http") return std::make_unique<HttpSource>(absl::Milliseconds(5000), true);
  return std::make_unique<HttpSource>(absl::Milliseconds(500), false);
}

int DefaultFlips(const std::string& source) {
  if (source == "etcd") return 50;
  return source == "http" ? 10 : 20;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a watcher that died must not kill us
  absl::StatusOr<Flags> flags = ParseFlags(argc, argv);
  if (!flags.ok()) {
    const bool help = absl::IsCancelled(flags.status());
    (help ? std::cout : std::cerr) << (help ? "" : "fleet_propagation: ")
                                   << flags.status().message() << (help ? "" : "\n");
    return help ? 0 : 2;
  }
  char tmpl[] = "/tmp/fleet_propagation.XXXXXX";
  const char* tmp = mkdtemp(tmpl);
  if (tmp == nullptr) {
    std::cerr << "fleet_propagation: cannot create a temporary directory\n";
    return 1;
  }
  std::cout << "fleet propagation: put -> enabled() changed, per watcher process, one host\n"
            << "cores: " << std::thread::hardware_concurrency()
            << "; load average (1, 5, 15 min) at start: " << LoadAverage() << "\n";
  std::mt19937_64 rng(std::random_device{}());
  const absl::Time end = absl::Now() + absl::Seconds(flags->max_seconds);
  std::vector<Result> results;
  std::vector<std::string> skipped;
  if (flags->wait) {
    std::cout << "--wait: put -> every registered instance confirmed, through degradectl --wait\n";
    auto etcd = EtcdBenchSource::Start();
    if (!etcd.ok()) {
      std::cerr << "fleet_propagation: cannot start etcd: " << etcd.status().message() << "\n";
      return 1;
    }
    for (int n : flags->ns) {
      if (absl::Now() > end) {
        skipped.push_back(absl::StrCat("--wait N=", n));
        continue;
      }
      const int flips = flags->flips.value_or(20);
      std::cerr << "running --wait, N=" << n << ", " << flips << " flips\n";
      results.push_back(RunWait(**etcd, flags->watcher, flags->degradectl, n, flips, tmp, rng));
    }
  }
  for (const std::string& name : flags->wait ? std::vector<std::string>{} : flags->sources) {
    absl::StatusOr<std::unique_ptr<Source>> made = MakeSource(name);
    if (!made.ok()) {
      Result r;
      r.source = name;
      r.error = absl::StrCat("cannot start: ", made.status().message());
      results.push_back(std::move(r));
      continue;
    }
    std::unique_ptr<Source> source = *std::move(made);
    for (int n : flags->ns) {
      if (absl::Now() > end) {
        skipped.push_back(absl::StrCat(source->label(), " N=", n));
        continue;
      }
      const int flips = flags->flips.value_or(DefaultFlips(name));
      std::cerr << "running " << source->label() << ", N=" << n << ", " << flips << " flips\n";
      results.push_back(Run(*source, flags->watcher, n, flips, tmp, rng));
    }
  }
  std::cout << "\n";
  PrintTable(results);
  if (!skipped.empty()) {
    std::cout << "skipped (past --max-seconds " << flags->max_seconds
              << "): " << absl::StrJoin(skipped, ", ") << "\n";
  }
  if (!flags->json_out.empty()) {
    std::ofstream(flags->json_out) << ResultsJson(results).dump(2) << "\n";
  }
  bool failed = false;
  for (const Result& r : results) failed |= !r.error.empty() || r.missed > 0;
  if (failed) {
    std::cout << "the watchers' stderr is kept in " << tmp << "/watchers.log\n";
    return 1;
  }
  std::remove(absl::StrCat(tmp, "/watchers.log").c_str());
  rmdir(tmp);
  return 0;
}
