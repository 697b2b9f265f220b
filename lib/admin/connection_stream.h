// One admin connection's socket stream (plain or TLS), as cpp-httplib's
// parser and response writer see it, and what it learns about the request
// it carries: the per-connection context the server's connection loop
// (http_server.h) decides with. Not installed.
#ifndef DEGRADE_LIB_ADMIN_CONNECTION_STREAM_H_
#define DEGRADE_LIB_ADMIN_CONNECTION_STREAM_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "admin/admin_config.h"
#include "httplib.h"
#include "openssl/ssl.h"

namespace degrade::internal {

// cpp-httplib's own limits (CPPHTTPLIB_REQUEST_URI_MAX_LENGTH,
// CPPHTTPLIB_HEADER_MAX_LENGTH), enforced by the stream before it buffers
// more.
inline constexpr size_t kMaxRequestLine = 8192;
inline constexpr size_t kMaxHeaderLine = 8192;
inline constexpr size_t kMaxHeaderLines = 100;
// How often a wait looks at the server's stop flag.
inline constexpr absl::Duration kStopCheck = absl::Milliseconds(100);

// Every wait ends at the earliest of: io_timeout, the current request's
// deadline, and the server stopping. The stream counts what the parser reads
// of each request and, at the request line, header and body limits, ends
// the input there and answers the request itself (414, 431, 413; whatever
// the library writes after that is dropped), so cpp-httplib never buffers
// more than the limits allow. A head whose framing is ambiguous (framing.h:
// two Content-Lengths, Transfer-Encoding other than chunked, obs-fold, ...)
// is answered 400 the same way, before the parser sees it whole. It reads
// the response head it writes to know whether the response ends the
// connection.
//
// Used by the one worker thread that owns the connection.
class ConnectionStream final : public httplib::Stream {
 public:
  // `ssl` null: plain HTTP. `config` and `stopping` outlive the stream.
  ConnectionStream(int fd, SSL* ssl, const AdminConfig& config,
                   const std::atomic<bool>& stopping);

  // Completes the TLS handshake within request_deadline. False: close.
  bool Handshake();

  // Waits for the first byte of the next request. False: close the
  // connection (peer idle too long, server stopping, or a connection is
  // waiting with no worker free: after 200 ms of idleness between
  // requests, after 1 s on a new connection that has sent nothing yet, e.g.
  // a browser's preconnect).
  bool WaitForRequest(bool first, const std::function<bool()>& starved);

  // Starts the next request: its deadline, counters and outcome.
  void BeginRequest();

  // The outcome of the current request, after cpp-httplib handled it. True
  // when the connection must not carry another request: a read timed out or
  // failed, a limit cut the input (the stream answered), or the response
  // said "Connection: close" (its request may have left a body unread).
  bool must_close() const noexcept { return read_failed_ || answered_ || response_closes_; }

  // True when the response ended the connection on purpose (not a failed
  // read): the client may still be sending, so the socket closes lingering.
  bool close_lingering() const noexcept { return answered_ || response_closes_; }

  // True when bytes of a next request are already buffered (pipelined).
  bool HasBuffered() const { return Buffered(); }

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  bool Buffered() const;
  ssize_t Fill();
  size_t Account(const char* p, size_t n);
  size_t Limit(int status, size_t n);
  size_t Answer(int status, std::string_view message, size_t n);
  void WriteAll(std::string_view bytes);
  void ObserveResponse(const char* p, size_t n);
  bool WaitForSsl(int r, absl::Time deadline) const;
  absl::Time WriteDeadline() const;
  int Poll(short events, absl::Duration timeout) const;
  bool Wait(short events, absl::Time deadline) const;

  const int fd_;
  SSL* const ssl_;  // null: plain HTTP
  const AdminConfig& config_;
  const std::atomic<bool>& stopping_;
  absl::Time read_deadline_ = absl::InfiniteFuture();
  mutable std::optional<absl::Time> write_deadline_;
  // The current request's outcome.
  bool read_failed_ = false;
  bool answered_ = false;         // a limit cut the input; the stream answered
  bool response_closes_ = false;  // the response head says Connection: close
  std::string response_head_;     // while the response head is being written
  bool in_response_head_ = true;
  // The parser's position in the current request.
  bool in_headers_ = true;
  size_t line_bytes_ = 0;    // of the current line, its "\n" included
  size_t lines_ = 0;         // complete lines, the request line included
  size_t header_bytes_ = 0;  // after the request line
  size_t body_bytes_ = 0;
  char prev_ = 0;     // the byte before, across reads
  std::string head_;  // the request head so far, for CheckRequestFraming
  char buf_[4096];
  size_t pos_ = 0;
  size_t end_ = 0;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_CONNECTION_STREAM_H_
