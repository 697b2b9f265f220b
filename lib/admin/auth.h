// Who may talk to the admin endpoint: the bearer token of writes, and the
// Host and Origin checks against DNS rebinding and cross-site requests
// (docs/security.md). Pure functions of a request and the config; the
// routes (routes.h) answer with what they return. Not installed.
#ifndef DEGRADE_LIB_ADMIN_AUTH_H_
#define DEGRADE_LIB_ADMIN_AUTH_H_

#include <string>
#include <string_view>
#include <vector>

namespace degrade::internal {

// Compares a presented secret with the expected one in time that never
// depends on their contents or on where they differ: it visits every byte of
// the longer one and folds a length mismatch into the result instead of
// returning early. The time does depend on the two lengths (which can tell a
// prober the token's length, not its bytes). bench/admin_token_benchmark.cc
// measures it.
bool ConstantTimeEquals(std::string_view presented, std::string_view expected) noexcept;

// The verdict on a write's credentials. status 0: authorized; else 403 (no
// token configured: writes are disabled) or 401, and `problem` says why and
// what to send. `problem` never contains a token.
struct AuthVerdict {
  int status = 0;
  std::string_view problem;
};

// Checks `authorization` (the request's Authorization header; null when it
// has none) against the configured `token`: "Bearer <token>", the scheme
// case-insensitive, the token compared in constant time.
AuthVerdict CheckBearer(const std::string* authorization, std::string_view token);

// True when `host` (a Host header) names this endpoint: an IP literal
// ("127.0.0.1", "[::1]"), localhost, or one of `allowed_hosts` (without the
// port, case-insensitively), each with an optional ":PORT".
bool HostAllowed(std::string_view host, const std::vector<std::string>& allowed_hosts);

// True when a write's Origin header names the endpoint the request was sent
// to: browsers send Origin with cross-origin requests and same-origin
// writes, so any other origin is a cross-site request. An origin is a
// scheme, a host and a port, and all three must match: the scheme is
// "https" when `tls` (the endpoint serves TLS), else "http"; host and port
// are those of `host` (the request's Host header; without a port, the
// scheme's default). The comparison of host names ignores case; ports are
// compared as numbers ("http://h" and "http://h:80" are one origin).
// "null", an origin with a path, user info or any other scheme never
// matches.
bool OriginMatchesHost(std::string_view origin, std::string_view host, bool tls);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_AUTH_H_
