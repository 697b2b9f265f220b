// The remote layer's etcd source (DESIGN section 6). Not installed.
//
// Layout under PREFIX (normalised to end with exactly one "/"):
//   PREFIX + "switches/" + NAME   the value a snapshot holds for switch NAME
//   PREFIX + "groups/" + GROUP    the value for group GROUP
//   PREFIX + "all"                the value for every switch
//   PREFIX + "flagd"              a flagd flag-definition file (core/flagd.h)
// Each value but flagd's is snapshot JSON ("off", {"state": "on", "allow":
// 0.25}, ...; degrade/snapshot.h), checked by ParseSwitchValue. A switch's
// own key overrides what the flagd document says of it. A change of the
// flagd key re-reads the prefix (one whole apply) instead of a delta: it
// may change any number of switches.
//
// The source is the watch strategy of a SourceRunner
// (sources/source_runner.h), which owns its threads, start-up bound,
// backoff, health and the last-known-good cache. What the source does:
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
// Failed attempts wait (the runner): backoff_initial doubled per
// consecutive failure up to backoff_max, jittered +-20%. A watch that was
// established and then broke is retried at once.
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
// prefix outside the layout are ignored with one warning each; keys under
// PREFIX/instances/ (fleet registrations, etcd/registration.h) silently.
//
// Fail static: losing etcd changes nothing. When the first range at start
// fails and cache_file is set, the cache is applied (source "cache <path>").
// The cache is written by the runner's supervisor thread, never the
// watch's, at most once per cache_interval, with the whole view as it is
// then (so a burst of changes costs one write, not one per change), and
// once more when the source stops if a write is pending.
//
// Reporting: health as "etcd" (target: the endpoints and prefix; healthy as
// above and while no key is bad; last_error: the connection problem or the
// bad keys; consecutive_failures: failed attempts in a row; applied: updates
// of the layer). The cache's health as "cache".
//
// Thread safety: constructed and destroyed by one thread (the runtime's);
// stats() from any thread; all other work happens on the runner's threads.
//
// Structure: EtcdWatch (below) is the runner's watch strategy and holds the
// source's state; the runner owns it. EtcdSource is the runner plus a view
// of the strategy's stats(); StartEtcdSource gives only the runner.
#ifndef DEGRADE_LIB_ETCD_SOURCE_H_
#define DEGRADE_LIB_ETCD_SOURCE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "etcd/etcd_client.h"
#include "sources/source_runner.h"

namespace degrade::internal {

// "/degrade/shop", "/degrade/shop/" and "/degrade/shop//" -> "/degrade/shop/".
// A prefix of only slashes becomes "/".
std::string NormalizeEtcdPrefix(std::string_view prefix);

class EtcdWatch;

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
    // Called on the watch's thread after the layer was brought up to
    // `revision` (a whole read, or a watch message). `layer_revision`: the
    // newest revision among the layer's keys it applied (a whole read: the
    // newest mod_revision under the prefix, 0 when it is empty), -1 when
    // the message held only keys under PREFIX/instances/ (fleet registrations, which the source
    // ignores). Must not block: the fleet registration
    // (etcd/registration.h) only records it. Empty: none.
    std::function<void(int64_t revision, int64_t layer_revision)> on_applied;
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
    uint64_t out_of_order = 0;      // re-reads because etcd's watchers fell out of step
  };

  // InvalidArgument naming the option and value: what EtcdClient::Validate
  // rejects, an empty prefix, non-positive backoffs or backoff_max below
  // backoff_initial, a negative liveness_interval or cache_interval (zero:
  // no liveness checks; write the cache at every change), stuck_after < 1.
  static absl::Status Validate(const Config& config);

  // Starts the runner (as StartEtcdSource does), which waits (at most the
  // client timeout per endpoint, + 1 s) for the first range, so the remote
  // layer is in place when Runtime::Start returns; when that fails, the
  // cache (if any) is applied. `config` must pass Validate.
  EtcdSource(Registry& registry, Config config);
  // Stops the runner: interrupts the watch, writes a pending cache update
  // and joins the threads.
  ~EtcdSource();

  EtcdSource(const EtcdSource&) = delete;
  EtcdSource& operator=(const EtcdSource&) = delete;

  Stats stats() const;

 private:
  EtcdWatch* watch_ = nullptr;            // owned by runner_
  std::unique_ptr<SourceRunner> runner_;  // owns the strategy and the threads
};

// Starts the source as EtcdSource does, for an owner that needs only the
// runner (the runtime keeps every source as a SourceRunner). `config` must
// pass EtcdSource::Validate.
std::unique_ptr<SourceRunner> StartEtcdSource(Registry& registry, EtcdSource::Config config);

// The watch strategy behind EtcdSource: the etcd client, the view of the
// prefix, and what the source has done. Owned by its SourceRunner, which
// calls Watch on its loop thread and WholeView on its supervisor thread.
class EtcdWatch final : public WatchStrategy {
 public:
  // `config` must pass EtcdSource::Validate.
  EtcdWatch(Registry& registry, EtcdSource::Config config);

  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  // How the runner runs this source: names, backoff, start-up budget, cache.
  SourceRunner::Config RunnerConfig() const;
  EtcdSource::Stats stats() const;

  // One watch: reads the prefix when needed, then watches until the stream
  // ends.
  absl::Status Watch(RunContext& ctx, WatchSink& sink) override;
  // For the cache (the runner's supervisor thread).
  std::optional<Snapshot> WholeView() override;

 private:
  enum class Kind { kSwitch, kGroup, kAll, kShed, kGovernor, kFlagd, kOutside };
  // A key's parsed value: `value` for switches/, groups/ and all; `shed`
  // for PREFIX + "shed" (nullopt inside for level 0); `governor` for
  // PREFIX + "governor". PREFIX + "flagd" keeps Entry::flagd instead.
  struct Good {
    std::optional<SwitchValue> value;
    std::optional<Shed> shed;
    std::optional<GovernorSetting> governor;
    friend bool operator==(const Good&, const Good&) = default;
  };
  struct Entry {
    Kind kind = Kind::kOutside;
    std::string name;  // switch or group name
    int64_t mod_revision = 0;
    std::optional<Good> good;        // the last good value
    std::optional<Snapshot> flagd;   // kFlagd: the last good document's switches
    std::string error;                // why the current value is rejected
  };

  // Ranges and publishes the whole layer.
  absl::Status Sync(WatchSink& sink);
  // Learns the cluster's other members (EtcdClient::DiscoverMembers) until
  // that has once succeeded; a failure changes nothing.
  void DiscoverMembersOnce();
  bool OnMessage(WatchSink& sink, EtcdWatchMessage&& message);
  // Which side of PREFIX/instances/ `key` is on: 0 before, 1 after (the
  // split watch's watcher for it).
  size_t SideOf(std::string_view key) const;
  // `key` is under PREFIX/instances/ (a fleet registration).
  bool IsInstanceKey(std::string_view key) const;
  // Updates `entries` for a put (value) or delete (nullopt) of `key`.
  // Returns false when the key is outside the layout.
  bool Update(std::map<std::string, Entry>& entries, const std::string& key,
              const std::optional<std::string>& value, int64_t mod_revision);
  // Applies the keys of one revision that changed what the layer holds
  // (`before`: each key's good value before the revision) as one
  // ApplyLayerDelta. False (and need_sync_) if the registry refused it.
  bool ApplyRevision(WatchSink& sink,
                     const std::map<std::string, std::optional<Good>>& before,
                     int64_t revision);
  // The layer as `entries` make it.
  static Snapshot SnapshotOf(const std::map<std::string, Entry>& entries);
  // Logs bad keys newly bad or fixed; tells the sink the current ones.
  void ReportBadKeys(WatchSink& sink, const std::map<std::string, Entry>& entries);

  Registry& registry_;
  const EtcdSource::Config config_;
  const std::string prefix_;
  const std::string range_end_;
  const std::string instances_dir_;  // PREFIX + "instances/": not watched
  const std::string source_;  // "etcd <prefix>"
  EtcdClient client_;

  // The runner's loop thread (and its start-up) touches these; WholeView
  // reads entries_ under entries_mu_ from the supervisor thread.
  mutable std::mutex entries_mu_;
  std::map<std::string, Entry> entries_;    // by full key; written under entries_mu_
  std::map<std::string, std::string> bad_;  // key -> why its value is rejected
  bool have_view_ = false;                  // entries_ is a view etcd gave
  int64_t revision_ = 0;                    // every change up to here is applied
  // The current watch is split around PREFIX/instances/ (two watchers on
  // one stream), or covers the whole prefix while catching up (see Watch).
  bool split_ = true;
  bool catching_up_ = false;  // the next watch covers the whole prefix
  int created_ = 0;            // watchers the current watch has created
  bool split_delivered_ = false;  // the current split watch applied an event
  // For each side of PREFIX/instances/ (SideOf), the revision up to which
  // its changes are applied: a revision may come in two parts, one from
  // each of the split watch's watchers.
  int64_t delivered_[2] = {0, 0};
  bool need_sync_ = true;
  bool discovered_ = false;  // DiscoverMembersOnce succeeded
  // The current watch delivered something or passed a liveness check
  // (set by the checker thread too).
  std::atomic<bool> progressed_{false};
  int64_t stuck_revision_ = -1;  // revision_ when the unproductive watches began
  int stuck_count_ = 0;
  std::set<std::string> warned_outside_;
  std::map<std::string, std::string> logged_bad_;  // key -> reason logged

  mutable std::mutex stats_mu_;
  EtcdSource::Stats stats_;  // guarded by stats_mu_
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ETCD_SOURCE_H_
