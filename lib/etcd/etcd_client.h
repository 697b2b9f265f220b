// A small client for etcd v3's JSON gateway (etcd 3.4: POST /v3/kv/range,
// /v3/kv/put, /v3/kv/deleterange, /v3/kv/txn, /v3/kv/compaction, /v3/watch,
// /v3/cluster/member/list, /v3/auth/authenticate), over cpp-httplib. Not
// installed. Used by the etcd source and by degradectl --etcd.
//
// Endpoints. The configured endpoints (http://host:port or https://host:port,
// one per member) are tried in turn, starting from the one that last worked:
// a request that cannot connect, fails in transit, or gets etcd's
// Unavailable or DeadlineExceeded ("no leader", "request timed out") moves
// to the next endpoint at once, until every endpoint has been tried once.
// DiscoverMembers() adds the client URLs that the cluster's members
// advertise, so one reachable endpoint is enough to find the others.
//
// Authentication. With a user, the client gets a token from
// /v3/auth/authenticate before its first request and sends it in the
// Authorization header. When etcd rejects the token (it expired: etcd drops
// an unused simple token after --auth-token-ttl, 5 minutes by default), the
// client authenticates again and retries the request once.
//
// TLS. https endpoints verify the server's certificate against `ca_file`
// (PEM), or the system's store when empty; verification cannot be turned
// off. The host name or IP in the endpoint must match the certificate.
//
// Errors name the endpoint and the operation:
//   "etcd http://127.0.0.1:2379: range /degrade/shop/: cannot connect
//    (connection refused or host unreachable)"
// and, after every endpoint failed, list each one's error. Errors from etcd
// carry etcd's gRPC code as the status code and its message after "etcd: ".
//
// Thread safety: every method may be called from any thread, concurrently;
// each request uses its own connection. Stop() may be called from any
// thread at any time.
#ifndef DEGRADE_LIB_ETCD_CLIENT_H_
#define DEGRADE_LIB_ETCD_CLIENT_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etcd/etcd_watch_parser.h"

namespace httplib {
class Client;
}

namespace degrade::internal {

class EtcdClient {
 public:
  struct Config {
    // http://host:port or https://host:port of each member; at least one.
    std::vector<std::string> endpoints;
    // Authentication: empty user means none. A password without a user is
    // an error.
    std::string user;
    std::string password;
    // https: CA bundle (PEM) to verify members against; empty: the system's.
    std::string ca_file;
    // Connect timeout, and the read timeout of a request other than a watch.
    // Default: 2 s.
    absl::Duration timeout = absl::Seconds(2);
    // A watch stream that delivers nothing for this long is closed (the
    // caller then resumes it). etcd sends progress notifications to idle
    // watches every 10 minutes by default (etcd flag
    // --experimental-watch-progress-notify-interval), so with the defaults
    // an idle watch is re-opened once a minute; it also bounds how long a
    // member that vanished without closing the connection goes unnoticed.
    // Default: 60 s.
    absl::Duration watch_idle_timeout = absl::Seconds(60);
    // Largest response body of a request other than a watch. Default: 64 MiB.
    size_t max_response_bytes = size_t{64} << 20;
    // Largest single watch message. Default: 4 MiB (etcd's default request
    // limit is 1.5 MiB per value).
    size_t max_watch_message_bytes = size_t{4} << 20;
    // Keys per page when RangePrefix reads a prefix. Default: 1,000.
    size_t range_page_keys = 1000;
  };

  // InvalidArgument naming the option and value: no endpoints, an endpoint
  // that is not http(s)://host:port (a path, user info or another scheme),
  // https in a build without OpenSSL, a password without a user, a
  // non-positive timeout or watch_idle_timeout, a zero size limit or page
  // size.
  static absl::Status Validate(const Config& config);

  // `config` must pass Validate.
  explicit EtcdClient(Config config);
  // Stops (see Stop) and waits for nothing: calls in flight on other threads
  // must have returned before the client is destroyed.
  ~EtcdClient();

  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  struct RangeResult {
    int64_t revision = 0;  // the store's revision the result reflects
    std::vector<EtcdKv> kvs;
    bool more = false;  // Range only: etcd has more keys than it returned
    size_t pages = 0;   // requests it took
  };
  // Keys in [key, range_end) (range_end empty: just `key`), in key order,
  // in one request.
  absl::StatusOr<RangeResult> Range(std::string_view key, std::string_view range_end);
  // Every key starting with `prefix` (non-empty), as of one revision, read
  // in pages of at most range_page_keys keys (each page from the key after
  // the last one read, at the first page's revision), so that no reply
  // need hold the whole prefix. A page larger than max_response_bytes is
  // read again with half the keys (a single key larger than that is
  // ResourceExhausted). When etcd compacts that revision between two pages
  // the read starts over (at most twice more; then OutOfRange).
  absl::StatusOr<RangeResult> RangePrefix(std::string_view prefix);

  // Returns the revision of the write.
  absl::StatusOr<int64_t> Put(std::string_view key, std::string_view value);
  // Puts every (key, value) in one transaction (one revision). 1 to
  // kMaxTxnOps pairs (etcd's default --max-txn-ops), else InvalidArgument.
  static constexpr size_t kMaxTxnOps = 128;
  absl::StatusOr<int64_t> PutAll(const std::vector<std::pair<std::string, std::string>>& kvs);

  struct DeleteResult {
    int64_t revision = 0;
    int64_t deleted = 0;  // keys deleted
  };
  absl::StatusOr<DeleteResult> Delete(std::string_view key);
  absl::StatusOr<DeleteResult> DeletePrefix(std::string_view prefix);

  // Puts `value` only if `key`'s mod_revision is `mod_revision` (0: the key
  // does not exist), in one transaction: a read-modify-write that loses no
  // concurrent write. `succeeded` false means the key changed meanwhile;
  // nothing was written.
  struct TxnResult {
    bool succeeded = false;
    int64_t revision = 0;
  };
  absl::StatusOr<TxnResult> PutIfModRevision(std::string_view key, std::string_view value,
                                             int64_t mod_revision);

  // Leases (etcd_lease.cc). A key put with a lease is deleted by etcd when
  // the lease expires: the lease lives `ttl` (whole seconds, at least 1;
  // etcd raises a TTL below its minimum, about 2 s) unless kept alive.
  struct Lease {
    int64_t id = 0;
    int64_t ttl_s = 0;  // as granted
  };
  absl::StatusOr<Lease> LeaseGrant(absl::Duration ttl);
  // Renews the lease once. Returns the TTL etcd restarted it with; NotFound
  // when the lease no longer exists (it expired, or was revoked).
  absl::StatusOr<int64_t> LeaseKeepAliveOnce(int64_t lease_id);
  // Ends the lease at once: etcd deletes its keys. NotFound when it was gone.
  absl::Status LeaseRevoke(int64_t lease_id);
  // Put under `lease_id` (0: none). Returns the revision of the write;
  // NotFound when the lease does not exist.
  absl::StatusOr<int64_t> PutWithLease(std::string_view key, std::string_view value,
                                       int64_t lease_id);
  // Keys in [key, range_end) as of `revision` (0: the current one), in one
  // request. OutOfRange when that revision was compacted.
  absl::StatusOr<RangeResult> RangeAt(std::string_view key, std::string_view range_end,
                                      int64_t revision);

  // Compacts the key-value history up to `revision` (physical: waits until
  // the space is reclaimed). Watches from before it get canceled.
  absl::Status Compact(int64_t revision);

  // The client URLs every member advertises.
  absl::StatusOr<std::vector<std::string>> MemberClientUrls();
  // Adds the members' client URLs that are not configured yet to the
  // endpoints tried (after the configured ones). Returns how many were added.
  absl::StatusOr<size_t> DiscoverMembers();

  struct WatchOptions {
    std::string key;
    std::string range_end;      // empty: just `key`
    // More key ranges watched on the same stream, from the same revision
    // and with the same options (the gateway reads several create requests
    // from one request body). Their messages carry watch_id 1, 2, ... in
    // this order (key/range_end: 0). Events of one revision are delivered
    // in revision order across the watchers while they are caught up; a
    // watcher catching up gets its own batch.
    std::vector<std::pair<std::string, std::string>> more_ranges;
    int64_t start_revision = 0;  // 0: from now
    bool progress_notify = true;
    // Liveness: while the watch is open (from the request on), every
    // liveness_interval the member watched gets a linearizable read of
    // `key` (which needs a live member with a leader). A read that fails or
    // takes longer than `timeout` ends the watch with Unavailable ("did not
    // answer a liveness check"), so a member that stopped (SIGSTOP, a hung
    // host) or lost its quorum is noticed within liveness_interval +
    // timeout, even though the connection stays open. Each successful check
    // calls on_alive, on the checking thread (not the watch's). Zero: no
    // checks.
    absl::Duration liveness_interval = absl::ZeroDuration();
    std::function<void()> on_alive;
  };
  // Opens a watch on the first endpoint that accepts it and streams its
  // messages to `on_message` on this thread until:
  //   - on_message returns false: OK;
  //   - etcd cancels the watch because start_revision was compacted: the
  //     message (canceled, compact_revision set) goes to on_message, then OK;
  //   - etcd cancels it for another reason: not delivered; Unauthenticated
  //     for an auth failure (the token is dropped, so the next call
  //     authenticates again), FailedPrecondition otherwise, with etcd's
  //     reason;
  //   - nothing arrives for watch_idle_timeout: DeadlineExceeded;
  //   - the stream fails or ends: Unavailable, or the parser's error for a
  //     malformed message;
  //   - Stop(): Cancelled.
  // The request asks etcd to end the watch when its member loses the leader
  // (so a member cut off from the cluster does not keep a silent watch).
  absl::Status Watch(const WatchOptions& options,
                     const std::function<bool(EtcdWatchMessage&&)>& on_message);

  // Interrupts every request in flight (including a watch) and makes every
  // later call return Cancelled at once. Permanent. Returns when every
  // request in flight has returned (promptly, except one still connecting,
  // which may take up to `timeout`).
  void Stop();
  bool stopped() const noexcept { return stopped_.load(std::memory_order_acquire); }

  // The endpoint the next request starts from.
  std::string current_endpoint() const;
  std::vector<std::string> endpoints() const;

 private:
  struct Reply {
    int status = 0;
    std::string body;
  };

  absl::StatusOr<RangeResult> RangeOnce(std::string_view key, std::string_view range_end,
                                        int64_t revision, int64_t limit, std::string_view what);
  // One liveness check of `endpoint` (see WatchOptions): OK when the member
  // answered the read (or refused it for a reason that is not a member
  // problem, such as permissions), else why not.
  absl::Status CheckAlive(const std::string& endpoint, const std::string& key);
  // One request to one endpoint: POST `path` with `body`.
  absl::StatusOr<Reply> Post(const std::string& endpoint, const std::string& path,
                             const std::string& body, const std::string& token,
                             std::string_view what);
  // POST with failover and re-authentication; returns etcd's reply body
  // (a 200) and sets *endpoint to the endpoint that gave it.
  absl::StatusOr<std::string> Call(const std::string& path, const std::string& body,
                                   std::string_view what, std::string* endpoint);
  absl::StatusOr<std::string> Token(const std::string& endpoint, bool refresh);
  void DropToken(const std::string& token);
  std::unique_ptr<httplib::Client> MakeClient(const std::string& endpoint,
                                              absl::Duration read_timeout);
  bool Register(httplib::Client* client);
  void Unregister(httplib::Client* client);

  const Config config_;
  std::atomic<bool> stopped_{false};

  mutable std::mutex mu_;
  std::vector<std::string> endpoints_;  // guarded by mu_
  size_t current_ = 0;                  // guarded by mu_
  std::string token_;                   // guarded by mu_
  std::set<httplib::Client*> active_;   // guarded by mu_; requests in flight
  std::condition_variable idle_;        // signalled when active_ shrinks
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ETCD_CLIENT_H_
