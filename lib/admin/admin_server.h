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
// Files (lib/admin/meson.build): admin_config (settings), http_server (the
// bounded server: worker_pool, connection_stream, framing, raw_response,
// tls), auth
// (token, Host, Origin), routes (the API), console_html.h, metrics.
//
// Thread safety: Start and the destructor from one thread; port() from any.
#ifndef DEGRADE_LIB_ADMIN_SERVER_H_
#define DEGRADE_LIB_ADMIN_SERVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "admin/admin_config.h"  // AdminConfig, ValidateAdminConfig
#include "admin/auth.h"          // ConstantTimeEquals
#include "degrade/registry.h"

namespace degrade::internal {

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
