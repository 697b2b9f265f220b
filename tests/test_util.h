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
//   LoopbackAddress(port)                127.0.0.1:port as a sockaddr_in
//   BindLoopback(backlog)                a TCP socket on 127.0.0.1 at a port
//                                        the kernel picks, listening unless
//                                        backlog is 0: {fd, port}, fd -1 (and
//                                        errno) on failure; the caller closes it
//   RawSocket(port)                      a raw TCP client, for requests that
//                                        misbehave on purpose: Send, ReadWithin,
//                                        ReadOneResponse, ReadUntilClosed
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
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

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
#include "absl/strings/ascii.h"
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

inline sockaddr_in LoopbackAddress(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// A TCP socket (close-on-exec) bound to 127.0.0.1 at a port the kernel
// picks, listening with `backlog` unless it is 0 (then only bound: a
// connection to it is refused). fd is -1 on failure, with errno saying why.
struct BoundSocket {
  int fd = -1;
  int port = 0;
};
inline BoundSocket BindLoopback(int backlog) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_in addr = LoopbackAddress(0);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      (backlog > 0 && ::listen(fd, backlog) != 0) ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int error = errno;
    ::close(fd);
    errno = error;
    return {};
  }
  return {fd, ntohs(addr.sin_port)};
}

// A raw TCP connection to 127.0.0.1, for clients that misbehave on purpose.
// Every read is bounded: by its `wait`, else by a 10 s receive timeout (a
// backstop no test waits for).
class RawSocket {
 public:
  // `wait` false: starts connecting and returns (a flood of them does not
  // wait for the listen backlog one by one); Connected() finishes.
  explicit RawSocket(int port, bool wait = true) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    const sockaddr_in addr = LoopbackAddress(port);
    if (!wait) ::fcntl(fd_, F_SETFL, O_NONBLOCK);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ||
                 (!wait && errno == EINPROGRESS);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawSocket() { ::close(fd_); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  // After RawSocket(port, false): waits up to 10 s for the connection, then
  // makes the socket blocking again. False if it failed.
  bool Connected() {
    pollfd p{fd_, POLLOUT, 0};
    int error = 0;
    socklen_t len = sizeof error;
    if (::poll(&p, 1, 10000) != 1 ||
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
      return false;
    }
    ::fcntl(fd_, F_SETFL, 0);
    return true;
  }
  bool Send(std::string_view data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // What the server sent and closed within `wait`, or nullopt.
  std::optional<std::string> ReadWithin(std::chrono::milliseconds wait) {
    std::string out;
    const auto until = std::chrono::steady_clock::now() + wait;
    for (;;) {
      switch (RecvBefore(until, &out)) {
        case Read::kData: break;
        case Read::kClosed: return out;
        case Read::kFailed: return std::nullopt;
      }
    }
  }
  // One whole response (headers and a Content-Length body) on a connection
  // the server keeps open, read within `wait`; nullopt if it did not come.
  std::optional<std::string> ReadOneResponse(std::chrono::milliseconds wait) {
    std::string out;
    const auto until = std::chrono::steady_clock::now() + wait;
    for (;;) {
      const size_t head_end = out.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        size_t length = 0;
        const std::string head = absl::AsciiStrToLower(out.substr(0, head_end));
        const size_t at = head.find("\r\ncontent-length:");
        if (at != std::string::npos) {
          length = std::strtoul(head.c_str() + at + 17, nullptr, 10);
        }
        if (out.size() >= head_end + 4 + length) return out;
      }
      if (RecvBefore(until, &out) != Read::kData) return std::nullopt;
    }
  }
  // Reads until the server closes the connection; what it sent, or nullopt
  // when the 10 s backstop hit first.
  std::optional<std::string> ReadUntilClosed() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return out;
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ECONNRESET) return out;
        return std::nullopt;
      }
      out.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  enum class Read { kData, kClosed, kFailed };
  // One recv, appended to *out, if data comes before `until`. A reset
  // counts as closed.
  Read RecvBefore(std::chrono::steady_clock::time_point until, std::string* out) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) {
      return Read::kFailed;
    }
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return Read::kClosed;
    if (n < 0) return Read::kFailed;
    out->append(buf, static_cast<size_t>(n));
    return Read::kData;
  }

  int fd_;
  bool connected_ = false;
};

// A loopback TCP port that refuses connections (a bound socket that never
// listens: connecting gets ECONNREFUSED), held until the object is
// destroyed. Not a port bound and closed at once: a concurrent bind to port
// 0 elsewhere (another test, a server the test starts) may take that port
// before the test uses it, and then something answers there.
class RefusingPort {
 public:
  RefusingPort() : socket_(BindLoopback(/*backlog=*/0)) {
    if (socket_.fd < 0) {
      std::perror("FATAL: RefusingPort: cannot bind a socket to 127.0.0.1:0");
      std::abort();
    }
  }
  ~RefusingPort() { ::close(socket_.fd); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  int Port() const { return socket_.port; }
  // "http://127.0.0.1:<port>" (no path: also a valid etcd endpoint).
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(socket_.port); }

 private:
  BoundSocket socket_;
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
