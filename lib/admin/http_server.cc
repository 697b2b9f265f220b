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

}  // namespace

BoundedServer::BoundedServer(const AdminConfig& config, SSL_CTX* tls)
    : config_(config),
      tls_(tls),
      refused_response_(RawErrorResponse(
          503,
          "too many connections to the admin endpoint: every worker is busy and the line of "
          "waiting connections is full; retry in a second",
          "Retry-After: 1\r\n")) {
  new_task_queue = [this] {
    auto* pool = new WorkerPool(config_.threads, config_.max_queued_connections);
    pool_.store(pool);
    return pool;
  };
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
  accept_thread_ = std::this_thread::get_id();
  return listen_after_bind();
}

void BoundedServer::Shutdown() {
  stopping_.store(true);
  stop();
}

bool BoundedServer::process_and_close_socket(socket_t sock) {
  if (std::this_thread::get_id() == accept_thread_) {  // beyond the pool's line
    Refuse(sock);
    return false;
  }
  bool ret = false;
  bool linger = false;
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
      bool closed = false;
      // A connection is waiting with no worker free: answer this request
      // with "Connection: close" and make way.
      const bool last = left == 1 || starved();
      ret = process_request(stream, last, closed, nullptr);
      linger = stream.close_lingering();
      if (!ret || closed || last || stream.must_close()) break;
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
  return ret;
}

// On the accept thread: written once, without waiting (over TLS there is no
// handshake to answer in, so the connection is only closed).
void BoundedServer::Refuse(socket_t sock) const {
  if (tls_ == nullptr) {
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
