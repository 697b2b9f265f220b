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
//   1. ranges the prefix and publishes the whole remote layer at once (one
//      ApplySnapshot), then writes the last-known-good cache;
//   2. watches the prefix from the range's revision + 1. Each watch message
//      (one etcd revision, or a transaction's several keys) updates the
//      entries it names and publishes the layer again at once;
//   3. when the watch breaks (member down, etcd restarted, connection lost,
//      idle too long), watches again from the last revision seen + 1, on the
//      next member first, so no update is lost and none is applied twice;
//      when etcd says that revision was compacted, goes back to 1.
// Failed attempts wait BackoffDelay-style: backoff_initial doubled per
// consecutive failure up to backoff_max, jittered +-20%. A watch that was
// established and then broke is retried at once.
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
//
// Reporting: health as "etcd" (target: the endpoints; healthy while the
// watch runs and no key is bad; last_error: the connection error or the bad
// keys; consecutive_failures: failed attempts in a row; applied: layers
// published). The cache's health as "cache".
//
// Thread safety: constructed and destroyed by one thread (the runtime's);
// all other work happens on the source's own thread.
#ifndef DEGRADE_LIB_ETCD_SOURCE_H_
#define DEGRADE_LIB_ETCD_SOURCE_H_

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
    // After the first successful range, add the client URLs the members
    // advertise to the endpoints (EtcdClient::DiscoverMembers). Off only
    // where the advertised URLs must not be used (a test behind a proxy).
    bool discover_members = true;
  };

  // InvalidArgument naming the option and value: what EtcdClient::Validate
  // rejects, an empty prefix, non-positive backoffs or backoff_max below
  // backoff_initial.
  static absl::Status Validate(const Config& config);

  // Ranges the prefix once before returning (trying each endpoint once), so
  // the remote layer is in place when Runtime::Start returns; when that
  // fails, applies the cache (if any). Then starts the thread. `config`
  // must pass Validate.
  EtcdSource(Registry& registry, Config config);
  // Interrupts the watch and joins the thread.
  ~EtcdSource();

  EtcdSource(const EtcdSource&) = delete;
  EtcdSource& operator=(const EtcdSource&) = delete;

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
  // Publishes `entries` as the remote layer when it differs from what is
  // published; commits them as entries_ on success.
  bool Publish(std::map<std::string, Entry> entries, std::string_view why);
  void ReportHealth();
  void Failed(const absl::Status& status);
  absl::Duration NextBackoff();
  void Loop();

  Registry& registry_;
  const Config config_;
  const std::string prefix_;
  const std::string range_end_;
  const std::string source_;  // "etcd <prefix>"
  EtcdClient client_;

  // Only the constructor (before the thread starts) and the thread touch
  // these.
  std::map<std::string, Entry> entries_;  // by full key
  std::optional<Snapshot> published_;     // what the layer holds from us
  int64_t revision_ = 0;                  // every change up to here is applied
  bool need_sync_ = true;
  bool watching_ = false;  // a watch is established
  bool discovered_ = false;
  std::set<std::string> warned_outside_;
  std::map<std::string, std::string> logged_bad_;  // key -> reason logged
  std::string connection_error_;                   // current, empty when fine
  SourceHealth health_;
  LkgCacheKeeper cache_;
  int64_t failures_ = 0;  // consecutive failed attempts
  std::mt19937_64 rng_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ETCD_SOURCE_H_
