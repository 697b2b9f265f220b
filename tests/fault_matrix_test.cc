// The rows of docs/fault-matrix.md that no unit's own test covers: a
// flapping control plane, 5xx and truncated bodies mid-run, a cache in a
// missing directory, wall-clock jumps against TTLs, and a process restart
// in the middle of an incident (the flooded admin endpoint is in
// fault_matrix_admin_test.cc). Real servers on 127.0.0.1 and real processes, started and stopped
// by each test; the only fake is the clock for the clock-jump rows (the
// system clock cannot be moved without moving every other process's too).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "degrade/degrade.h"
#include "degrade/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_net.h"
#include "test_wait.h"

extern char** environ;

namespace degrade {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::string_view kOff = R"({"switches": {"recs": {"state": "off", "reason": "INC-9"}}})";
constexpr std::string_view kOn = R"({"switches": {"recs": "on"}})";
constexpr char kToken[] = "fault-matrix-token";

SwitchValue OffValue() {
  SwitchValue v;
  v.state = State::kOff;
  return v;
}

// True as soon as `pred` holds; false after `limit` (a bound, never the
// synchronisation).
// tests/test_wait.h's, with this file's bound (10 s).
bool Eventually(const std::function<bool()>& pred, milliseconds limit = milliseconds(10000)) {
  return test_util::Eventually(pred, limit);
}

// A cpp-httplib server on 127.0.0.1 answering every GET with the current
// handler. Start(port) binds a given port, so a "control plane" can go down
// and come back at the same address.
class ControlPlane {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  ~ControlPlane() { Stop(); }

  bool Start(int port = 0) {
    Stop();
    server_ = std::make_unique<httplib::Server>();
    server_->Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
      Handler h;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++requests_;
        h = handler_;
      }
      if (h) {
        h(req, res);
      } else {
        res.status = 404;
      }
    });
    if (port == 0) {
      port_ = server_->bind_to_any_port("127.0.0.1");
    } else {
      // The port was ours a moment ago; a client's TIME_WAIT does not block
      // a listening socket with SO_REUSEADDR (cpp-httplib sets it).
      port_ = server_->bind_to_port("127.0.0.1", port) ? port : -1;
    }
    if (port_ <= 0) return false;
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    return Eventually([this] { return server_->is_running(); });
  }
  void Stop() {
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
  }
  int port() const { return port_; }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/snapshot.json"; }
  void Serve(Handler h) {
    std::lock_guard<std::mutex> lock(mu_);
    handler_ = std::move(h);
  }
  void ServeBody(std::string body) {
    Serve([body = std::move(body)](const httplib::Request&, httplib::Response& res) {
      res.set_content(body, "application/json");
    });
  }
  void ServeStatus(int status) {
    Serve([status](const httplib::Request&, httplib::Response& res) {
      res.status = status;
      res.set_content("{\"error\": \"overloaded\"}", "application/json");
    });
  }
  int requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  Handler handler_;
  int requests_ = 0;
};

// A raw TCP server whose answer promises a 400-byte body (Content-Length)
// and sends only the start of a snapshot before closing: a truncated body.
class TruncatingServer {
 public:
  TruncatingServer() {
    const test_util::BoundSocket s = test_util::BindLoopback(/*backlog=*/16);
    fd_ = s.fd;
    port_ = s.port;
    if (fd_ >= 0) thread_ = std::thread([this] { Loop(); });
  }
  ~TruncatingServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return port_ > 0; }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/s.json"; }
  int answered() const { return answered_; }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 2000) <= 0) break;
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      const std::string answer =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n"
          "Connection: close\r\n\r\n{\"switches\": {\"recs\": \"on\"}";
      (void)::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(c);
      ++answered_;
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
};

// A registry with a "recs" switch, its log lines kept, and a runtime.
class FaultMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/degrade-fault-matrix-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Registry::Options options;
    options.getenv = [](std::string_view) { return std::optional<std::string>(); };
    options.log_sink = [this](LogLevel level, std::string_view msg) {
      std::lock_guard<std::mutex> lock(mu_);
      logs_.push_back({level, std::string(msg)});
    };
    registry_ = std::make_unique<Registry>(std::move(options));
    recs_ = *registry_->Define({.name = "recs", .description = "recommendations"});
    registry_->AddListener([this](const ChangeEvent&) { ++changes_; });
  }
  void TearDown() override {
    runtime_.reset();
    fs::remove_all(dir_);
  }

  Options Remote(std::string url) const {
    Options o;
    o.registry = registry_.get();
    o.remote_urls = {std::move(url)};
    o.remote_interval = absl::Milliseconds(50);
    o.remote_timeout = absl::Seconds(2);
    return o;
  }
  void Start(const Options& o) {
    auto rt = Runtime::Start(o);
    ASSERT_TRUE(rt.ok()) << rt.status();
    runtime_ = *std::move(rt);
  }
  std::optional<SourceHealth> Health(std::string_view name) const {
    for (SourceHealth& h : registry_->sources()) {
      if (h.name == name) return h;
    }
    return std::nullopt;
  }
  int CountLogs(LogLevel level, std::string_view needle) const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(std::count_if(logs_.begin(), logs_.end(), [&](const auto& l) {
      return l.first == level && l.second.find(needle) != std::string::npos;
    }));
  }
  std::string AllLogs() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const auto& [level, msg] : logs_) out += std::string(LogLevelName(level)) + ": " + msg + "\n";
    return out;
  }
  Layer Deciding() const { return registry_->Get("recs")->deciding_layer; }

  fs::path dir_;
  std::unique_ptr<Registry> registry_;
  Switch* recs_ = nullptr;
  std::atomic<int> changes_{0};
  std::unique_ptr<Runtime> runtime_;
  mutable std::mutex mu_;
  std::vector<std::pair<LogLevel, std::string>> logs_;
};

// ------------------------------------------------------ control plane (HTTP)

TEST_F(FaultMatrixTest, FlappingControlPlaneKeepsTheLastGoodStateAndLogsEachOutageOnce) {
  ControlPlane plane;
  ASSERT_TRUE(plane.Start());
  const int port = plane.port();
  const std::string url = plane.Url();
  plane.ServeBody(std::string(kOff));
  Start(Remote(url));
  ASSERT_FALSE(recs_->enabled());
  // Listeners run just after a change is visible to enabled().
  ASSERT_TRUE(Eventually([&] { return changes_ >= 1; }));
  ASSERT_EQ(changes_, 1);

  const std::string down_error = "remote " + url + ": cannot connect";
  for (int outage = 1; outage <= 3; ++outage) {
    plane.Stop();
    ASSERT_TRUE(Eventually([&] { return !Health("remote")->healthy; })) << AllLogs();
    ASSERT_TRUE(Eventually([&] { return Health("remote")->consecutive_failures >= 2; }));
    EXPECT_FALSE(recs_->enabled()) << "outage " << outage;
    EXPECT_EQ(Deciding(), Layer::kRemote);
    EXPECT_THAT(Health("remote")->last_error, HasSubstr(down_error));
    // Back with the same snapshot: healthy again, nothing applied anew.
    const int requests = plane.requests();
    ASSERT_TRUE(plane.Start(port)) << "outage " << outage;
    ASSERT_TRUE(Eventually([&] { return plane.requests() > requests; }));
    ASSERT_TRUE(Eventually([&] { return Health("remote")->healthy; }));
    EXPECT_FALSE(recs_->enabled());
  }
  // One change in all of that: the first snapshot. One error line per outage.
  EXPECT_EQ(changes_, 1);
  EXPECT_EQ(CountLogs(LogLevel::kError, down_error), 3) << AllLogs();

  // A valid instruction after the flapping is still obeyed.
  plane.ServeBody(std::string(kOn));
  ASSERT_TRUE(Eventually([&] { return recs_->enabled(); }));
  ASSERT_TRUE(Eventually([&] { return changes_ >= 2; }));
  EXPECT_EQ(changes_, 2);
}

TEST_F(FaultMatrixTest, ServerErrorMidRunKeepsTheStateAndIsReported) {
  ControlPlane plane;
  ASSERT_TRUE(plane.Start());
  plane.ServeBody(std::string(kOff));
  Start(Remote(plane.Url()));
  ASSERT_FALSE(recs_->enabled());

  plane.ServeStatus(503);
  const std::string needle = "remote " + plane.Url() + ": HTTP 503";
  ASSERT_TRUE(Eventually([&] { return CountLogs(LogLevel::kError, needle) == 1; })) << AllLogs();
  ASSERT_TRUE(Eventually([&] { return Health("remote")->consecutive_failures >= 3; }));
  EXPECT_FALSE(recs_->enabled());
  EXPECT_EQ(Deciding(), Layer::kRemote);
  EXPECT_EQ(registry_->Get("recs")->reason, "INC-9");
  EXPECT_FALSE(Health("remote")->healthy);
  EXPECT_EQ(changes_, 1);
  EXPECT_EQ(CountLogs(LogLevel::kError, needle), 1);  // once per outage, not per poll
}

TEST_F(FaultMatrixTest, TruncatedBodyChangesNothingAndIsReported) {
  ControlPlane plane;
  ASSERT_TRUE(plane.Start());
  plane.ServeBody(std::string(kOff));
  TruncatingServer truncating;
  ASSERT_TRUE(truncating.ok());
  // The truncating URL first, the good one as failover: every round reads the
  // truncated body, rejects it, and falls over to the good URL.
  Options o = Remote(truncating.Url());
  o.remote_urls.push_back(plane.Url());
  Start(o);
  ASSERT_TRUE(Eventually([&] { return truncating.answered() >= 3; }));
  EXPECT_FALSE(recs_->enabled());
  EXPECT_EQ(Deciding(), Layer::kRemote);
  EXPECT_EQ(changes_, 1);
  EXPECT_EQ(CountLogs(LogLevel::kError, "remote " + truncating.Url() +
                                            ": connection closed before a complete response"),
            1)
      << AllLogs();
}

TEST_F(FaultMatrixTest, TruncatedBodyAloneLeavesTheSourceUnhealthy) {
  TruncatingServer truncating;
  ASSERT_TRUE(truncating.ok());
  ASSERT_TRUE(registry_->SetOverride("recs", OffValue()).ok());
  Start(Remote(truncating.Url()));
  ASSERT_TRUE(Eventually([&] { return truncating.answered() >= 2; }));
  EXPECT_FALSE(recs_->enabled());
  EXPECT_EQ(Deciding(), Layer::kAdmin);
  EXPECT_TRUE(registry_->LayerSnapshot(Layer::kRemote).switches.empty());
  auto health = Health("remote");
  ASSERT_TRUE(health);
  EXPECT_FALSE(health->healthy);
  EXPECT_THAT(health->last_error, HasSubstr("remote " + truncating.Url() +
                                            ": connection closed before a complete response"));
}

// ----------------------------------------------------------------- the cache

TEST_F(FaultMatrixTest, CacheInAMissingDirectoryIsReportedAndTheRemoteLayerStillApplies) {
  ControlPlane plane;
  ASSERT_TRUE(plane.Start());
  plane.ServeBody(std::string(kOff));
  const std::string cache = (dir_ / "no-such-dir" / "cache.json").string();
  Options o = Remote(plane.Url());
  o.cache_file = cache;
  Start(o);
  EXPECT_FALSE(recs_->enabled());
  EXPECT_EQ(Deciding(), Layer::kRemote);
  EXPECT_TRUE(Health("remote")->healthy);
  auto health = Health("cache");
  ASSERT_TRUE(health);
  EXPECT_FALSE(health->healthy);
  EXPECT_THAT(health->last_error, HasSubstr("cache " + cache + ": cannot create temporary file"));
  EXPECT_FALSE(fs::exists(dir_ / "no-such-dir"));

  // The directory appears: the next applied snapshot is cached.
  fs::create_directory(dir_ / "no-such-dir");
  plane.ServeBody(std::string(kOn));
  ASSERT_TRUE(Eventually([&] { return recs_->enabled(); }));
  ASSERT_TRUE(Eventually([&] { return Health("cache")->healthy; }));
  EXPECT_TRUE(fs::exists(cache));
}

// --------------------------------------------------------------- clock jumps
//
// TTLs are absolute: ttl_s becomes expires_at = wall clock + ttl when it is
// read, and an entry counts as absent once the wall clock (Registry's Clock,
// absl::Now() in production) has passed it. These rows move a FakeClock the
// way an NTP step moves the system clock.

class ClockJumpTest : public ::testing::Test {
 protected:
  ClockJumpTest() {
    Registry::Options o;
    o.clock = &clock_;
    o.getenv = [](std::string_view) { return std::optional<std::string>(); };
    o.log_sink = [](LogLevel, std::string_view) {};
    o.timer_threads = false;
    registry_ = std::make_unique<Registry>(std::move(o));
    recs_ = *registry_->Define({.name = "recs", .description = "recommendations"});
  }
  degrade::testing::FakeClock clock_;
  std::unique_ptr<Registry> registry_;
  Switch* recs_ = nullptr;
};

TEST_F(ClockJumpTest, ForwardJumpPastTheExpiryEndsTheOverrideAtTheNextEvaluation) {
  const absl::Time set_at = clock_.Now();
  ASSERT_TRUE(registry_->SetOverride("recs", OffValue(), absl::Minutes(10)).ok());
  ASSERT_EQ(registry_->Get("recs")->expires_at, set_at + absl::Minutes(10));
  clock_.Advance(absl::Hours(1));  // NTP steps the clock forward
  registry_->ProcessExpiries();
  EXPECT_TRUE(recs_->enabled());
  EXPECT_EQ(registry_->Get("recs")->deciding_layer, Layer::kDefault);
  EXPECT_TRUE(registry_->LayerSnapshot(Layer::kAdmin).switches.empty());
}

TEST_F(ClockJumpTest, BackwardJumpKeepsTheOverrideUntilTheWallClockReachesItsExpiry) {
  const absl::Time expires = clock_.Now() + absl::Minutes(10);
  ASSERT_TRUE(registry_->SetOverride("recs", OffValue(), absl::Minutes(10)).ok());
  clock_.Advance(-absl::Hours(1));  // the clock steps back an hour
  clock_.Advance(absl::Minutes(30));
  registry_->ProcessExpiries();
  EXPECT_FALSE(recs_->enabled()) << "10 min of wall time have not passed since the set time";
  EXPECT_EQ(registry_->Get("recs")->expires_at, expires);  // the listing keeps the absolute time
  clock_.Set(expires - absl::Seconds(1));
  registry_->ProcessExpiries();
  EXPECT_FALSE(recs_->enabled());
  clock_.Set(expires);
  registry_->ProcessExpiries();
  EXPECT_TRUE(recs_->enabled());
}

TEST_F(ClockJumpTest, ForwardJumpExpiresRemoteEntriesButKeepsTheSnapshot) {
  const absl::Time expires = clock_.Now() + absl::Minutes(5);
  Snapshot remote;
  remote.switches["recs"] = OffValue();
  remote.switches["recs"].expires_at = expires;
  ASSERT_TRUE(registry_->ApplySnapshot(Layer::kRemote, remote, "remote test").ok());
  ASSERT_FALSE(recs_->enabled());
  clock_.Advance(absl::Hours(2));
  registry_->ProcessExpiries();
  EXPECT_TRUE(recs_->enabled());
  // The source's snapshot is the source's: expiry hides the entry, it does
  // not rewrite the layer. A jump back makes the entry count again.
  EXPECT_EQ(registry_->LayerSnapshot(Layer::kRemote), remote);
  clock_.Set(expires - absl::Minutes(1));
  registry_->ProcessExpiries();
  EXPECT_FALSE(recs_->enabled());
}

// The real clock, shifted by an offset a test can step: what an NTP step
// does to absl::Now(), without touching the system clock.
class SteppedClock : public Clock {
 public:
  absl::Time Now() const override {
    return absl::Now() + absl::Nanoseconds(offset_ns_.load(std::memory_order_relaxed));
  }
  void Step(absl::Duration d) { offset_ns_ += absl::ToInt64Nanoseconds(d); }

 private:
  std::atomic<int64_t> offset_ns_{0};
};

TEST(ClockJumpTimerTest, ExpiryTimerNoticesAForwardJumpWithinASecond) {
  SteppedClock clock;
  Registry::Options o;
  o.clock = &clock;
  o.getenv = [](std::string_view) { return std::optional<std::string>(); };
  o.log_sink = [](LogLevel, std::string_view) {};
  Registry registry(std::move(o));
  Switch* recs = *registry.Define({.name = "recs", .description = "recommendations"});
  ASSERT_TRUE(registry.SetOverride("recs", OffValue(), absl::Hours(1)).ok());
  ASSERT_FALSE(recs->enabled());
  // Nothing calls ProcessExpiries here: the registry's own timer must see
  // that the wall clock is now past the expiry, although an hour of
  // monotonic time has not passed.
  // Let the timer go to sleep first (it was started by SetOverride). Not a
  // synchronisation: if it were still starting, the test could only pass
  // more easily, never fail.
  std::this_thread::sleep_for(milliseconds(300));
  const auto start = Steady::now();
  clock.Step(absl::Hours(2));
  ASSERT_TRUE(Eventually([&] { return recs->enabled(); }, milliseconds(5000)));
  const auto ms = std::chrono::duration_cast<milliseconds>(Steady::now() - start).count();
  EXPECT_EQ(registry.Get("recs")->deciding_layer, Layer::kDefault);
  EXPECT_TRUE(registry.LayerSnapshot(Layer::kAdmin).switches.empty());
  std::printf("[ measure ] expiry noticed %lld ms after a 2 h forward step\n",
              static_cast<long long>(ms));
}

// ------------------------------------------------ restart mid-incident

// The fault_matrix_child program: next to this binary, or FAULT_MATRIX_CHILD.
std::string ChildPath() {
  if (const char* env = std::getenv("FAULT_MATRIX_CHILD"); env != nullptr) return env;
  return (fs::read_symlink("/proc/self/exe").parent_path() / "fault_matrix_child").string();
}

// A child process with its stdin held open (closing it ends the child), its
// stdout read for the admin port and its stderr in a file.
class ChildProcess {
 public:
  ~ChildProcess() { Kill(); }

  // Starts the child with `env` added to this process's environment; false
  // (with `error`) when it did not print its admin port within 10 s.
  bool Start(const std::vector<std::string>& env, const std::string& stderr_path,
             std::string* error) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
      *error = "pipe failed";
      return false;
    }
    std::vector<std::string> env_strings = env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string_view(*e).starts_with("DEGRADE_")) continue;
      env_strings.emplace_back(*e);
    }
    std::vector<char*> envp;
    for (std::string& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    const std::string path = ChildPath();
    std::vector<char*> argv = {const_cast<char*>(path.c_str()), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int rc = posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    if (rc != 0) {
      pid_ = -1;
      *error = "posix_spawn " + path + ": " + std::strerror(rc);
      return false;
    }
    std::string line;
    const auto deadline = Steady::now() + milliseconds(10000);
    while (line.find('\n') == std::string::npos && Steady::now() < deadline) {
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[128];
      const ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    if (std::sscanf(line.c_str(), "admin_port %d", &admin_port_) != 1 || admin_port_ <= 0) {
      *error = "child did not report its admin port; stdout: \"" + line + "\"";
      return false;
    }
    return true;
  }
  // SIGKILL: a crash, no destructor runs.
  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (stdin_ >= 0) ::close(stdin_);
    if (stdout_ >= 0) ::close(stdout_);
    stdin_ = stdout_ = -1;
  }
  int admin_port() const { return admin_port_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  int admin_port_ = 0;
};

json GetJson(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(5, 0);
  auto res = client.Get(path);
  if (!res || res->status != 200) return nullptr;
  return json::parse(res->body, nullptr, /*allow_exceptions=*/false);
}

json SourceNamed(const json& listing, std::string_view name) {
  if (!listing.is_object() || !listing.contains("sources")) return nullptr;
  for (const json& s : listing["sources"]) {
    if (s.value("name", "") == name) return s;
  }
  return nullptr;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(FaultMatrixRestartTest, CrashMidIncidentComesBackFromCacheAndFileButWithoutAdminOverrides) {
  char tmpl[] = "/tmp/degrade-fault-restart-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() { fs::remove_all(dir); }
  } cleanup{dir};
  std::ofstream(dir / "degrade.json") << R"({"switches": {"ads": "off"}})";

  ControlPlane plane;
  ASSERT_TRUE(plane.Start());
  plane.ServeBody(std::string(kOff));
  const std::vector<std::string> env = {
      "DEGRADE_REMOTE_URLS=" + plane.Url(),
      "DEGRADE_REMOTE_INTERVAL_MS=100",
      "DEGRADE_CACHE_FILE=" + (dir / "cache.json").string(),
      "DEGRADE_CONFIG_FILE=" + (dir / "degrade.json").string(),
      "DEGRADE_ADMIN_ADDR=127.0.0.1:0",
      std::string("DEGRADE_ADMIN_TOKEN=") + kToken,
  };
  const std::string log1 = (dir / "first.log").string();
  const std::string log2 = (dir / "second.log").string();

  // The incident: the control plane cut recs, the file cut ads, and the
  // on-call cut reviews on this instance through its admin endpoint.
  ChildProcess first;
  std::string error;
  ASSERT_TRUE(first.Start(env, log1, &error)) << error << "\n" << ReadFile(log1);
  const int port1 = first.admin_port();
  EXPECT_EQ(GetJson(port1, "/degrade/v1/switches/recs")["state"], "off");
  EXPECT_EQ(GetJson(port1, "/degrade/v1/switches/ads")["state"], "off");
  {
    httplib::Client client("127.0.0.1", port1);
    auto res = client.Put("/degrade/v1/switches/reviews",
                          {{"Authorization", std::string("Bearer ") + kToken}},
                          R"({"state": "off", "reason": "INC-9 reviews slow"})", "application/json");
    ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no response");
  }
  EXPECT_EQ(GetJson(port1, "/degrade/v1/switches/reviews")["layer"], "admin");

  // The control plane goes down, then the instance crashes.
  plane.Stop();
  ASSERT_TRUE(Eventually([&] {
    const json remote = SourceNamed(GetJson(port1, "/degrade/v1/switches"), "remote");
    return remote.is_object() && remote.value("healthy", true) == false;
  }));
  first.Kill();

  ChildProcess second;
  ASSERT_TRUE(second.Start(env, log2, &error)) << error << "\n" << ReadFile(log2);
  const int port2 = second.admin_port();
  json recs = GetJson(port2, "/degrade/v1/switches/recs");
  EXPECT_EQ(recs["state"], "off") << recs.dump();
  EXPECT_EQ(recs["layer"], "remote");
  EXPECT_EQ(recs["reason"], "INC-9");
  EXPECT_EQ(GetJson(port2, "/degrade/v1/switches/ads")["state"], "off");
  EXPECT_EQ(GetJson(port2, "/degrade/v1/switches/ads")["layer"], "file");
  // Admin overrides belong to the process that received them (documented in
  // docs/fault-matrix.md): the restarted instance has none.
  json reviews = GetJson(port2, "/degrade/v1/switches/reviews");
  EXPECT_EQ(reviews["state"], "on") << reviews.dump();
  EXPECT_EQ(reviews["layer"], "default");

  const json listing = GetJson(port2, "/degrade/v1/switches");
  json cache = SourceNamed(listing, "cache");
  ASSERT_TRUE(cache.is_object()) << listing.dump();
  EXPECT_EQ(cache["healthy"], true);
  EXPECT_EQ(cache["applied"], 1);
  EXPECT_EQ(SourceNamed(listing, "remote")["healthy"], false);
  EXPECT_THAT(ReadFile(log2), HasSubstr("no remote URL answered at start"));

  // The control plane comes back with the incident over: the restarted
  // instance follows it.
  ASSERT_TRUE(plane.Start(plane.port()));
  plane.ServeBody(std::string(kOn));
  EXPECT_TRUE(Eventually([&] {
    return GetJson(port2, "/degrade/v1/switches/recs")["state"] == "on";
  })) << ReadFile(log2);
}

}  // namespace
}  // namespace degrade
