// Sockets and servers for degrade's gtest suites (namespace
// degrade::test_util; tests/test_util.h says how the test helpers are
// organised). Loopback only.
//
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
//   SlowLoris(port, n, gap, head)        n connections dribbling one byte of
//                                        a request head that never ends every
//                                        gap, reconnecting when closed (the
//                                        slow-connection attack); connects()
#ifndef DEGRADE_TESTS_TEST_NET_H_
#define DEGRADE_TESTS_TEST_NET_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"

namespace degrade::test_util {

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

// ------------------------------------------------------------------ attacks

// `n` connections that each send one byte of `head` (a request head that
// never ends: after `head`, 'a' bytes) every `gap`, and reconnect when the
// server closes them: the attack of docs/security.md ("slow connections"),
// at a few hundred bytes per second. One thread runs it, from construction
// until destruction, which closes every connection.
class SlowLoris {
 public:
  SlowLoris(int port, size_t n, std::chrono::milliseconds gap, std::string head)
      : port_(port), gap_(gap), head_(std::move(head)), fds_(n, -1), next_(n), sent_(n, 0) {
    thread_ = std::thread([this] { Run(); });
  }
  ~SlowLoris() {
    stop_.store(true);
    thread_.join();
    for (const int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  SlowLoris(const SlowLoris&) = delete;
  SlowLoris& operator=(const SlowLoris&) = delete;

  // How many connections it has opened so far (reconnections included).
  size_t connects() const { return connects_.load(); }

 private:
  using Clock = std::chrono::steady_clock;

  void Run() {
    const sockaddr_in addr = LoopbackAddress(port_);
    while (!stop_.load()) {
      const auto now = Clock::now();
      for (size_t i = 0; i < fds_.size(); ++i) {
        if (fds_[i] < 0) {
          fds_[i] = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
          (void)::connect(fds_[i], reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
          sent_[i] = 0;
          next_[i] = now + gap_;
          connects_.fetch_add(1);
          continue;
        }
        char sink[512];
        const ssize_t got = ::recv(fds_[i], sink, sizeof sink, MSG_DONTWAIT);
        const bool closed = got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                                         errno != ENOTCONN);
        if (!closed && now >= next_[i]) {
          const char byte = sent_[i] < head_.size() ? head_[sent_[i]] : 'a';
          if (::send(fds_[i], &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) ++sent_[i];
          next_[i] = now + gap_;
        }
        if (closed) {
          ::close(fds_[i]);
          fds_[i] = -1;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  const int port_;
  const std::chrono::milliseconds gap_;
  const std::string head_;
  std::vector<int> fds_;
  std::vector<Clock::time_point> next_;
  std::vector<size_t> sent_;
  std::atomic<size_t> connects_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace degrade::test_util

#endif  // DEGRADE_TESTS_TEST_NET_H_
