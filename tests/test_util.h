// Shared fixtures for degrade's gtest suites. Use these instead of writing a
// local copy; every helper is in namespace degrade::test_util. A test file
// includes "test_util.h" and says, in its anonymous namespace,
//   using namespace ::degrade::test_util;  // tests/test_util.h
//
//   Eventually(pred, limit = 5 s)        polls `pred` every 5 ms: true as soon
//                                        as it holds, false after `limit` (a
//                                        bound, never the synchronisation)
//   RunWithDeadline(fn, limit = 10 s)    runs `fn` on its own thread; aborts
//                                        the test binary with a message if it
//                                        has not returned by then (deadlocks)
//   NoEnv                                a Registry::Options::getenv that
//                                        finds nothing (hermetic tests)
//   FakeEnv                              a getenv over a map the test fills:
//                                          FakeEnv env; env.Set("DEGRADE_ALL", "off");
//                                          options.getenv = env.Getenv();
//   QuietOptions(clock = nullptr)        Registry::Options: NoEnv, logs dropped
//   QuietOptionsWithRealEnv()            logs dropped, the process environment
//                                        read as usual (tests that setenv)
//   LogCapture                           collects log lines, thread-safe:
//                                          options.log_sink = logs.Sink();
//                                          logs.Contains(LogLevel::kError, "x")
//   MakeTempDir(prefix)                  a new directory /tmp/<prefix>-XXXXXX
//                                        (empty path on failure); the test
//                                        removes it (std::filesystem::remove_all)
//   Spec(name, groups = {})              a SwitchSpec with a description
//   On(), Off(reason, actor), Allow(f)   SwitchValues for SetOverride/snapshots
//   Message(status)                      status.message() as a std::string
//   ScopedEnv(name, value)               sets (value null: unsets) a process
//                                        environment variable, restored when
//                                        it goes out of scope
//   RefusingPort                         a loopback port that refuses
//                                        connections for the object's life:
//                                          RefusingPort down;
//                                          down.Port(), down.Url()  // http://127.0.0.1:P
//   ThreadCount()                        threads of this process now
//   StableThreadCount()                  the count once it has not changed for
//                                        200 ms (at most 10 s): pthread_join
//                                        returns before the kernel drops the
//                                        task from /proc/self/task
//   CountAllocations(n, fn)              how many operator new calls n runs of
//   AllocationCount()                    fn made / made so far. Only in binaries
//                                        that link tests/alloc_counting.cc (it
//                                        replaces the global operator new; list
//                                        the test in `alloc_counting_tests` in
//                                        tests/meson.build)
#ifndef DEGRADE_TESTS_TEST_UTIL_H_
#define DEGRADE_TESTS_TEST_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "degrade/clock.h"
#include "degrade/log.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"

namespace degrade::test_util {

// ------------------------------------------------------------------ waiting

inline bool Eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

inline void RunWithDeadline(const std::function<void()>& fn,
                            std::chrono::seconds limit = std::chrono::seconds(10)) {
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  std::thread worker([&] {
    fn();
    done.set_value();
  });
  if (finished.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: call did not return within %llds (deadlock?)\n",
                 static_cast<long long>(limit.count()));
    std::abort();
  }
  worker.join();
}

// ------------------------------------------------------------------ registry options

inline std::optional<std::string> NoEnv(std::string_view) { return std::nullopt; }

// A fake environment. Getenv() reads the map at call time, so a test may fill
// it after handing the function out (but before the registry reads it). The
// FakeEnv must outlive the registry that uses it.
class FakeEnv {
 public:
  void Set(std::string name, std::string value) {
    std::lock_guard<std::mutex> lock(mu_);
    vars_[std::move(name)] = std::move(value);
  }
  std::function<std::optional<std::string>(std::string_view)> Getenv() {
    return [this](std::string_view name) -> std::optional<std::string> {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = vars_.find(std::string(name));
      if (it == vars_.end()) return std::nullopt;
      return it->second;
    };
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> vars_;
};

inline Registry::Options QuietOptions(Clock* clock = nullptr) {
  return Registry::Options{
      .clock = clock,
      .getenv = NoEnv,
      .log_sink = [](LogLevel, std::string_view) {},
  };
}

inline Registry::Options QuietOptionsWithRealEnv() {
  Registry::Options o;
  o.log_sink = [](LogLevel, std::string_view) {};
  return o;
}

// Log lines a registry (or runtime) reported. Must outlive the registry.
class LogCapture {
 public:
  struct Line {
    LogLevel level;
    std::string message;
  };

  std::function<void(LogLevel, std::string_view)> Sink() {
    return [this](LogLevel level, std::string_view message) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back({level, std::string(message)});
    };
  }
  std::vector<Line> Lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  // True if a line at `level` contains `needle`.
  bool Contains(LogLevel level, std::string_view needle) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Line& l : lines_) {
      if (l.level == level && l.message.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  // Every line, one per line, for failure messages.
  std::string All() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const Line& l : lines_) out += l.message + "\n";
    return out;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<Line> lines_;
};

// ------------------------------------------------------------------ files

inline std::filesystem::path MakeTempDir(std::string_view prefix) {
  std::string tmpl = "/tmp/" + std::string(prefix) + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

// ------------------------------------------------------------------ values

inline SwitchSpec Spec(std::string name, std::vector<std::string> groups = {}) {
  SwitchSpec spec;
  spec.name = std::move(name);
  spec.description = "test switch " + spec.name;
  spec.groups = std::move(groups);
  return spec;
}

inline SwitchValue On() {
  SwitchValue v;
  v.state = State::kOn;
  return v;
}

inline SwitchValue Off(std::string reason = "", std::string actor = "") {
  SwitchValue v;
  v.state = State::kOff;
  v.reason = std::move(reason);
  v.actor = std::move(actor);
  return v;
}

inline SwitchValue Allow(double allow) {
  SwitchValue v;
  v.allow = allow;
  return v;
}

inline std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Sets an environment variable (value null: unsets it) and restores it on
// scope exit. Not thread-safe, like setenv itself: use it before any thread
// that reads the environment starts.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// ------------------------------------------------------------------ ports

// A loopback TCP port that refuses connections (a bound socket that never
// listens: connecting gets ECONNREFUSED), held until the object is
// destroyed. Not a port bound and closed at once: a concurrent bind to port
// 0 elsewhere (another test, a server the test starts) may take that port
// before the test uses it, and then something answers there.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::perror("FATAL: RefusingPort: cannot bind a socket to 127.0.0.1:0");
      std::abort();
    }
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  int Port() const { return port_; }
  // "http://127.0.0.1:<port>" (no path: also a valid etcd endpoint).
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// ------------------------------------------------------------------ allocations

// Defined in tests/alloc_counting.cc (with the replacement operator new).
long AllocationCount();
// While true, every operator new on the calling thread fails (throws
// std::bad_alloc, or returns null for the nothrow forms): out of memory, as
// far as the code under test can tell.
void FailAllocationsOnThisThread(bool fail);

template <typename Fn>
long CountAllocations(int n, Fn fn) {
  const long before = AllocationCount();
  for (int i = 0; i < n; ++i) fn();
  return AllocationCount() - before;
}

inline int ThreadCount() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

inline int StableThreadCount() {
  using SteadyClock = std::chrono::steady_clock;
  int last = ThreadCount();
  auto since = SteadyClock::now();
  Eventually(
      [&] {
        const int n = ThreadCount();
        if (n != last) {
          last = n;
          since = SteadyClock::now();
        }
        return SteadyClock::now() - since >= std::chrono::milliseconds(200);
      },
      std::chrono::seconds(10));
  return last;
}

}  // namespace degrade::test_util

#endif  // DEGRADE_TESTS_TEST_UTIL_H_
