// The admin endpoint (DESIGN section 7): an embedded cpp-httplib server over
// one registry. Runtime starts it from Options::admin_addr; tests may start
// it directly with tighter limits. Not installed.
//
// Routes (docs/admin.md has examples and every status code):
//   GET    /degrade/v1/switches         the listing (ListingJson)
//   GET    /degrade/v1/switches/{name}  one switch; 404 if no one knows it
//   PUT    /degrade/v1/switches/{name}  admin-layer setting (a snapshot value,
//                                       ttl_s allowed); needs the token
//   DELETE /degrade/v1/switches/{name}  clears it; needs the token
//   GET    /metrics                     Prometheus text (metrics.h)
//   GET    /healthz                     {"status":"ok"}
//   GET    /                            the incident console (console_html.h)
// HEAD works wherever GET does; other methods on these paths get 405 with an
// Allow header; other paths 404. Every error body is {"error": "..."}.
//
// Bounds (docs/security.md has the threat model and the test of each): a
// fixed pool of worker threads (one per open connection) and a bounded line
// of accepted connections waiting for one; a connection beyond that line is
// answered 503 and closed at once, so a flood costs neither threads nor more
// than threads + max_queued_connections descriptors. Each request must
// arrive whole (request line, headers, body) within request_deadline of its
// first byte, and every single wait for the socket ends after io_timeout, so
// a client that sends slowly, or half a request, or nothing, is
// disconnected. Request line over 8 KiB: 414; a header line over 8 KiB, more
// than max_header_bytes of headers or more than 100 header lines: 431; a body
// over max_body_bytes: 413 (a declared Content-Length is refused before any
// of the body is read); a Content-Encoding (gzip, br: a decompression bomb)
// gets 415. A keep-alive connection makes way when another connection waits
// for a worker: its current request is answered with "Connection: close",
// and an idle one is closed after 200 ms (a new one that has sent nothing,
// after 1 s); otherwise after keep_alive_timeout.
//
// Requests: the Host header must name this endpoint (an IP literal,
// localhost, or one of allowed_hosts; else 421), against DNS rebinding; a
// write (any method but GET and HEAD) that carries an Origin header must come
// from the endpoint's own origin (else 403), against cross-site requests.
//
// Thread safety: Start and the destructor from one thread; port() from any.
#ifndef DEGRADE_LIB_ADMIN_SERVER_H_
#define DEGRADE_LIB_ADMIN_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/registry.h"

namespace degrade::internal {

struct AdminConfig {
  // "127.0.0.1:PORT", "[::1]:PORT", "localhost:PORT" (= 127.0.0.1), or any
  // other IP literal when allow_non_loopback. PORT 0 picks a free port.
  std::string addr;
  // Bearer token for PUT and DELETE. Empty: writes get 403.
  std::string token;
  bool allow_non_loopback = false;
  // TLS: a PEM certificate chain and its PEM private key; both or neither.
  // Empty: plain HTTP. TLS 1.2 or later.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Host names (besides IP literals and localhost) that requests may carry
  // in their Host header, compared without the port and case-insensitively.
  std::vector<std::string> allowed_hosts;

  size_t threads = 8;
  size_t max_queued_connections = 32;
  absl::Duration io_timeout = absl::Seconds(5);
  absl::Duration request_deadline = absl::Seconds(10);
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  size_t keep_alive_max_requests = 100;
  size_t max_body_bytes = size_t{64} << 10;
  // The request's header lines together (not the request line).
  size_t max_header_bytes = size_t{16} << 10;
};

// A parsed admin address.
struct AdminAddress {
  std::string host;  // an IP literal, as given to bind ("127.0.0.1", "::1")
  int port = 0;
  bool loopback = false;
};

// Parses `addr` (AdminConfig::addr). InvalidArgument naming the value and
// what is accepted.
absl::StatusOr<AdminAddress> ParseAdminAddress(std::string_view addr);

// Checks a config without starting anything: the address parses, and is
// loopback unless allow_non_loopback; limits are positive; TLS files come in
// pairs; allowed_hosts are host names. InvalidArgument naming the setting
// and value (never the token). Start also loads the TLS files.
absl::Status ValidateAdminConfig(const AdminConfig& config);

// Compares a presented secret with the expected one in time that never
// depends on their contents or on where they differ: it visits every byte of
// the longer one and folds a length mismatch into the result instead of
// returning early. The time does depend on the two lengths (which can tell a
// prober the token's length, not its bytes). bench/admin_token_benchmark.cc
// measures it.
bool ConstantTimeEquals(std::string_view presented, std::string_view expected) noexcept;

class AdminServer {
 public:
  // Validates, binds and starts serving; the socket is listening when this
  // returns. Errors: InvalidArgument from ValidateAdminConfig, or a TLS file
  // that cannot be loaded (named, with OpenSSL's reason); Unavailable when
  // the address cannot be bound (in use, not local).
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(Registry& registry,
                                                            AdminConfig config);

  // Stops accepting, closes every connection (including ones in the middle
  // of a request) and joins the workers: returns within about 100 ms.
  ~AdminServer();

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // The bound port.
  int port() const noexcept;

  class Impl;

 private:
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_SERVER_H_
