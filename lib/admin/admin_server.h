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
//   PUT    /degrade/v1/switches         bulk: a whole snapshot becomes the
//                                       admin layer, all or nothing, with an
//                                       optional ttl_s (admin_write.h); needs
//                                       the token
//   POST   /ofrep/v1/evaluate/flags[/{key}], GET /ofrep/v1/configuration
//                                       OpenFeature Remote Evaluation Protocol
//                                       (ofrep.h); errors in OFREP's shape
//   GET    /metrics                     Prometheus text (metrics.h)
//   GET    /healthz                     {"status":"ok"}
//   GET    /                            the incident console (console_html.h)
// HEAD works wherever GET does; other methods on these paths get 405 with an
// Allow header; other paths 404. Every error body is {"error": "..."}.
//
// Bounds (docs/security.md has the threat model and the test of each): a
// plain-HTTP connection waits for each request head without a worker (the
// head gate: at most max_pending_connections, max_pending_per_peer from one
// address; a new one evicts the oldest untrusted one), and a head must be
// complete within head_timeout of its first byte (else 408) or, before its
// first byte, keep_alive_timeout. A complete head goes to a fixed pool of
// workers: reserved_threads of them serve only heads that carry the token;
// each lane has a line of max_queued_connections, beyond which the request
// is answered 503 at once. A TLS connection has one general worker
// throughout. The rest of a request (its body) must arrive within
// request_deadline, and every single wait for the socket ends after
// io_timeout. Request line over 8 KiB: 414; a header line over 8 KiB, more
// than max_header_bytes of headers or more than 100 header lines: 431; a body
// over max_body_bytes: 413 (a declared Content-Length is refused before any
// of the body is read); a Content-Encoding (gzip, br: a decompression bomb)
// gets 415; ambiguous framing (two Content-Lengths, Transfer-Encoding other
// than chunked, obs-fold, ...): 400 and close.
//
// Requests: the Host header must name this endpoint (an IP literal,
// localhost, or one of allowed_hosts; else 421), against DNS rebinding; a
// write (any method but GET and HEAD) that carries an Origin header must come
// from the endpoint's own origin, scheme, host and port (else 403), against
// cross-site requests. Request text in log lines is escaped and refused
// requests are logged once per kind per interval (request_log.h).
//
// Files (lib/admin/meson.build): admin_config (settings), http_server (the
// bounded server: worker_pool, connection_stream, framing, raw_response,
// tls), auth
// (token, Host, Origin), routes (the API), admin_write (write bodies),
// request_log (log lines), console_html.h, metrics.
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
