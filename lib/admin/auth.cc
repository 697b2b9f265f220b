// Token, Host and Origin checks of the admin endpoint (auth.h).
#include "admin/auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

bool IsPort(std::string_view s) {
  return !s.empty() && s.size() <= 5 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

struct HostPort {
  std::string_view host;
  int port = 0;
};

// Splits "host", "host:port", "[v6]" or "[v6]:port" (an Origin's authority
// or a Host header); a missing port is `default_port`. Nothing else is
// accepted: no user info, path, query or empty host.
std::optional<HostPort> SplitHostPort(std::string_view authority, int default_port) {
  if (authority.find_first_of("/?#@") != std::string_view::npos) return std::nullopt;
  HostPort out{authority, default_port};
  size_t host_end = authority.size();
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host_end = close + 1;
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host_end = colon;
  }
  out.host = authority.substr(0, host_end);
  const std::string_view rest = authority.substr(host_end);
  if (!rest.empty()) {
    if (rest.front() != ':' || !IsPort(rest.substr(1)) ||
        !absl::SimpleAtoi(ToAbsl(rest.substr(1)), &out.port) || out.port > 65535) {
      return std::nullopt;
    }
  }
  if (out.host.empty()) return std::nullopt;
  return out;
}

}  // namespace

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

AuthVerdict CheckBearer(const std::string* authorization, std::string_view token) {
  if (token.empty()) {
    return {403,
            "writes are disabled: no admin token is configured; set DEGRADE_ADMIN_TOKEN "
            "(Options::admin_token) for this process to enable PUT and DELETE"};
  }
  if (authorization == nullptr) {
    return {401, "missing Authorization header; send Authorization: Bearer <DEGRADE_ADMIN_TOKEN>"};
  }
  const std::string_view header = *authorization;
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(ToAbsl(header.substr(0, kScheme.size())), ToAbsl(kScheme))) {
    return {401,
            "Authorization is not a bearer token; send Authorization: Bearer "
            "<DEGRADE_ADMIN_TOKEN>"};
  }
  const absl::string_view presented =
      absl::StripAsciiWhitespace(ToAbsl(header.substr(kScheme.size())));
  if (ConstantTimeEquals(std::string_view(presented.data(), presented.size()), token)) return {};
  return {401, "wrong token; use the DEGRADE_ADMIN_TOKEN of the process you are talking to"};
}

bool HostAllowed(std::string_view host, const std::vector<std::string>& allowed_hosts) {
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
  return std::any_of(allowed_hosts.begin(), allowed_hosts.end(),
                     [&](const std::string& h) { return absl::EqualsIgnoreCase(h, ToAbsl(host)); });
}

bool OriginMatchesHost(std::string_view origin, std::string_view host, bool tls) {
  const std::string_view scheme = tls ? "https" : "http";
  const int default_port = tls ? 443 : 80;
  const size_t scheme_end = origin.find("://");
  if (scheme_end == std::string_view::npos ||
      !absl::EqualsIgnoreCase(ToAbsl(origin.substr(0, scheme_end)), ToAbsl(scheme))) {
    return false;
  }
  const std::optional<HostPort> from = SplitHostPort(origin.substr(scheme_end + 3), default_port);
  const std::optional<HostPort> to = SplitHostPort(host, default_port);
  return from && to && from->port == to->port &&
         absl::EqualsIgnoreCase(ToAbsl(from->host), ToAbsl(to->host));
}

}  // namespace degrade::internal
