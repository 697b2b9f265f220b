// Parsing and validation of the admin endpoint's settings (admin_config.h).
#include "admin/admin_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

constexpr std::string_view kAcceptedAddr =
    "HOST:PORT with HOST 127.0.0.1 (or another 127.x.y.z), [::1] or localhost, and PORT a "
    "number from 0 to 65535 (0 picks a free port), e.g. 127.0.0.1:9901; another IP literal "
    "(0.0.0.0, [::]) needs admin_allow_non_loopback";

}  // namespace

std::string ClipForMessage(std::string_view s) {
  constexpr size_t kMax = 120;
  return s.size() <= kMax ? std::string(s) : absl::StrCat(ToAbsl(s.substr(0, kMax)), "...");
}

absl::StatusOr<AdminAddress> ParseAdminAddress(std::string_view addr) {
  const auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("admin_addr (DEGRADE_ADMIN_ADDR) \"",
                                                   ClipForMessage(addr), "\" ", ToAbsl(why),
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

std::string_view TrimmedAdminToken(std::string_view token) {
  const absl::string_view t = absl::StripAsciiWhitespace(ToAbsl(token));
  return {t.data(), t.size()};
}

absl::Status ValidateAdminConfig(const AdminConfig& config) {
  absl::StatusOr<AdminAddress> addr = ParseAdminAddress(config.addr);
  if (!addr.ok()) return addr.status();
  // The message gives lengths only: the token is a secret even when it is
  // refused.
  const std::string_view token = TrimmedAdminToken(config.token);
  if (!config.token.empty() && token.size() < kMinAdminTokenBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "admin_token (DEGRADE_ADMIN_TOKEN) is ", token.size(), " bytes long",
        token.size() == config.token.size() ? "" : " without its surrounding whitespace",
        "; accepted: at least ", kMinAdminTokenBytes,
        " bytes (e.g. openssl rand -hex 16), or empty to disable writes"));
  }
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
          "admin_allowed_hosts (DEGRADE_ADMIN_ALLOWED_HOSTS): \"", ClipForMessage(h),
          "\" is not a host name; accepted: names of letters, digits, '.' and '-' without a "
          "port, e.g. svc-1.internal"));
    }
  }
  if (config.threads == 0 || config.keep_alive_max_requests == 0 || config.max_body_bytes == 0 ||
      config.max_header_bytes == 0 || config.max_queued_connections == 0 ||
      config.max_pending_connections == 0 || config.max_pending_per_peer == 0 ||
      config.head_timeout <= absl::ZeroDuration() || config.io_timeout <= absl::ZeroDuration() ||
      config.request_deadline <= absl::ZeroDuration() ||
      config.keep_alive_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "admin endpoint: threads, timeouts and limits must be "
        "positive");
  }
  return absl::OkStatus();
}

}  // namespace degrade::internal
