// The admin endpoint (see admin_server.h).
//
// cpp-httplib 0.11.4 bounds each wait for the socket (read timeout) but not a
// whole request: a client that sends one byte every few seconds holds a
// worker forever, and stop() waits for idle keep-alive connections. So
// BoundedServer replaces the per-connection loop (the library's
// process_and_close_socket, a virtual meant for this) with one that keeps a
// deadline per request and checks a stop flag every 100 ms, and reads and
// writes through ConnectionStream, which enforces both. Parsing, routing and
// response writing stay the library's (process_request).
#include "admin/admin_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admin/console_html.h"
#include "degrade/snapshot.h"
#include "httplib.h"
#include "core/listing_json.h"
#include "admin/metrics.h"
#include "nlohmann/json.hpp"
#include "openssl/err.h"
#include "openssl/pem.h"
#include "openssl/ssl.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

constexpr std::string_view kSwitchesPath = "/degrade/v1/switches";
constexpr std::string_view kAcceptedAddr =
    "HOST:PORT with HOST 127.0.0.1 (or another 127.x.y.z), [::1] or localhost, and PORT a "
    "number from 0 to 65535 (0 picks a free port), e.g. 127.0.0.1:9901; another IP literal "
    "(0.0.0.0, [::]) needs admin_allow_non_loopback";
constexpr absl::Duration kStopCheck = absl::Milliseconds(100);
// BoundedServer::LingeringClose: how long and how much a closing connection
// reads and drops of what its client still sends.
constexpr absl::Duration kLingerTime = absl::Seconds(1);
constexpr size_t kLingerBytes = size_t{64} << 20;
constexpr absl::Duration kNewConnectionGrace = absl::Seconds(1);
// How long a keep-alive connection must have been idle before it is closed
// for a waiting one. Closing it right after a response loses the request a
// busy client is sending at that moment (seen as 1 PUT in 100 failing).
constexpr absl::Duration kIdleBeforeYield = absl::Milliseconds(200);
// cpp-httplib's own limits (CPPHTTPLIB_REQUEST_URI_MAX_LENGTH,
// CPPHTTPLIB_HEADER_MAX_LENGTH), enforced here before it buffers more.
constexpr size_t kMaxRequestLine = 8192;
constexpr size_t kMaxHeaderLine = 8192;
constexpr size_t kMaxHeaderLines = 100;
// Chunked framing on top of max_body_bytes.
constexpr size_t kBodyFramingSlack = 4096;

// Set by the error handler when the library rejected a request it could not
// parse: what follows on that connection cannot be trusted to be in step.
// Requests are handled synchronously on the worker that owns the connection,
// so a per-thread flag is per-connection.
thread_local bool close_after_response = false;
// The status (413, 414, 431) of the limit ConnectionStream enforced on the
// current request by ending its input early, or 0.
thread_local int limit_status = 0;
// Set while WorkerPool::enqueue hands a connection back to be refused.
thread_local bool refuse_connection = false;
// The token of the server whose connection this worker is serving: no
// response body may contain it (a client that put it in a path or a header
// the server quotes back gets "<token>").
thread_local const std::string* secret = nullptr;

constexpr std::string_view kTokenMark = "<token>";

// Replaces every occurrence of the serving server's token in `text` with
// "<token>". Idempotent: a body built by SendJson passes here again in the
// post-routing handler, and a short token can be part of "<token>" itself
// ("tok" made "wrong <<token>en>en"), so an occurrence inside a "<token>"
// already in the text is left alone (it reveals nothing).
void Scrub(std::string& text) {
  if (secret == nullptr || secret->empty()) return;
  const std::string_view token = *secret;
  size_t at = text.find(token);
  while (at != std::string::npos) {
    bool inside_mark = false;
    for (size_t start = at >= kTokenMark.size() ? at - kTokenMark.size() + 1 : 0;
         start <= at && !inside_mark; ++start) {
      inside_mark = at + token.size() <= start + kTokenMark.size() &&
                    std::string_view(text).substr(start, kTokenMark.size()) == kTokenMark;
    }
    if (inside_mark) {
      at = text.find(token, at + 1);
      continue;
    }
    text.replace(at, token.size(), kTokenMark);
    at = text.find(token, at + kTokenMark.size());
  }
}

// This response ends its connection: the request may have left bytes on the
// wire (an unread body) that must not be read as the next request. The
// client is told, so it does not send another request on a connection about
// to close.
void CloseAfterResponse(httplib::Response& res) {
  close_after_response = true;
  res.set_header("Connection", "close");
}

// ------------------------------------------------------------------ workers

// A fixed pool with a bounded line. It says when connections wait with no
// idle worker to take them (starved), so keep-alive connections make way.
class WorkerPool final : public httplib::TaskQueue {
 public:
  WorkerPool(size_t n, size_t max_queued) : max_queued_(max_queued) {
    for (size_t i = 0; i < n; ++i) threads_.emplace_back([this] { Work(); });
  }
  ~WorkerPool() override { shutdown(); }

  // Called by the accept loop. Beyond the line, the connection is refused
  // right here (process_and_close_socket sees refuse_connection).
  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.size() < max_queued_) {
        queue_.push_back(std::move(fn));
        UpdateStarved();
        fn = nullptr;
      }
    }
    if (fn == nullptr) {
      cv_.notify_one();
      return;
    }
    refuse_connection = true;
    try {
      fn();
    } catch (...) {
    }
    refuse_connection = false;
  }

  // Runs what is queued (each task closes its socket quickly once the
  // server is stopping), then joins. Idempotent.
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  // True while some accepted connection waits and no worker is idle.
  bool Starved() const noexcept { return starved_.load(std::memory_order_relaxed); }

 private:
  void UpdateStarved() {  // with mu_ held
    starved_.store(queue_.size() > idle_, std::memory_order_relaxed);
  }

  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ++idle_;
        UpdateStarved();
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        --idle_;
        if (queue_.empty()) {
          UpdateStarved();
          return;
        }
        fn = std::move(queue_.front());
        queue_.pop_front();
        UpdateStarved();
      }
      // A worker must survive anything one connection does.
      try {
        fn();
      } catch (...) {
      }
    }
  }

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  size_t idle_ = 0;                          // guarded by mu_
  bool stop_ = false;                        // guarded by mu_
  std::atomic<bool> starved_{false};
  std::vector<std::thread> threads_;
};

// ------------------------------------------------------------------ TLS

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
};
struct SslFree {
  void operator()(SSL* ssl) const noexcept { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// OpenSSL's reason for the last failure on this thread.
std::string SslReason() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char text[256] = {};
  ERR_error_string_n(e, text, sizeof text);
  return text;
}

absl::StatusOr<SslCtxPtr> LoadTls(const AdminConfig& config) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) {
    return absl::InternalError(absl::StrCat("admin endpoint: TLS setup failed: ", SslReason()));
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), config.tls_cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "admin_tls_cert_file (DEGRADE_ADMIN_TLS_CERT) \"", config.tls_cert_file,
        "\": cannot load it as a PEM certificate chain (", SslReason(),
        "); accepted: a readable PEM file, the server certificate first"));
  }
  // Read here rather than by SSL_CTX_use_PrivateKey_file, whose default
  // passphrase callback would prompt on the terminal for an encrypted key.
  EVP_PKEY* key = nullptr;
  errno = 0;
  if (FILE* f = std::fopen(config.tls_key_file.c_str(), "r")) {
    key = PEM_read_PrivateKey(f, nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
    std::fclose(f);
  }
  if (key == nullptr) {
    const std::string why = errno != 0 && ERR_peek_last_error() == 0 ? std::strerror(errno)
                                                                      : SslReason();
    return absl::InvalidArgumentError(absl::StrCat(
        "admin_tls_key_file (DEGRADE_ADMIN_TLS_KEY) \"", config.tls_key_file,
        "\": cannot load it as a PEM private key (", why,
        "); accepted: a readable, unencrypted PEM private key"));
  }
  const bool used = SSL_CTX_use_PrivateKey(ctx.get(), key) == 1;
  EVP_PKEY_free(key);
  if (!used || SSL_CTX_check_private_key(ctx.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "admin_tls_key_file (DEGRADE_ADMIN_TLS_KEY) \"", config.tls_key_file,
        "\" does not match the certificate in \"", config.tls_cert_file, "\" (", SslReason(),
        ")"));
  }
  return ctx;
}

// ------------------------------------------------------------------ one connection

// A socket stream (plain or TLS) whose every wait ends at the earliest of:
// io_timeout, the current request's deadline, and the server stopping. It
// also counts what the parser reads of each request and ends the input
// early (limit_status) at the request line, header and body limits, so
// cpp-httplib never buffers more than they allow.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int fd, SSL* ssl, const AdminConfig& config,
                   const std::atomic<bool>& stopping)
      : fd_(fd), ssl_(ssl), config_(config), stopping_(stopping) {}

  // Completes the TLS handshake within request_deadline. False: close.
  bool Handshake() {
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

  // Waits for the first byte of the next request. False: close the
  // connection (peer idle too long, server stopping, or a connection is
  // waiting with no worker free: after kIdleBeforeYield of idleness between
  // requests, after kNewConnectionGrace on a new connection that has sent
  // nothing yet, e.g. a browser's preconnect).
  bool WaitForRequest(bool first, const std::function<bool()>& starved) {
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

  void BeginRequest() {
    read_deadline_ = absl::Now() + config_.request_deadline;
    write_deadline_.reset();
    in_headers_ = true;
    line_bytes_ = 0;
    lines_ = 0;
    header_bytes_ = 0;
    body_bytes_ = 0;
    prev_ = 0;
    limit_status = 0;
  }

  // True once a read timed out or failed, or a limit ended the input: the
  // library has answered 400 (or nothing); the connection is not worth
  // keeping.
  bool read_failed() const noexcept { return read_failed_ || limit_status != 0; }

  bool is_readable() const override { return Buffered() || Wait(POLLIN, read_deadline_); }
  bool is_writable() const override { return Wait(POLLOUT, WriteDeadline()); }

  ssize_t read(char* ptr, size_t size) override {
    if (limit_status != 0) return 0;  // the input ends at a limit
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

  ssize_t write(const char* ptr, size_t size) override {
    if (size == 0) return 0;
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

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Address(&::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Address(&::getsockname, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  bool Buffered() const { return pos_ < end_ || (ssl_ != nullptr && SSL_pending(ssl_) > 0); }

  // Reads what the socket has into buf_. >0 bytes, 0 peer closed, -1 failed
  // or timed out.
  ssize_t Fill() {
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
  // them it may have (fewer when a limit is reached: limit_status is set and
  // the input ends there).
  size_t Account(const char* p, size_t n) {
    if (!in_headers_) {
      const size_t cap = config_.max_body_bytes + kBodyFramingSlack;
      if (body_bytes_ + n > cap) {
        limit_status = 413;
        n = cap - body_bytes_;
      }
      body_bytes_ += n;
      return n;
    }
    for (size_t i = 0; i < n; ++i) {
      ++line_bytes_;
      if (lines_ > 0) ++header_bytes_;
      const char prev = prev_;
      prev_ = p[i];
      if (p[i] == '\n') {
        // "\r\n" after the request line ends the header section, as in
        // cpp-httplib (a bare "\n" line is skipped there).
        if (lines_ > 0 && line_bytes_ == 2 && prev == '\r') {
          in_headers_ = false;
          return i + 1;
        }
        ++lines_;
        line_bytes_ = 0;
        if (lines_ > kMaxHeaderLines + 1) return Limit(431, i + 1);
        continue;
      }
      if (lines_ == 0 && line_bytes_ > kMaxRequestLine) return Limit(414, i + 1);
      if (lines_ > 0 && (line_bytes_ > kMaxHeaderLine ||
                         header_bytes_ > config_.max_header_bytes)) {
        return Limit(431, i + 1);
      }
    }
    return n;
  }

  static size_t Limit(int status, size_t n) {
    limit_status = status;
    return n;
  }

  // After an SSL call returned `r` <= 0: waits for what it needs. False on
  // a real error or when the wait ends without the socket being ready.
  bool WaitForSsl(int r, absl::Time deadline) const {
    switch (SSL_get_error(ssl_, r)) {
      case SSL_ERROR_WANT_READ:
        return Wait(POLLIN, deadline);
      case SSL_ERROR_WANT_WRITE:
        return Wait(POLLOUT, deadline);
      default:
        return false;
    }
  }

  absl::Time WriteDeadline() const {
    // The response gets its own budget, counted from its first byte.
    if (!write_deadline_) write_deadline_ = absl::Now() + config_.request_deadline;
    return *write_deadline_;
  }

  // 1 ready (or hung up: the next recv/send says which), 0 timed out, -1 error.
  int Poll(short events, absl::Duration timeout) const {
    pollfd p{fd_, events, 0};
    const int ms = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout)));
    const int r = ::poll(&p, 1, ms);
    if (r < 0) return errno == EINTR ? 0 : -1;
    return r > 0 ? 1 : 0;
  }

  bool Wait(short events, absl::Time deadline) const {
    const absl::Time until = std::min(deadline, absl::Now() + config_.io_timeout);
    for (;;) {
      if (stopping_.load(std::memory_order_relaxed)) return false;
      const absl::Duration left = until - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      const int r = Poll(events, std::min(left, kStopCheck));
      if (r != 0) return r > 0;
    }
  }

  using NameFn = int (*)(int, sockaddr*, socklen_t*);
  void Address(NameFn fn, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ip.clear();
    port = -1;
    if (fn(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
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

  const int fd_;
  SSL* const ssl_;  // null: plain HTTP
  const AdminConfig& config_;
  const std::atomic<bool>& stopping_;
  absl::Time read_deadline_ = absl::InfiniteFuture();
  mutable std::optional<absl::Time> write_deadline_;
  bool read_failed_ = false;
  bool in_headers_ = true;
  size_t line_bytes_ = 0;    // of the current line, its "\n" included
  size_t lines_ = 0;         // complete lines, the request line included
  size_t header_bytes_ = 0;  // after the request line
  size_t body_bytes_ = 0;
  char prev_ = 0;  // the byte before, across reads
  char buf_[4096];
  size_t pos_ = 0;
  size_t end_ = 0;
};

// One request held in memory; what is written to it is dropped. For
// BoundedServer::BuildLibraryStatics.
class MemoryStream final : public httplib::Stream {
 public:
  explicit MemoryStream(std::string_view in) : in_(in) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, in_.size());
    std::memcpy(ptr, in_.data(), n);
    in_.remove_prefix(n);
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* /*ptr*/, size_t size) override { return static_cast<ssize_t>(size); }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip.clear();
    port = -1;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip.clear();
    port = -1;
  }
  socket_t socket() const override { return INVALID_SOCKET; }

 private:
  std::string_view in_;
};

// The answer to a connection beyond the line: written once, without
// waiting, on the accept thread.
std::string RefusedResponse() {
  const std::string_view body =
      R"({"error":"too many connections to the admin endpoint: every worker is busy and the )"
      R"(line of waiting connections is full; retry in a second"})";
  return absl::StrCat(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ",
      body.size(),
      "\r\nConnection: close\r\nRetry-After: 1\r\nCache-Control: no-store\r\n"
      "X-Content-Type-Options: nosniff\r\n\r\n",
      ToAbsl(body));
}

class BoundedServer final : public httplib::Server {
 public:
  // `tls` may be null (plain HTTP); it must outlive the server.
  BoundedServer(const AdminConfig& config, SSL_CTX* tls)
      : config_(config), tls_(tls), refused_response_(RefusedResponse()) {
    new_task_queue = [this] {
      auto* pool = new WorkerPool(config_.threads, config_.max_queued_connections);
      pool_.store(pool);
      return pool;
    };
  }

  // cpp-httplib's Server::parse_request_line builds a function-local
  // `static const std::set<std::string>` of methods on its first call.
  // Later calls test its guard with an inline acquire load, which TSan does
  // not see in the uninstrumented library, so two workers reading the set
  // were reported as racing with the one that built it (docs/security.md,
  // "The TSan report"). This parses one request line here, once per process,
  // before any worker exists: the workers are created after it, and later
  // servers meet it through std::call_once, so every reader is ordered after
  // the build. The method is unknown, so the request ends at the parse (a 400
  // written to memory): no handler runs, nothing is counted or logged.
  void BuildLibraryStatics() {
    static std::once_flag once;
    std::call_once(once, [this] {
      MemoryStream stream("BUILD-STATICS / HTTP/1.1\r\n\r\n");
      bool closed = false;
      (void)process_request(stream, /*close_connection=*/true, closed, nullptr);
      close_after_response = false;
      limit_status = 0;
    });
  }

  // Makes every connection wind down within kStopCheck; then stop().
  void Shutdown() {
    stopping_.store(true);
    stop();
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    if (refuse_connection) {
      if (tls_ == nullptr) {
        (void)::send(sock, refused_response_.data(), refused_response_.size(),
                     MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      ::shutdown(sock, SHUT_RDWR);
      ::close(sock);
      return false;
    }
    bool ret = false;
    secret = &config_.token;
    {
      // Non-blocking, so neither OpenSSL nor recv/send can block past the
      // deadlines ConnectionStream keeps.
      ::fcntl(sock, F_SETFL, ::fcntl(sock, F_GETFL, 0) | O_NONBLOCK);
      ::fcntl(sock, F_SETFD, FD_CLOEXEC);
      SslPtr ssl;
      if (tls_ != nullptr) {
        ssl.reset(SSL_new(tls_));
        if (ssl == nullptr || SSL_set_fd(ssl.get(), sock) != 1) ssl.reset();
      }
      ConnectionStream stream(sock, ssl.get(), config_, stopping_);
      const auto starved = [this] {
        WorkerPool* pool = pool_.load();
        return pool != nullptr && pool->Starved();
      };
      const bool ready = tls_ == nullptr || (ssl != nullptr && stream.Handshake());
      for (size_t left = config_.keep_alive_max_requests; ready && left > 0; --left) {
        const bool first = left == config_.keep_alive_max_requests;
        if (!stream.WaitForRequest(first, starved)) break;
        stream.BeginRequest();
        close_after_response = false;
        bool closed = false;
        // A connection is waiting with no worker free: answer this request
        // with "Connection: close" and make way.
        const bool last = left == 1 || starved();
        ret = process_request(stream, last, closed, nullptr);
        if (!ret || closed || last || stream.read_failed() || close_after_response) break;
      }
      if (ssl != nullptr && ready) (void)SSL_shutdown(ssl.get());  // close_notify, no wait
      ERR_clear_error();
    }
    secret = nullptr;
    if (close_after_response) {
      LingeringClose(sock);
    } else {
      ::shutdown(sock, SHUT_RDWR);
      ::close(sock);
    }
    return ret;
  }

  // Closing a socket with unread input makes the kernel send a reset, and a
  // client still sending its body (a 401 or 413 answered before the body was
  // read) may then lose the response it has not read yet: "connection reset"
  // instead of the answer (fault_matrix_admin_test saw 1 in 1,800 under
  // load). So, as HTTP servers do: end our side (FIN after the response),
  // read and drop what the client still sends until it closes, then close.
  // Bounded by time (kLingerTime, like the server's other deadlines), a
  // sanity cap on bytes (kLingerBytes), and stop(). A client told
  // "Connection: close" closes once it has read the answer, which ends the
  // wait at once; the bound only matters for one that keeps sending.
  void LingeringClose(socket_t sock) const {
    ::shutdown(sock, SHUT_WR);
    const absl::Time until = absl::Now() + kLingerTime;
    size_t drained = 0;
    char buf[4096];
    while (drained < kLingerBytes && !stopping_.load(std::memory_order_relaxed)) {
      const ssize_t n = ::recv(sock, buf, sizeof buf, 0);  // the socket is non-blocking
      if (n > 0) {
        drained += static_cast<size_t>(n);
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) break;
      const absl::Duration left = until - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      pollfd p{sock, POLLIN, 0};
      const auto ms = absl::ToInt64Milliseconds(std::min(left, kStopCheck));
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(1, ms))) < 0 && errno != EINTR) break;
    }
    ::close(sock);
  }

  const AdminConfig& config_;
  SSL_CTX* const tls_;
  const std::string refused_response_;
  std::atomic<bool> stopping_{false};
  std::atomic<WorkerPool*> pool_{nullptr};
};

// ------------------------------------------------------------------ helpers

void SendJson(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  std::string text = Dump(body);
  Scrub(text);
  // cpp-httplib 0.11 takes a const std::string&: nothing to move.
  res.set_content(text, "application/json");
}

void SendError(httplib::Response& res, int status, std::string_view message) {
  SendJson(res, status, {{"error", std::string(message)}});
}
void SendError(httplib::Response& res, int status, const absl::Status& error) {
  SendError(res, status, std::string_view(error.message().data(), error.message().size()));
}

// The methods whose body cpp-httplib reads before routing (its
// detail::expect_content).
bool MethodBodyIsRead(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE" ||
         method == "PRI";
}

// Text from a request, cut for an error message (Dump makes it valid UTF-8).
std::string Clip(std::string_view s) {
  constexpr size_t kMax = 120;
  return s.size() <= kMax ? std::string(s) : absl::StrCat(ToAbsl(s.substr(0, kMax)), "...");
}

// The JSON path of a switch entry, quoted as ParseSnapshot quotes it.
std::string SwitchPath(std::string_view name) {
  const bool plain = std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
  return plain ? absl::StrCat("switches.", ToAbsl(name))
               : absl::StrCat("switches.\"", ToAbsl(name), "\"");
}

bool IsRead(const httplib::Request& req) { return req.method == "GET" || req.method == "HEAD"; }

}  // namespace

// ------------------------------------------------------------------ address, token

absl::StatusOr<AdminAddress> ParseAdminAddress(std::string_view addr) {
  const auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("admin_addr (DEGRADE_ADMIN_ADDR) \"",
                                                   Clip(addr), "\" ", ToAbsl(why),
                                                   "; accepted: ", ToAbsl(kAcceptedAddr)));
  };
  std::string_view host;
  std::string_view port_text;
  if (!addr.empty() && addr.front() == '[') {
    const size_t close = addr.find(']');
    if (close == std::string_view::npos || close + 1 >= addr.size() || addr[close + 1] != ':') {
      return bad("is not [IPV6]:PORT");
    }
    host = addr.substr(1, close - 1);
    port_text = addr.substr(close + 2);
  } else {
    const size_t colon = addr.rfind(':');
    if (colon == std::string_view::npos) return bad("has no :PORT");
    host = addr.substr(0, colon);
    port_text = addr.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return bad("has an IPv6 host without [ ]");
  }
  int port = -1;
  if (port_text.empty() ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      port_text.size() > 5 || !absl::SimpleAtoi(ToAbsl(port_text), &port) || port > 65535) {
    return bad("has no valid port");
  }
  AdminAddress out;
  out.port = port;
  if (host == "localhost") {
    // Not through the resolver: "localhost" may map to ::1 first.
    out.host = "127.0.0.1";
    out.loopback = true;
    return out;
  }
  const std::string h(host);
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    out.loopback = (ntohl(v4.s_addr) >> 24) == 127;
  } else if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    out.loopback = IN6_IS_ADDR_LOOPBACK(&v6);
  } else {
    return bad(host.empty() ? "has no host" : "does not have an IP address or localhost as host");
  }
  out.host = h;
  return out;
}

absl::Status ValidateAdminConfig(const AdminConfig& config) {
  absl::StatusOr<AdminAddress> addr = ParseAdminAddress(config.addr);
  if (!addr.ok()) return addr.status();
  if (!addr->loopback && !config.allow_non_loopback) {
    return absl::InvalidArgumentError(absl::StrCat(
        "admin_addr (DEGRADE_ADMIN_ADDR) \"", config.addr,
        "\" is not a loopback address: the admin endpoint can change every switch, so it binds "
        "loopback only unless admin_allow_non_loopback is set (then put it behind a firewall "
        "and TLS proxy); accepted: 127.0.0.1:PORT, [::1]:PORT or localhost:PORT"));
  }
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "admin endpoint TLS: ",
        config.tls_cert_file.empty() ? "admin_tls_key_file (DEGRADE_ADMIN_TLS_KEY) is set but "
                                       "admin_tls_cert_file (DEGRADE_ADMIN_TLS_CERT) is not"
                                     : "admin_tls_cert_file (DEGRADE_ADMIN_TLS_CERT) is set but "
                                       "admin_tls_key_file (DEGRADE_ADMIN_TLS_KEY) is not",
        "; accepted: both (TLS) or neither (plain HTTP)"));
  }
  for (const std::string& h : config.allowed_hosts) {
    const bool ok = !h.empty() && h.size() <= 253 && std::all_of(h.begin(), h.end(), [](char c) {
      return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
    });
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "admin_allowed_hosts (DEGRADE_ADMIN_ALLOWED_HOSTS): \"", Clip(h),
          "\" is not a host name; accepted: names of letters, digits, '.' and '-' without a "
          "port, e.g. svc-1.internal"));
    }
  }
  if (config.threads == 0 || config.keep_alive_max_requests == 0 || config.max_body_bytes == 0 ||
      config.max_header_bytes == 0 ||
      config.io_timeout <= absl::ZeroDuration() ||
      config.request_deadline <= absl::ZeroDuration() ||
      config.keep_alive_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("admin endpoint: threads, timeouts and limits must be "
                                      "positive");
  }
  return absl::OkStatus();
}

bool ConstantTimeEquals(std::string_view presented, std::string_view expected) noexcept {
  const size_t n = std::max(presented.size(), expected.size());
  // Every byte of the longer string is visited; the loop has no early exit
  // and the only branches depend on lengths, not on content.
  volatile unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char a = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    const unsigned char b = i < expected.size() ? static_cast<unsigned char>(expected[i]) : 0;
    diff = diff | static_cast<unsigned char>(a ^ b);
  }
  return diff == 0;
}

// ------------------------------------------------------------------ AdminServer::Impl

class AdminServer::Impl {
 public:
  Impl(Registry& registry, AdminConfig config, SslCtxPtr tls)
      : registry_(registry),
        config_(std::move(config)),
        tls_(std::move(tls)),
        server_(config_, tls_.get()) {}

  ~Impl() {
    if (thread_.joinable()) {
      server_.Shutdown();
      thread_.join();
    }
  }

  absl::Status Start(const AdminAddress& addr) {
    Configure();
    if (addr.port == 0) {
      port_ = server_.bind_to_any_port(addr.host);
    } else if (server_.bind_to_port(addr.host, addr.port)) {
      port_ = addr.port;
    }
    if (port_ <= 0) {
      port_ = 0;
      return absl::UnavailableError(absl::StrCat(
          "admin endpoint: cannot listen on ", config_.addr,
          " (port in use, or the address is not on this host); choose another admin_addr "
          "(DEGRADE_ADMIN_ADDR), or port 0 for a free one"));
    }
    server_.BuildLibraryStatics();
    thread_ = std::thread([this] {
      server_.listen_after_bind();
      listen_returned_.store(true);
    });
    // The socket already listens (connections queue); this waits for the
    // accept loop so that stop() in the destructor reaches it.
    while (!server_.is_running() && !listen_returned_.load()) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (!server_.is_running()) {
      return absl::UnavailableError(
          absl::StrCat("admin endpoint: the server on ", config_.addr, " stopped at start"));
    }
    return absl::OkStatus();
  }

  int port() const noexcept { return port_; }

 private:
  void Configure() {
    server_.set_payload_max_length(config_.max_body_bytes);
    const auto io_ms = std::chrono::milliseconds(absl::ToInt64Milliseconds(config_.io_timeout));
    // Also set as SO_RCVTIMEO/SO_SNDTIMEO on each socket; ConnectionStream
    // does not block in recv/send, so they are only a backstop.
    server_.set_read_timeout(io_ms);
    server_.set_write_timeout(io_ms);
    server_.set_keep_alive_max_count(config_.keep_alive_max_requests);
    server_.set_keep_alive_timeout(
        std::max<time_t>(1, absl::ToInt64Seconds(config_.keep_alive_timeout)));
    server_.set_tcp_nodelay(true);
    // The library's default is SO_REUSEPORT, which lets a second process
    // (another instance of the same service, say) bind the same port and
    // silently receive half the requests, tokens included. SO_REUSEADDR only
    // allows a restart while old connections linger in TIME_WAIT.
    server_.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    // On every response, errors included. The console's CSP lets only its
    // own inline code run and talk only to this origin; there are no CORS
    // headers, so other origins cannot call the API from a browser.
    server_.set_default_headers({
        {"Content-Security-Policy",
         "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
         "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Cache-Control", "no-store"},
        {"Referrer-Policy", "no-referrer"},
    });
    server_.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request&, httplib::Response& res) { return LibraryError(res); }));
    server_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, const std::exception_ptr&) {
          SendError(res, 500, "internal error while handling the request");
        });
    const auto handle = [this](const httplib::Request& req, httplib::Response& res) {
      Handle(req, res);
    };
    // Every path reaches Handle, which answers 404 and 405 itself.
    const std::string any = ".*";
    server_.Get(any, handle);
    server_.Put(any, handle);
    server_.Delete(any, handle);
    server_.Post(any, handle);
    server_.Patch(any, handle);
    server_.Options(any, handle);
    // Bodies the handlers set directly (metrics: switch reasons are free text).
    server_.set_post_routing_handler(
        [](const httplib::Request&, httplib::Response& res) { Scrub(res.body); });
    // Checks on every request before routing and before any body is read;
    // then methods the library has no handler list for (TRACE, CONNECT, ...).
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!Admissible(req, res)) {
        CloseAfterResponse(res);  // a body may still be on the wire
        return httplib::Server::HandlerResponse::Handled;
      }
      static const std::string_view kRouted[] = {"GET",   "HEAD",  "PUT",    "DELETE",
                                                 "POST", "PATCH", "OPTIONS"};
      if (std::find(std::begin(kRouted), std::end(kRouted), req.method) != std::end(kRouted)) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      Handle(req, res);
      return httplib::Server::HandlerResponse::Handled;
    });
  }

  // The checks that come before routing. False: `res` holds the error.
  bool Admissible(const httplib::Request& req, httplib::Response& res) {
    // DNS rebinding: a page on evil.example whose name later resolves to
    // 127.0.0.1 is same-origin with this endpoint in the browser's eyes, but
    // its requests still say "Host: evil.example". Browsers always send Host;
    // clients that send none are not browsers.
    if (req.has_header("Host")) {
      const std::string& host = req.get_header_value("Host");
      if (!HostAllowed(host)) {
        SendError(res, 421,
                  absl::StrCat("Host \"", Clip(host),
                               "\" is not a name of this endpoint (a defence against DNS "
                               "rebinding); accepted: an IP address, localhost",
                               config_.allowed_hosts.empty()
                                   ? std::string(", or a name listed in admin_allowed_hosts "
                                                 "(DEGRADE_ADMIN_ALLOWED_HOSTS)")
                                   : absl::StrCat(", ", absl::StrJoin(config_.allowed_hosts, ", ")),
                               ", with or without a port"));
        return false;
      }
    }
    // Compressed request bodies could inflate far beyond max_body_bytes
    // inside cpp-httplib before any check sees them.
    if (req.has_header("Content-Encoding") &&
        !absl::EqualsIgnoreCase(ToAbsl(req.get_header_value("Content-Encoding")), "identity")) {
      SendError(res, 415,
                absl::StrCat("Content-Encoding \"", Clip(req.get_header_value("Content-Encoding")),
                             "\" is not accepted; send the body uncompressed"));
      return false;
    }
    if (req.has_header("Content-Length")) {
      uint64_t length = 0;
      if (!absl::SimpleAtoi(ToAbsl(req.get_header_value("Content-Length")), &length) ||
          length > config_.max_body_bytes) {
        SendError(res, 413, absl::StrCat("request body is larger than ", config_.max_body_bytes,
                                         " bytes; accepted: one switch value (a small JSON "
                                         "document)"));
        return false;
      }
    }
    // Cross-site writes: a browser sends Origin with every cross-origin
    // request and with same-origin writes; the console's own requests carry
    // this endpoint's origin. Non-browser clients send no Origin.
    if (!IsRead(req) && req.has_header("Origin")) {
      const std::string& origin = req.get_header_value("Origin");
      const size_t scheme_end = origin.find("://");
      const std::string authority =
          scheme_end == std::string::npos ? std::string() : origin.substr(scheme_end + 3);
      if (authority.empty() ||
          !absl::EqualsIgnoreCase(ToAbsl(authority), ToAbsl(req.get_header_value("Host")))) {
        SendError(res, 403, absl::StrCat("cross-origin ", Clip(req.method), " refused: Origin \"",
                                         Clip(origin),
                                         "\" is not this endpoint; accepted: writes from the "
                                         "console served by this endpoint, or from a client that "
                                         "sends no Origin header (curl, degradectl)"));
        return false;
      }
    }
    // A body is only ever a JSON document. Checked before the library reads
    // (and, for forms, parses) it; this also refuses what a cross-site page
    // can send without a preflight (forms, text/plain).
    const bool has_body = req.has_header("Transfer-Encoding") ||
                          (req.has_header("Content-Length") &&
                           req.get_header_value("Content-Length") != "0");
    if (has_body && !JsonBody(req, res)) return false;
    return true;
  }

  // `host` is a Host header: an IP literal ("127.0.0.1", "[::1]"),
  // localhost, or an allowed name, each with an optional ":PORT".
  bool HostAllowed(std::string_view host) const {
    if (!host.empty() && host.front() == '[') {
      const size_t close = host.find(']');
      if (close == std::string_view::npos) return false;
      const std::string literal(host.substr(1, close - 1));
      const std::string_view rest = host.substr(close + 1);
      in6_addr v6{};
      return ::inet_pton(AF_INET6, literal.c_str(), &v6) == 1 &&
             (rest.empty() || (rest.front() == ':' && IsPort(rest.substr(1))));
    }
    const size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) {
      if (!IsPort(host.substr(colon + 1))) return false;
      host = host.substr(0, colon);
    }
    if (host.empty()) return false;
    const std::string name(host);
    in_addr v4{};
    if (::inet_pton(AF_INET, name.c_str(), &v4) == 1) return true;
    if (absl::EqualsIgnoreCase(ToAbsl(host), "localhost")) return true;
    return std::any_of(config_.allowed_hosts.begin(), config_.allowed_hosts.end(),
                       [&](const std::string& h) { return absl::EqualsIgnoreCase(h, ToAbsl(host)); });
  }

  static bool IsPort(std::string_view s) {
    return !s.empty() && s.size() <= 5 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  }

  // Writes carry JSON: anything else (a form, text/plain: what a cross-site
  // page can send without a preflight) gets 415.
  bool JsonBody(const httplib::Request& req, httplib::Response& res) {
    const std::string& type = req.get_header_value("Content-Type");
    const absl::string_view media =
        absl::StripAsciiWhitespace(absl::string_view(type).substr(0, type.find(';')));
    if (absl::EqualsIgnoreCase(media, "application/json")) return true;
    SendError(res, 415,
              absl::StrCat("Content-Type \"", Clip(type),
                           "\" is not accepted for a write; accepted: application/json "
                           "(curl: -H 'Content-Type: application/json')"));
    return false;
  }

  // Errors the library produces before a handler runs.
  httplib::Server::HandlerResponse LibraryError(httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours
    CloseAfterResponse(res);
    if (limit_status != 0) res.status = limit_status;  // the input was cut at a limit
    switch (res.status) {
      case 431:
        SendError(res, 431,
                  absl::StrCat("request header section is too large; accepted: at most ",
                               kMaxHeaderLines, " header lines of at most ", kMaxHeaderLine,
                               " bytes each, ", config_.max_header_bytes, " bytes in all"));
        break;
      case 413:
        SendError(res, 413,
                  absl::StrCat("request body is larger than ", config_.max_body_bytes,
                               " bytes; accepted: one switch value (a small JSON document)"));
        break;
      case 414:
        SendError(res, 414, "request line is too long; accepted: at most 8192 bytes");
        break;
      case 400:
        SendError(res, 400, "malformed HTTP request (request line, headers or body)");
        break;
      default:
        SendError(res, res.status, "request failed");
        break;
    }
    return httplib::Server::HandlerResponse::Handled;
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    // cpp-httplib reads a body only for POST, PUT, PATCH and DELETE. A body
    // sent with any other method stays in the stream and would be read as
    // the next request on this connection (found by fuzz/admin_request_fuzz:
    // a GET with a body made the client's next PUT a 400, and a body that
    // is itself a request would run): answer this request, then close.
    if (!MethodBodyIsRead(req.method) &&
        (req.has_header("Transfer-Encoding") ||
         (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0"))) {
      CloseAfterResponse(res);
    }
    const std::string& path = req.path;
    if (path == "/") {
      if (!IsRead(req)) return MethodNotAllowed(req, res, "GET, HEAD");
      res.status = 200;
      res.set_content(std::string(kConsoleHtml), "text/html; charset=utf-8");
      return;
    }
    if (path == "/healthz") {
      if (!IsRead(req)) return MethodNotAllowed(req, res, "GET, HEAD");
      return SendJson(res, 200, {{"status", "ok"}});
    }
    if (path == "/metrics") {
      if (!IsRead(req)) return MethodNotAllowed(req, res, "GET, HEAD");
      res.status = 200;
      res.set_content(PrometheusText(registry_), std::string(kPrometheusContentType));
      return;
    }
    if (path == kSwitchesPath) {
      if (!IsRead(req)) return MethodNotAllowed(req, res, "GET, HEAD");
      return SendJson(res, 200, ListingJson(registry_));
    }
    if (absl::StartsWith(path, absl::StrCat(ToAbsl(kSwitchesPath), "/"))) {
      const std::string name = path.substr(kSwitchesPath.size() + 1);
      if (!name.empty() && name.find('/') == std::string::npos) {
        if (IsRead(req)) return GetSwitch(name, res);
        if (req.method == "PUT") return PutSwitch(name, req, res);
        if (req.method == "DELETE") return DeleteSwitch(name, req, res);
        return MethodNotAllowed(req, res, "GET, HEAD, PUT, DELETE");
      }
    }
    SendError(res, 404,
              absl::StrCat("no route for ", Clip(path), "; routes: GET /degrade/v1/switches, "
                           "GET|PUT|DELETE /degrade/v1/switches/{name}, GET /metrics, "
                           "GET /healthz, GET /"));
  }

  void MethodNotAllowed(const httplib::Request& req, httplib::Response& res,
                        std::string_view allow) {
    SendError(res, 405, absl::StrCat("method ", Clip(req.method), " is not allowed on ",
                                     Clip(req.path), "; allowed: ", ToAbsl(allow)));
    res.set_header("Allow", std::string(allow));
  }

  void GetSwitch(const std::string& name, httplib::Response& res) {
    absl::StatusOr<SwitchInfo> info = registry_.Get(name);
    if (!info.ok()) return SendError(res, 404, info.status());
    SendJson(res, 200, SwitchInfoJson(*info));
  }

  // The log sink, with the token (if a client put it in a path, an actor or
  // a body) replaced.
  void Audit(LogLevel level, std::string line) {
    Scrub(line);
    registry_.Log(level, line);
  }

  // True when the request carries the configured token; otherwise answers
  // 403 (no token configured) or 401. Never logs or echoes the token.
  bool Authorized(const httplib::Request& req, httplib::Response& res) {
    std::string_view problem;
    int status = 401;
    if (config_.token.empty()) {
      status = 403;
      problem = "writes are disabled: no admin token is configured; set DEGRADE_ADMIN_TOKEN "
                "(Options::admin_token) for this process to enable PUT and DELETE";
    } else if (!req.has_header("Authorization")) {
      problem = "missing Authorization header; send Authorization: Bearer <DEGRADE_ADMIN_TOKEN>";
    } else {
      const std::string& header = req.get_header_value("Authorization");
      constexpr std::string_view kScheme = "bearer ";
      if (header.size() < kScheme.size() ||
          !absl::EqualsIgnoreCase(ToAbsl(std::string_view(header).substr(0, kScheme.size())),
                                  ToAbsl(kScheme))) {
        problem = "Authorization is not a bearer token; send Authorization: Bearer "
                  "<DEGRADE_ADMIN_TOKEN>";
      } else {
        const absl::string_view presented =
            absl::StripAsciiWhitespace(absl::string_view(header).substr(kScheme.size()));
        if (ConstantTimeEquals(std::string_view(presented.data(), presented.size()),
                               config_.token)) {
          return true;
        }
        problem = "wrong token; use the DEGRADE_ADMIN_TOKEN of the process you are talking to";
      }
    }
    Audit(LogLevel::kWarning,
          absl::StrCat("admin: ", req.method, " ", Clip(req.path), " from ", req.remote_addr,
                       " refused (", status, "): ", ToAbsl(problem)));
    SendError(res, status, problem);
    if (status == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"degrade\"");
    return false;
  }

  void PutSwitch(const std::string& name, const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    if (registry_.Find(name) == nullptr) return NotDefined(name, res);
    std::vector<std::string> warnings;
    absl::StatusOr<SwitchValue> value = ParseSwitchValue(
        req.body, "admin PUT", SwitchPath(name), registry_.clock().Now(), &warnings);
    if (!value.ok()) return SendError(res, 400, value.status());
    if (value->actor.empty()) {
      const std::string& header = req.get_header_value("X-Degrade-Actor");
      value->actor = header.empty() ? "admin" : header;
    }
    const std::string summary = SwitchValueToJson(*value);
    const std::string actor = value->actor;
    if (absl::Status s = registry_.SetOverride(name, *std::move(value)); !s.ok()) {
      return SendError(res, s.code() == absl::StatusCode::kNotFound ? 404 : 400, s);
    }
    for (const std::string& w : warnings) Audit(LogLevel::kWarning, w);
    Audit(LogLevel::kInfo, absl::StrCat("admin: ", Clip(actor), " from ", req.remote_addr,
                                        " set ", name, " to ", Clip(summary)));
    absl::StatusOr<SwitchInfo> info = registry_.Get(name);
    if (!info.ok()) return NotDefined(name, res);
    nlohmann::json body = SwitchInfoJson(*info);
    if (!warnings.empty()) body["warnings"] = warnings;
    SendJson(res, 200, body);
  }

  void DeleteSwitch(const std::string& name, const httplib::Request& req,
                    httplib::Response& res) {
    if (!Authorized(req, res)) return;
    if (absl::Status s = registry_.ClearOverride(name); !s.ok()) {
      return SendError(res, s.code() == absl::StatusCode::kNotFound ? 404 : 400, s);
    }
    const std::string& actor = req.get_header_value("X-Degrade-Actor");
    Audit(LogLevel::kInfo, absl::StrCat("admin: ", Clip(actor.empty() ? "admin" : actor), " from ",
                                        req.remote_addr, " cleared the override of ", name));
    absl::StatusOr<SwitchInfo> info = registry_.Get(name);
    if (!info.ok()) return NotDefined(name, res);
    SendJson(res, 200, SwitchInfoJson(*info));
  }

  void NotDefined(const std::string& name, httplib::Response& res) {
    SendError(res, 404, absl::StrCat("switch \"", Clip(name),
                                     "\" is not defined in this process; GET "
                                     "/degrade/v1/switches lists the ones that are"));
  }

  Registry& registry_;
  const AdminConfig config_;
  const SslCtxPtr tls_;  // null: plain HTTP
  BoundedServer server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  int port_ = 0;
};

// ------------------------------------------------------------------ AdminServer

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(Registry& registry,
                                                                AdminConfig config) {
  if (absl::Status s = ValidateAdminConfig(config); !s.ok()) return s;
  const AdminAddress addr = *ParseAdminAddress(config.addr);
  SslCtxPtr tls;
  if (!config.tls_cert_file.empty()) {
    absl::StatusOr<SslCtxPtr> loaded = LoadTls(config);
    if (!loaded.ok()) return loaded.status();
    tls = *std::move(loaded);
  }
  auto impl = std::make_unique<Impl>(registry, std::move(config), std::move(tls));
  if (absl::Status s = impl->Start(addr); !s.ok()) return s;
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminServer::~AdminServer() = default;
int AdminServer::port() const noexcept { return impl_->port(); }

}  // namespace degrade::internal
