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

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

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

// One change that `degradectl watch` reports.
struct WatchEvent {
  // When the change was seen: the arrival of the etcd event, or the poll of
  // the admin listing that first showed it (within one poll interval of it).
  absl::Time time;
  // What changed: "switch" (the usual case), or for etcd keys also "group"
  // (PREFIX/groups/<name>) and "all" (PREFIX/all, name empty).
  std::string scope = "switch";
  std::string name;
  // Before and after. Admin: the effective state {"state", "allow" when not
  // 1, "fault" when set}. etcd: the value stored under the key, as a
  // snapshot holds it. Null: the switch or key did not exist / is gone.
  nlohmann::json old_value;
  nlohmann::json new_value;
  // Admin: the deciding layer before and after, and the layer of the fault
  // (empty when none). etcd: "etcd" for both, and no fault layer.
  std::string old_layer;
  std::string layer;
  std::string fault_layer;
  // Of the deciding entry after the change (admin) or of the new value (etcd).
  std::string actor;
  std::string reason;
  std::string expires_at;  // RFC 3339, empty when none
  // etcd only: the key and the revision of the change; 0 for admin.
  std::string key;
  int64_t revision = 0;
};

// Ends a Watch: Stop() may be called from any thread, any number of times.
// A backend blocked in a request registers a callback that unblocks it.
class WatchStop {
 public:
  void Stop();
  bool stopped() const;
  // Waits up to `timeout` or until stopped. True when stopped.
  bool SleepFor(absl::Duration timeout);
  // `fn` runs once on the thread calling Stop(), or at once when already
  // stopped. RemoveOnStop(id) returns only when `fn` is not running, so `fn`
  // may use objects that live until then.
  uint64_t OnStop(std::function<void()> fn);
  void RemoveOnStop(uint64_t id);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::mutex callbacks_mu_;  // held while callbacks run; taken before mu_
  std::map<uint64_t, std::function<void()>> callbacks_;
  uint64_t next_id_ = 1;
};

// Where a Watch delivers what it sees. Both run on the thread that called
// Watch.
struct WatchSink {
  std::function<void(const WatchEvent&)> on_event;
  // Lost or regained contact, and other things the operator should know
  // while the watch goes on. One line, no trailing newline.
  std::function<void(std::string_view)> on_notice;
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
  // `actor` and `reason` (may be empty) are recorded by the service as who
  // did it and why (its change event, docs/audit.md).
  virtual absl::StatusOr<Reply> Clear(std::string_view name, std::string_view actor,
                                      std::string_view reason) = 0;
  // Sets the admin layer's shed level (docs/shedding.md): `body` is
  // {"level": 1-9, "reason", "actor", "ttl_s"}. The admin endpoint answers
  // {"shed": [...], "switches": [...]}; etcd puts the key PREFIX + "shed"
  // (ttl_s turned into expires_at, checked as instances will read it) and
  // answers the entry written.
  virtual absl::StatusOr<Reply> SetShed(const nlohmann::json& body) = 0;
  // Clears it: DELETE /degrade/v1/shed ({"cleared", "message", "shed"}), or
  // deletes the etcd key (no actor or reason recorded there).
  virtual absl::StatusOr<Reply> ClearShed(std::string_view actor, std::string_view reason) = 0;
  // The admin layer's governor setting (docs/governor.md): PUT
  // /degrade/v1/governor with `body` (GovernorBody) answers {"governor":
  // <status>}; etcd puts the key PREFIX + "governor". ClearGovernor: DELETE
  // ({"cleared", "message", "governor"}), or deletes the key.
  virtual absl::StatusOr<Reply> SetGovernor(const nlohmann::json& body) = 0;
  virtual absl::StatusOr<Reply> ClearGovernor(std::string_view actor, std::string_view reason) = 0;
  // Reports every change through `sink` until `stop` is stopped. Returns an
  // error when the control plane cannot be reached at the start; after that,
  // losing it is a notice and the watch goes on trying. OK once stopped.
  virtual absl::Status Watch(WatchStop& stop, const WatchSink& sink) = 0;
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
  // How often `watch` reads the listing: the admin endpoint has no change
  // stream, so watch compares one listing with the next.
  absl::Duration watch_interval = absl::Milliseconds(250);
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
// accepted forms (with `example`) when `url` is not one of them.
absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url, std::string_view option,
                                     std::string_view example = "http://127.0.0.1:9090");

// etcd (DESIGN section 6): the keys PREFIX/switches/<name> that instances
// running the etcd source watch. List() and Get() show what etcd holds
// (there is no per-instance effective state in etcd): the listing is
//   {"etcd": {"endpoints", "prefix", "revision"}, "note",
//    "switches": [<entry>], "groups": [<entry>], "all": <entry>|null,
//    "errors": ["..."]}
// where an <entry> is {"name", "key", "mod_revision", "value"} plus the
// value's "state", "allow", "fault", "reason", "actor", "expires_at" when
// set, or, for a value instances reject, "value": null, "raw", "error".
// Put() turns ttl_s into an absolute expires_at (RFC 3339 UTC), checks the
// value with the library's parser (nothing is written when an instance
// would reject it) and puts it; Clear() deletes the key (etcd records no
// actor for a delete). Watch() streams etcd's own watch of the prefix.
struct EtcdOptions {
  // http://host:port or https://host:port of each member.
  std::vector<std::string> endpoints;
  // Normalised to end with exactly one "/".
  std::string prefix;
  // etcd authentication; empty user: none.
  std::string user;
  std::string password;
  // https: CA bundle (PEM); empty: the system's.
  std::string ca_file;
  // Connect and read timeout of one request.
  absl::Duration timeout = absl::Seconds(2);
};

// A comma-separated list of etcd members, as etcdctl takes it:
// http://HOST:PORT, https://HOST:PORT or HOST:PORT (meaning http), blanks
// around commas ignored; returned as URLs without a trailing slash.
// InvalidArgument naming `what` ("--etcd", "DEGRADE_ETCD_ENDPOINTS") and the
// member when the list is empty or a member is not of those forms: another
// scheme, no port without a scheme, or a path (members have none).
absl::StatusOr<std::vector<std::string>> ParseEtcdEndpoints(std::string_view list,
                                                            std::string_view what);

// InvalidArgument (a usage error) naming the option: no endpoints, an
// endpoint that is not http(s)://host:port, an empty prefix, a password
// without a user. Connects lazily, on the first request.
absl::StatusOr<std::unique_ptr<Backend>> MakeEtcdBackend(EtcdOptions options);

}  // namespace degrade::ctl

#endif  // DEGRADE_TOOLS_CTL_BACKEND_H_
