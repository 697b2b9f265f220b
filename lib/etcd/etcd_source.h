// The remote layer's etcd source (DESIGN section 6). Not installed.
//
// Layout under PREFIX (normalised to end with exactly one "/"):
//   PREFIX + "switches/" + NAME   the value a snapshot holds for switch NAME
//   PREFIX + "groups/" + GROUP    the value for group GROUP
//   PREFIX + "all"                the value for every switch
// Each value is snapshot JSON ("off", {"state": "on", "allow": 0.25}, ...;
// degrade/snapshot.h), checked by ParseSwitchValue.
//
// One background thread:
//   1. ranges the prefix (in pages, at one revision: EtcdClient::RangePrefix)
//      and publishes the whole remote layer at once (one ApplySnapshot);
//   2. watches the prefix from the range's revision + 1. Each revision a
//      watch response holds (one, or a catch-up's many; a transaction's
//      several keys are one) is applied in turn as one partial update of
//      the layer (ApplyLayerDelta) naming only the keys it changed: the
//      cost of a change does not grow with the number of keys under the
//      prefix;
//   3. when the watch breaks (member down, etcd restarted, connection lost),
//      watches again from the last revision seen + 1, on the next member
//      first, so no update is lost and none is applied twice; when etcd says
//      that revision was compacted, goes back to 1;
//   4. when the watch cannot progress -- a catch-up message larger than
//      max_watch_message_bytes (several large values written while the
//      source was away), or stuck_after watches in a row ending before
//      delivering anything from the same revision -- goes back to 1 too:
//      the paged range reads the current state whatever its size, and the
//      watch starts after it. One log line says so.
// Failed attempts wait BackoffDelay-style: backoff_initial doubled per
// consecutive failure up to backoff_max, jittered +-20%. A watch that made
// progress and then broke is retried at once.
//
// Liveness: the watch checks its member every liveness_interval (see
// EtcdClient::WatchOptions), so a member that stops answering (SIGSTOP, a
// hung host, lost quorum) ends the watch within liveness_interval + the
// client timeout (about 5 s with the defaults) and the next member is
// watched. The source is healthy only while the watch has shown progress
// (an event, a progress notification, or a passed liveness check) since
// the last failure.
//
// Bad values: a key whose value is not valid snapshot JSON, or whose name is
// not a valid switch or group name, is rejected alone: its entry keeps its
// last good value (or stays absent), the key and the reason are logged
// (kError, once per distinct reason) and kept in the source's health until
// the key is fixed or deleted; other keys keep working. Keys under the
// prefix outside the layout are ignored with one warning each.
//
// Fail static: losing etcd changes nothing. When the first range at start
// fails and cache_file is set, the cache is applied (source "cache <path>").
// The cache is written off the watch thread, at most once per
// cache_interval, with the remote layer as it is then (so a burst of
// changes costs one write, not one per change), and once more when the
// source stops if a write is pending.
//
// Logging: each distinct connection problem is logged once (kError) until
// the source recovers, then the recovery once (kInfo) -- not a line per
// retry.
//
// Reporting: health as "etcd" (target: the endpoints and prefix; healthy as
// above and while no key is bad; last_error: the connection problem or the
// bad keys; consecutive_failures: failed attempts in a row; applied: updates
// of the layer). The cache's health as "cache".
//
// Thread safety: constructed and destroyed by one thread (the runtime's);
// stats() from any thread; all other work happens on the source's threads.
#ifndef DEGRADE_LIB_ETCD_SOURCE_H_
#define DEGRADE_LIB_ETCD_SOURCE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "etcd/etcd_client.h"
#include "sources/lkg_cache.h"

namespace degrade::internal {

// "/degrade/shop", "/degrade/shop/" and "/degrade/shop//" -> "/degrade/shop/".
// A prefix of only slashes becomes "/".
std::string NormalizeEtcdPrefix(std::string_view prefix);

class EtcdSource {
 public:
  struct Config {
    EtcdClient::Config client;  // endpoints, auth, TLS, timeouts
    std::string prefix;         // normalised by the constructor
    std::string cache_file;     // last-known-good cache; empty: none
    absl::Duration backoff_initial = absl::Milliseconds(100);
    absl::Duration backoff_max = absl::Seconds(5);
    // How often the watched member is checked (WatchOptions). Default: 3 s.
    absl::Duration liveness_interval = absl::Seconds(3);
    // Shortest time between two writes of the cache. Default: 1 s.
    absl::Duration cache_interval = absl::Seconds(1);
    // Watches in a row that end with nothing delivered, from the same
    // revision, before the prefix is read again. Default: 3.
    int stuck_after = 3;
    // After the first successful range, add the client URLs the members
    // advertise to the endpoints (EtcdClient::DiscoverMembers). Off only
    // where the advertised URLs must not be used (a test behind a proxy).
    bool discover_members = true;
  };

  // What the source has done, for tests and benchmarks.
  struct Stats {
    uint64_t full_reads = 0;     // ranges of the whole prefix
    uint64_t range_pages = 0;    // requests those took
    uint64_t full_applies = 0;   // whole-layer ApplySnapshot calls
    uint64_t delta_applies = 0;  // ApplyLayerDelta calls (one per revision that changed the layer)
    uint64_t events = 0;         // watch events applied
    uint64_t cache_writes = 0;   // cache files written
    uint64_t stuck_recoveries = 0;  // re-reads because the watch could not progress
  };

  // InvalidArgument naming the option and value: what EtcdClient::Validate
  // rejects, an empty prefix, non-positive backoffs or backoff_max below
  // backoff_initial, a negative liveness_interval or cache_interval (zero:
  // no liveness checks; write the cache at every change), stuck_after < 1.
  static absl::Status Validate(const Config& config);

  // Ranges the prefix once before returning (trying each endpoint once), so
  // the remote layer is in place when Runtime::Start returns; when that
  // fails, applies the cache (if any). Then starts the threads. `config`
  // must pass Validate.
  EtcdSource(Registry& registry, Config config);
  // Interrupts the watch, writes a pending cache update and joins the
  // threads.
  ~EtcdSource();

  EtcdSource(const EtcdSource&) = delete;
  EtcdSource& operator=(const EtcdSource&) = delete;

  Stats stats() const;

 private:
  enum class Kind { kSwitch, kGroup, kAll, kOutside };
  struct Entry {
    Kind kind = Kind::kOutside;
    std::string name;  // switch or group name
    int64_t mod_revision = 0;
    std::optional<SwitchValue> good;  // the last good value
    std::string error;                // why the current value is rejected
  };

  // Ranges and publishes the whole layer. False on failure (health updated).
  bool Sync();
  // Runs one watch until it ends. Sets need_sync_ on compaction.
  absl::Status WatchOnce();
  bool OnMessage(EtcdWatchMessage&& message);
  // Updates `entries` for a put (value) or delete (nullopt) of `key`.
  // Returns false when the key is outside the layout.
  bool Update(std::map<std::string, Entry>& entries, const std::string& key,
              const std::optional<std::string>& value, int64_t mod_revision);
  // Applies the keys of one revision that changed what the layer holds
  // (`before`: each key's good value before the revision) as one
  // ApplyLayerDelta. False (and need_sync_) if the registry refused it.
  bool ApplyRevision(const std::map<std::string, std::optional<SwitchValue>>& before,
                     int64_t revision);
  // Publishes `entries` as the whole remote layer; commits them as
  // entries_ on success.
  bool PublishAll(std::map<std::string, Entry> entries, std::string_view why);
  // Logs bad keys newly bad or fixed, and reports health.
  void ReportHealth();
  // The watch made progress: clears the connection problem.
  void Progress();
  void Failed(const absl::Status& status);
  absl::Duration NextBackoff();
  void MarkCacheDirty();
  void Loop();
  void CacheLoop();

  Registry& registry_;
  const Config config_;
  const std::string prefix_;
  const std::string range_end_;
  const std::string source_;  // "etcd <prefix>"
  EtcdClient client_;

  // Only the constructor (before the threads start) and the watch thread
  // touch these.
  std::map<std::string, Entry> entries_;  // by full key
  std::map<std::string, std::string> bad_;  // key -> why its value is rejected
  int64_t revision_ = 0;                  // every change up to here is applied
  bool need_sync_ = true;
  bool discovered_ = false;
  // The current watch delivered something or passed a liveness check
  // (set by the checker thread too).
  std::atomic<bool> progressed_{false};
  int64_t stuck_revision_ = -1;  // revision_ when the unproductive watches began
  int stuck_count_ = 0;
  std::set<std::string> warned_outside_;
  std::map<std::string, std::string> logged_bad_;  // key -> reason logged
  std::mt19937_64 rng_;

  // Health: the watch thread and the liveness checker report it.
  mutable std::mutex health_mu_;
  std::string connection_error_;  // guarded by health_mu_; current, empty when fine
  std::string logged_problem_;    // guarded by health_mu_; the problem logged
  int64_t failures_ = 0;          // guarded by health_mu_; failed attempts in a row
  SourceHealth health_;           // guarded by health_mu_
  std::string bad_text_;          // guarded by health_mu_

  mutable std::mutex stats_mu_;
  Stats stats_;  // guarded by stats_mu_

  LkgCacheKeeper cache_;  // the cache thread's, after the constructor
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;        // guarded by mu_
  bool cache_dirty_ = false;  // guarded by mu_
  std::thread thread_;
  std::thread cache_thread_;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ETCD_SOURCE_H_
