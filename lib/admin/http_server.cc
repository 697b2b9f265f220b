// The bounded HTTP server (http_server.h).
//
// cpp-httplib 0.11.4 bounds each wait for the socket but not a whole
// request, and its stop() waits for idle keep-alive connections. So
// BoundedServer replaces the per-connection loop (the library's
// process_and_close_socket, a virtual meant for this) with one that keeps a
// deadline per request and checks a stop flag every 100 ms, and reads and
// writes through ConnectionStream, which enforces both. Parsing, routing and
// response writing stay the library's (process_request).
#include "admin/http_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <string_view>

#include "admin/connection_stream.h"
#include "admin/raw_response.h"
#include "admin/tls.h"
#include "openssl/err.h"

namespace degrade::internal {
namespace {

// LingeringClose: how long and how much a closing connection reads and
// drops of what its client still sends.
constexpr absl::Duration kLingerTime = absl::Seconds(1);
constexpr size_t kLingerBytes = size_t{64} << 20;

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

// Runs each task at once on the accept thread.
class InlineQueue final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

}  // namespace

BoundedServer::BoundedServer(const AdminConfig& config, SSL_CTX* tls)
    : config_(config),
      tls_(tls),
      refused_response_(RawErrorResponse(
          503,
          "too many connections to the admin endpoint: every worker is busy and the line of "
          "waiting connections is full; retry in a second",
          "Retry-After: 1\r\n")) {
  // The accept loop hands each connection over on its own thread (to the
  // gate, or to a worker's line): nothing there waits.
  new_task_queue = [] { return new InlineQueue; };
}

void BoundedServer::BuildLibraryStatics() {
  static std::once_flag once;
  std::call_once(once, [this] {
    MemoryStream stream("BUILD-STATICS / HTTP/1.1\r\n\r\n");
    bool closed = false;
    (void)process_request(stream, /*close_connection=*/true, closed, nullptr);
  });
}

bool BoundedServer::Listen() {
  pool_ = std::make_unique<WorkerPool>(config_.threads, config_.reserved_threads,
                                       config_.max_queued_connections);
  gate_ = std::make_unique<HeadGate>(
      config_, [this](GateConnection c, bool authenticated) { Dispatch(c, authenticated); });
  const bool ok = listen_after_bind();
  // Workers may still hand connections back to the gate, and the gate may
  // still submit to the pool (which then refuses): the pool stops first
  // (its queued tasks close quickly: stopping_ is set), then the gate.
  pool_->Shutdown();
  gate_.reset();
  return ok;
}

void BoundedServer::Shutdown() {
  stopping_.store(true);
  stop();
}

// On the accept thread.
bool BoundedServer::process_and_close_socket(socket_t sock) {
  // Non-blocking, so neither OpenSSL nor recv/send can block past the
  // deadlines ConnectionStream keeps.
  ::fcntl(sock, F_SETFL, ::fcntl(sock, F_GETFL, 0) | O_NONBLOCK);
  ::fcntl(sock, F_SETFD, FD_CLOEXEC);
  if (stopping_.load()) {
    ::close(sock);
    return false;
  }
  if (tls_ == nullptr) {
    gate_->Adopt(GateConnection{sock});
    return true;
  }
  // The head is encrypted: a worker reads it (and does the handshake).
  if (!pool_->Submit(WorkerPool::Lane::kGeneral, [this, sock] { ServeTls(sock); })) {
    Refuse(sock);
  }
  return true;
}

// On the gate's thread: the head of the connection's next request is in.
void BoundedServer::Dispatch(GateConnection c, bool authenticated) {
  c.trusted = authenticated;
  const auto lane = authenticated ? WorkerPool::Lane::kAuthenticated : WorkerPool::Lane::kGeneral;
  if (stopping_.load() || !pool_->Submit(lane, [this, c] { ServePlain(c); })) Refuse(c.fd);
}

// Serves the request whose head is in (and any pipelined behind it that
// already arrived), then hands the connection back to the gate.
void BoundedServer::ServePlain(GateConnection c) {
  bool linger = false;
  bool keep = false;
  {
    ConnectionStream stream(c.fd, nullptr, config_, stopping_);
    for (;;) {
      stream.BeginRequest();
      bool closed = false;
      ++c.served;
      const bool last = c.served >= config_.keep_alive_max_requests;
      const bool ok = process_request(stream, last, closed, nullptr);
      linger = stream.close_lingering();
      if (!ok || closed || last || stream.must_close() || stopping_.load()) break;
      if (!stream.HasBuffered()) {
        keep = true;
        break;
      }
    }
  }
  if (keep) {
    gate_->Adopt(c);
  } else if (linger) {
    LingeringClose(c.fd);
  } else {
    ::shutdown(c.fd, SHUT_RDWR);
    ::close(c.fd);
  }
}

void BoundedServer::ServeTls(socket_t sock) {
  bool linger = false;
  {
    SslPtr ssl(SSL_new(tls_));
    if (ssl != nullptr && SSL_set_fd(ssl.get(), sock) != 1) ssl.reset();
    ConnectionStream stream(sock, ssl.get(), config_, stopping_);
    const auto starved = [this] { return pool_->Starved(); };
    const bool ready = ssl != nullptr && stream.Handshake();
    for (size_t left = config_.keep_alive_max_requests; ready && left > 0; --left) {
      const bool first = left == config_.keep_alive_max_requests;
      if (!stream.WaitForRequest(first, starved)) break;
      stream.BeginRequest();
      bool closed = false;
      // A connection is waiting with no worker free: answer this request
      // with "Connection: close" and make way.
      const bool last = left == 1 || starved();
      const bool ok = process_request(stream, last, closed, nullptr);
      linger = stream.close_lingering();
      if (!ok || closed || last || stream.must_close()) break;
    }
    if (ssl != nullptr && ready) (void)SSL_shutdown(ssl.get());  // close_notify, no wait
    ERR_clear_error();
  }
  if (linger) {
    LingeringClose(sock);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
}

// Written once, without waiting (over TLS there is no handshake to answer
// in, so the connection is only closed). A plain connection's head is read
// first, so that closing does not reset the connection under the answer.
void BoundedServer::Refuse(socket_t sock) const {
  if (tls_ == nullptr) {
    char drain[4096];
    while (::recv(sock, drain, sizeof drain, MSG_DONTWAIT) > 0) {
    }
    (void)::send(sock, refused_response_.data(), refused_response_.size(),
                 MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
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
void BoundedServer::LingeringClose(socket_t sock) const {
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

}  // namespace degrade::internal
