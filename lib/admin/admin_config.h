// The admin endpoint's settings and their validation (DESIGN section 7).
// Runtime builds an AdminConfig from Options and validates it before it
// starts anything; AdminServer::Start validates again. Not installed.
#ifndef DEGRADE_LIB_ADMIN_ADMIN_CONFIG_H_
#define DEGRADE_LIB_ADMIN_ADMIN_CONFIG_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace degrade::internal {

struct AdminConfig {
  // "127.0.0.1:PORT", "[::1]:PORT", "localhost:PORT" (= 127.0.0.1), or any
  // other IP literal when allow_non_loopback. PORT 0 picks a free port.
  std::string addr;
  // Bearer token for PUT and DELETE. Empty: writes get 403. Surrounding
  // whitespace (a newline from `$(cat file)` or a heredoc) is not part of
  // it: AdminServer::Start trims it. Otherwise at least kMinAdminTokenBytes
  // bytes after trimming, or ValidateAdminConfig refuses it.
  std::string token;
  bool allow_non_loopback = false;
  // TLS: a PEM certificate chain and its PEM private key; both or neither.
  // Empty: plain HTTP. TLS 1.2 or later.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Host names (besides IP literals and localhost) that requests may carry
  // in their Host header, compared without the port and case-insensitively.
  std::vector<std::string> allowed_hosts;

  // Workers; reserved_threads of them (at most threads - 1) serve only
  // requests whose head carries the token, so that no crowd of other
  // requests can keep an operator's write waiting.
  size_t threads = 8;
  size_t reserved_threads = 2;
  // Requests with a complete head waiting for a worker, per lane (with the
  // token, without); beyond that, 503.
  size_t max_queued_connections = 32;
  // Plain-HTTP connections waiting for a complete head (HeadGate: they hold
  // a descriptor, no worker), in all and from one peer address. When full,
  // a new connection evicts the oldest that has not just made an
  // authenticated request.
  size_t max_pending_connections = 512;
  size_t max_pending_per_peer = 256;
  // A request head must be complete within head_timeout of its first byte,
  // however it is dribbled.
  absl::Duration head_timeout = absl::Seconds(3);
  absl::Duration io_timeout = absl::Seconds(5);
  absl::Duration request_deadline = absl::Seconds(10);
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  size_t keep_alive_max_requests = 100;
  size_t max_body_bytes = size_t{64} << 10;
  // The request's header lines together (not the request line).
  size_t max_header_bytes = size_t{16} << 10;

  // GET /degrade/v1/fleet (the console's fleet panel): the fleet view as
  // JSON (etcd/registration_view.h CompareFleet), or an error to answer
  // with 502. Set by the runtime when an etcd source is configured; empty:
  // the route answers 404 ("no etcd configured"). Called on a worker
  // thread; it bounds its own time (the etcd client timeout).
  std::function<absl::StatusOr<std::string>()> fleet;
};

// The shortest admin token accepted: 16 bytes (`openssl rand -hex 16` gives
// 32). A shorter one is guessable, and a token that short also occurs by
// chance in the text the endpoint serves.
inline constexpr size_t kMinAdminTokenBytes = 16;

// `token` without surrounding ASCII whitespace: the token AdminServer uses.
std::string_view TrimmedAdminToken(std::string_view token);

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
// loopback unless allow_non_loopback; the token (trimmed) is empty or at
// least kMinAdminTokenBytes long; limits are positive; TLS files come in
// pairs; allowed_hosts are host names. InvalidArgument naming the setting
// and value (never the token). Start also loads the TLS files.
absl::Status ValidateAdminConfig(const AdminConfig& config);

// Text from a request or a setting, cut to 120 bytes for an error message
// ("..." marks the cut; the JSON writer makes it valid UTF-8).
std::string ClipForMessage(std::string_view s);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_ADMIN_CONFIG_H_
