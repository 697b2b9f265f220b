// Fleet registration (DESIGN section 13; docs/fleet.md "Is it off
// everywhere?"). Not installed.
//
// A process that watches etcd writes what it applied to
//   PREFIX + "instances/" + ID
// under an etcd lease, so that `degradectl --etcd status` and `--wait` can
// tell whether every instance applied a change, and the key of a process
// that died disappears by itself when the lease runs out. The value is one
// JSON object (RegistrationValue below builds it):
//   {"id", "host", "pid", "version", "started_at" (RFC 3339),
//    "revision": the etcd revision up to which every change is applied,
//    "layer_revision": the last revision that touched a layer key,
//    "written_at" (RFC 3339, milliseconds),
//    "sources": [{"name", "target", "healthy", "last_error"}...],
//    "switches": {NAME: {"state", "allow", "fault" (null or {kind, rate,
//                        delay_ms}), "layer", "groups", "tier"}...}}
// Only switches the process defines are listed.
//
// When it writes: once the source has read the prefix; after each change the etcd watch applied
// (Applied()), after any other change of a switch's effective outcome
// (a registry listener: admin overrides, breakers, expiry), and when a
// source's health changes; at most once per `min_interval` (changes in
// between are coalesced into the next write). Never on the hot path: the
// watch thread and the listener only record and wake the registration's
// own thread, which does every request. Every request is bounded by the
// client timeout, so a slow or frozen etcd delays registration only,
// never the watch or the application.
//
// The lease: granted with `ttl`, renewed every ttl/3. When etcd no longer
// knows it (expired while etcd or the network was away), a new one is
// granted and the value written again. Destruction revokes it, so a clean
// exit removes the key at once; a killed process's key goes after `ttl`.
//
// Failures are logged (kWarning) at the first failure and then at the 2nd,
// 4th, 8th... in a row, and retried after 1 s.
//
// Thread safety: Applied() and stats() from any thread; constructed and
// destroyed by one thread (the runtime's).
#ifndef DEGRADE_LIB_ETCD_REGISTRATION_H_
#define DEGRADE_LIB_ETCD_REGISTRATION_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "etcd/etcd_client.h"

namespace degrade::internal {

// The directory under the prefix that registrations live in. The etcd
// source ignores keys under it.
inline constexpr std::string_view kInstancesDir = "instances/";

// An instance id: 1 to 128 characters of [A-Za-z0-9._-], starting with a
// letter or digit (it is the last part of an etcd key and is shown in
// tables). InvalidArgument naming `what` (e.g. "DEGRADE_INSTANCE_ID"), the
// value and what is accepted.
absl::Status ValidateInstanceId(std::string_view id, std::string_view what);

// "hostname-pid", with characters outside the id alphabet replaced by '-'.
std::string DefaultInstanceId();

class Registration {
 public:
  struct Config {
    EtcdClient::Config client;  // endpoints, auth, TLS, request timeout
    std::string prefix;         // normalised by the constructor
    std::string id;             // must pass ValidateInstanceId
    std::string version;        // the library's version, shown as is
    // Lease TTL. Default: 10 s. At least 1 s (etcd raises a TTL below its
    // minimum, about 2 s with default election settings).
    absl::Duration ttl = absl::Seconds(10);
    // Shortest time between two writes of the value. Default: 200 ms.
    absl::Duration min_interval = absl::Milliseconds(200);
  };

  // InvalidArgument naming the option: what EtcdClient::Validate rejects,
  // an empty prefix, a bad id, a ttl under 1 s or over 1 hour, a negative
  // min_interval.
  static absl::Status Validate(const Config& config);

  // Starts the registration thread, which writes the first value at once.
  // `config` must pass Validate.
  Registration(Registry& registry, Config config);
  // Stops the thread (interrupting a request in flight) and revokes the
  // lease, bounded by the client timeout.
  ~Registration();

  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

  // The etcd watch applied every change up to `revision`; `layer_revision`
  // is the newest revision among the keys of the layer it applied (0 for a
  // whole read of an empty prefix; negative: the message held only other
  // instances' registrations). Only a layer change causes a write: other instances'
  // registrations move `revision` too, and writing for those would have
  // every instance answer every other one. Never blocks on etcd.
  void Applied(int64_t revision, int64_t layer_revision);

  const std::string& key() const { return key_; }

  struct Stats {
    uint64_t writes = 0;      // values written
    uint64_t keepalives = 0;  // lease renewals
    uint64_t grants = 0;      // leases granted
    uint64_t failures = 0;    // requests that failed
  };
  Stats stats() const;

 private:
  void Run();
  // The value as of now.
  std::string Value();
  // A fingerprint of the sources' health: a change triggers a write.
  std::string HealthKey() const;
  // One write (granting a lease first when there is none). OK or why not.
  absl::Status Write();
  void Failed(std::string_view what, const absl::Status& status);

  Registry& registry_;
  const Config config_;
  const std::string prefix_;
  const std::string key_;
  const std::string host_;
  const int64_t pid_;
  const absl::Time started_at_;
  EtcdClient client_;
  uint64_t listener_id_ = 0;

  std::atomic<int64_t> revision_{0};
  std::atomic<int64_t> layer_revision_{0};

  // What the thread and the wakers share. The registry's listener holds it
  // too: a listener call may still be running when RemoveListener returns,
  // so it must not reach into this object.
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;    // guarded by mu
    bool dirty = true;    // guarded by mu: a write is due
    // guarded by mu: the source has applied what etcd holds once; nothing
    // is written before (an instance that has read nothing has nothing to
    // say).
    bool applied = false;
    Stats stats;          // guarded by mu
  };
  const std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();

  // Used by the thread only.
  int64_t lease_id_ = 0;
  bool granted_ = false;  // the last Write granted a new lease
  uint64_t consecutive_failures_ = 0;
  std::string last_health_;

  std::thread thread_;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ETCD_REGISTRATION_H_
