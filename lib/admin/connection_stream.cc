// One admin connection's stream (connection_stream.h).
//
// cpp-httplib 0.11.4 bounds each wait for the socket (read timeout) but not a
// whole request: a client that sends one byte every few seconds would hold a
// worker forever. So every wait here ends at the request's deadline too, and
// the socket is non-blocking, so neither OpenSSL nor recv/send can block
// past it.
#include "admin/connection_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "admin/framing.h"
#include "admin/raw_response.h"
#include "openssl/err.h"

namespace degrade::internal {
namespace {

constexpr absl::Duration kNewConnectionGrace = absl::Seconds(1);
// How long a keep-alive connection must have been idle before it is closed
// for a waiting one. Closing it right after a response loses the request a
// busy client is sending at that moment (seen as 1 PUT in 100 failing).
constexpr absl::Duration kIdleBeforeYield = absl::Milliseconds(200);
// Chunked framing on top of max_body_bytes.
constexpr size_t kBodyFramingSlack = 4096;
// A response head longer than this is not ours to inspect.
constexpr size_t kMaxResponseHead = size_t{16} << 10;

using NameFn = int (*)(int, sockaddr*, socklen_t*);

void Address(int fd, NameFn fn, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ip.clear();
  port = -1;
  if (fn(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

}  // namespace

ConnectionStream::ConnectionStream(int fd, SSL* ssl, const AdminConfig& config,
                                   const std::atomic<bool>& stopping)
    : fd_(fd), ssl_(ssl), config_(config), stopping_(stopping) {}

bool ConnectionStream::Handshake() {
  const absl::Time deadline = absl::Now() + config_.request_deadline;
  for (;;) {
    const int r = SSL_accept(ssl_);
    if (r == 1) return true;
    if (!WaitForSsl(r, deadline)) {
      ERR_clear_error();
      return false;
    }
  }
}

bool ConnectionStream::WaitForRequest(bool first, const std::function<bool()>& starved) {
  if (Buffered()) return true;  // pipelined
  const absl::Time start = absl::Now();
  const absl::Time until = start + config_.keep_alive_timeout;
  const absl::Duration yield_after = first ? kNewConnectionGrace : kIdleBeforeYield;
  for (;;) {
    if (stopping_.load(std::memory_order_relaxed)) return false;
    if (starved() && absl::Now() - start >= yield_after) return false;
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    const int r = Poll(POLLIN, std::min(left, kStopCheck));
    if (r != 0) return r > 0;
  }
}

void ConnectionStream::BeginRequest() {
  read_deadline_ = absl::Now() + config_.request_deadline;
  write_deadline_.reset();
  answered_ = false;
  response_closes_ = false;
  response_head_.clear();
  in_response_head_ = true;
  in_headers_ = true;
  line_bytes_ = 0;
  lines_ = 0;
  header_bytes_ = 0;
  body_bytes_ = 0;
  prev_ = 0;
  head_.clear();
}

bool ConnectionStream::is_readable() const { return Buffered() || Wait(POLLIN, read_deadline_); }
bool ConnectionStream::is_writable() const { return Wait(POLLOUT, WriteDeadline()); }

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  if (answered_) return 0;  // the input ends at a limit
  if (pos_ == end_) {
    const ssize_t n = Fill();
    if (n <= 0) return n;
  }
  size_t k = std::min(size, end_ - pos_);
  k = Account(buf_ + pos_, k);
  if (k == 0) return 0;
  std::memcpy(ptr, buf_ + pos_, k);
  pos_ += k;
  return static_cast<ssize_t>(k);
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  if (size == 0) return 0;
  // The stream has answered this request itself; the library's answer to
  // the input it cut short is dropped.
  if (answered_) return static_cast<ssize_t>(size);
  ObserveResponse(ptr, size);
  const int len = static_cast<int>(std::min<size_t>(size, 1 << 30));
  for (;;) {
    if (ssl_ != nullptr) {
      const int n = SSL_write(ssl_, ptr, len);
      if (n > 0) return n;  // the library loops over partial writes
      if (!WaitForSsl(n, WriteDeadline())) return -1;
      continue;
    }
    const ssize_t n = ::send(fd_, ptr, static_cast<size_t>(len), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    if (!Wait(POLLOUT, WriteDeadline())) return -1;
  }
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  Address(fd_, &::getpeername, ip, port);
}
void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  Address(fd_, &::getsockname, ip, port);
}

bool ConnectionStream::Buffered() const {
  return pos_ < end_ || (ssl_ != nullptr && SSL_pending(ssl_) > 0);
}

// Reads what the socket has into buf_. >0 bytes, 0 peer closed, -1 failed or
// timed out.
ssize_t ConnectionStream::Fill() {
  for (;;) {
    if (ssl_ != nullptr) {
      const int n = SSL_read(ssl_, buf_, sizeof buf_);
      if (n > 0) {
        pos_ = 0;
        end_ = static_cast<size_t>(n);
        return n;
      }
      if (SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN) return 0;
      if (!WaitForSsl(n, read_deadline_)) {
        read_failed_ = true;
        return -1;
      }
      continue;
    }
    const ssize_t n = ::recv(fd_, buf_, sizeof buf_, MSG_DONTWAIT);
    if (n > 0) {
      pos_ = 0;
      end_ = static_cast<size_t>(n);
      return n;
    }
    if (n == 0) return 0;  // peer closed
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      read_failed_ = true;
      return -1;
    }
    if (!Wait(POLLIN, read_deadline_)) {
      read_failed_ = true;
      return -1;
    }
  }
}

// Counts `n` bytes about to be handed to the parser; returns how many of
// them it may have (fewer when a limit is reached: the stream answers and
// the input ends there).
size_t ConnectionStream::Account(const char* p, size_t n) {
  if (!in_headers_) {
    const size_t cap = config_.max_body_bytes + kBodyFramingSlack;
    if (body_bytes_ + n > cap) {
      const size_t allowed = cap - body_bytes_;
      body_bytes_ = cap;
      return Limit(413, allowed);
    }
    body_bytes_ += n;
    return n;
  }
  for (size_t i = 0; i < n; ++i) {
    ++line_bytes_;
    if (lines_ > 0) ++header_bytes_;
    const char prev = prev_;
    prev_ = p[i];
    head_.push_back(p[i]);  // bounded by the limits below
    if (p[i] == '\n') {
      // "\r\n" after the request line ends the header section, as in
      // cpp-httplib (a bare "\n" line is skipped there).
      if (lines_ > 0 && line_bytes_ == 2 && prev == '\r') {
        in_headers_ = false;
        const std::string problem =
            CheckRequestFraming(std::string_view(head_).substr(0, head_.size() - 2));
        head_.clear();
        // Refused: the parser never sees the head complete, so it runs
        // nothing of it.
        if (!problem.empty()) return Answer(400, problem, i);
        return i + 1;
      }
      ++lines_;
      line_bytes_ = 0;
      if (lines_ > kMaxHeaderLines + 1) return Limit(431, i + 1);
      continue;
    }
    if (lines_ == 0 && line_bytes_ > kMaxRequestLine) return Limit(414, i + 1);
    if (lines_ > 0 && (line_bytes_ > kMaxHeaderLine || header_bytes_ > config_.max_header_bytes)) {
      return Limit(431, i + 1);
    }
  }
  return n;
}

// Answers the request with `status` at once (nothing of the response has
// been written yet: the library reads the whole request before it answers)
// and ends the input after the `n` bytes returned, so that the parser fails
// on a cut request (its answer is dropped) rather than running it.
size_t ConnectionStream::Limit(int status, size_t n) {
  std::string message;
  switch (status) {
    case 431:
      message = absl::StrCat("request header section is too large; accepted: at most ",
                             kMaxHeaderLines, " header lines of at most ", kMaxHeaderLine,
                             " bytes each, ", config_.max_header_bytes, " bytes in all");
      break;
    case 414:
      message =
          absl::StrCat("request line is too long; accepted: at most ", kMaxRequestLine, " bytes");
      break;
    default:
      message = absl::StrCat("request body is larger than ", config_.max_body_bytes,
                             " bytes; accepted: a JSON body of at most that size (a switch "
                             "value, or a snapshot for the bulk write)");
      break;
  }
  return Answer(status, message, n);
}

size_t ConnectionStream::Answer(int status, std::string_view message, size_t n) {
  WriteAll(RawErrorResponse(status, message));
  answered_ = true;
  head_.clear();
  return n;
}

void ConnectionStream::WriteAll(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(bytes.data(), bytes.size());
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// Collects the response head as it is written and, once it is complete,
// notes whether it ends the connection.
void ConnectionStream::ObserveResponse(const char* p, size_t n) {
  if (!in_response_head_) return;
  response_head_.append(
      p, std::min(n, kMaxResponseHead - std::min(kMaxResponseHead, response_head_.size())));
  const size_t end = response_head_.find("\r\n\r\n");
  if (end == std::string::npos && response_head_.size() < kMaxResponseHead) return;
  in_response_head_ = false;
  if (end != std::string::npos) response_head_.resize(end + 2);
  absl::AsciiStrToLower(&response_head_);
  response_closes_ = absl::StrContains(response_head_, "\r\nconnection: close\r\n");
  response_head_.clear();
}

// After an SSL call returned `r` <= 0: waits for what it needs. False on a
// real error or when the wait ends without the socket being ready.
bool ConnectionStream::WaitForSsl(int r, absl::Time deadline) const {
  switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
      return Wait(POLLIN, deadline);
    case SSL_ERROR_WANT_WRITE:
      return Wait(POLLOUT, deadline);
    default:
      return false;
  }
}

absl::Time ConnectionStream::WriteDeadline() const {
  // The response gets its own budget, counted from its first byte.
  if (!write_deadline_) write_deadline_ = absl::Now() + config_.request_deadline;
  return *write_deadline_;
}

// 1 ready (or hung up: the next recv/send says which), 0 timed out, -1 error.
int ConnectionStream::Poll(short events, absl::Duration timeout) const {
  pollfd p{fd_, events, 0};
  const int ms = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout)));
  const int r = ::poll(&p, 1, ms);
  if (r < 0) return errno == EINTR ? 0 : -1;
  return r > 0 ? 1 : 0;
}

bool ConnectionStream::Wait(short events, absl::Time deadline) const {
  const absl::Time until = std::min(deadline, absl::Now() + config_.io_timeout);
  for (;;) {
    if (stopping_.load(std::memory_order_relaxed)) return false;
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    const int r = Poll(events, std::min(left, kStopCheck));
    if (r != 0) return r > 0;
  }
}

}  // namespace degrade::internal
