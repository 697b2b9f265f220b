// degradectl's view of a control plane: where switch listings come from and
// where writes go. The commands and the rendering only see this interface, so
// another control plane (etcd: keys PREFIX/switches/<name>, PREFIX/groups/<g>,
// PREFIX/all) is one more implementation, not a rewrite.
//
// Every reply is the listing JSON of degrade/listing.h: List() gives
// {"switches": [...], "sources": [...], "errors": [...]}, Get() one switch
// object. A backend without a server that speaks it (etcd) builds the same
// objects itself.
//
// Errors are absl::Status values whose message is complete and safe to print
// as is: it says what failed, quotes the server's own error, and ends with
// what to do next. It never contains the token.
#ifndef DEGRADE_TOOLS_CTL_BACKEND_H_
#define DEGRADE_TOOLS_CTL_BACKEND_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace degrade::ctl {

// Why the NOLINT: clang-tidy 14's bugprone-exception-escape flags every class
// with an nlohmann::json member (basic_json's members can allocate); Reply's
// special members are the implicit ones.
// NOLINTNEXTLINE(bugprone-exception-escape)
struct Reply {
  // The server's text, unchanged: what --json prints. Empty for a reply
  // without a body (a 204 after DELETE).
  std::string body;
  // `body` parsed; null when the body is empty.
  nlohmann::json json;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Every switch the service knows, with its sources and recent errors.
  virtual absl::StatusOr<Reply> List() = 0;
  // One switch. NotFound (with a hint) when the service does not know it.
  virtual absl::StatusOr<Reply> Get(std::string_view name) = 0;
  // Sets the switch's admin-layer entry to `value`, a switch value of
  // DESIGN section 3 (state, allow, fault, reason, actor, ttl_s), replacing
  // the entry there was. The reply may be the switch after the change, or
  // empty: callers that need the new state Get() it when it is not there.
  virtual absl::StatusOr<Reply> Put(std::string_view name, const nlohmann::json& value) = 0;
  // Removes the switch's admin-layer entry; lower layers decide again.
  // `actor` is recorded by the service as who did it.
  virtual absl::StatusOr<Reply> Clear(std::string_view name, std::string_view actor) = 0;
};

// The admin endpoint of one service (DESIGN section 7).
struct AdminOptions {
  // http://HOST:PORT, https://HOST:PORT, or HOST:PORT (meaning http), with an
  // optional base path for a reverse proxy (http://proxy/svc-a).
  std::string url;
  // Bearer token sent with every request when not empty. Writes need it.
  std::string token;
  // The environment variable the token came from, named in hints.
  std::string token_env = "DEGRADE_ADMIN_TOKEN";
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration read_timeout = absl::Seconds(5);
};

// InvalidArgument (a usage error) when `options.url` is not a URL of the
// forms above; connects lazily, on the first request.
absl::StatusOr<std::unique_ptr<Backend>> MakeAdminBackend(AdminOptions options);

// An http(s) URL split for cpp-httplib: http://HOST:PORT, https://HOST[:PORT]
// or HOST:PORT (meaning http), with an optional path.
struct HttpUrl {
  std::string scheme;     // "http" or "https"
  std::string authority;  // "127.0.0.1:9090", "[::1]:9090", "admin.internal"
  std::string base_path;  // "" or "/svc-a" (no trailing slash); may hold a query
};

// InvalidArgument naming `option` ("--admin", "--probe"), the URL and the
// accepted forms when `url` is not one of them.
absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url, std::string_view option);

}  // namespace degrade::ctl

#endif  // DEGRADE_TOOLS_CTL_BACKEND_H_
