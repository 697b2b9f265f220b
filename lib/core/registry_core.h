// The registry's shared state and the steps its files share (see
// degrade/registry.h for the contract). Not installed.
//
// Where each concern lives (lib/core/):
//   registry.cc           construction, destruction, Registry's methods
//   registry_env.cc       the env layer (DEGRADE_<NAME>, _GROUP_, _ALL)
//   registry_define.cc    definition rules, registration, Find
//   registry_resolve.cc   layer storage -> views -> effective state, published
//   registry_layers.cc    layer writes: overrides, snapshots, LayerSnapshot
//   registry_listing.cc   List, Get
//   registry_expiry.cc    the expiry timer and ProcessExpiries
//   registry_breakers.cc  breaker attachment, the breaker thread
//   registry_events.cc    change events to listeners and the log sink
//   registry_governor.cc  the governor: its thread, its layer, its status
//   registry_status.cc    messages, the error ring, source health
//
// Locks: mu_ guards the layers, the switches and the timers; deliver_mu_
// guards delivery. Order: mu_, then deliver_mu_, never the reverse.
// Listeners and the sink run with neither held.
#ifndef DEGRADE_LIB_REGISTRY_CORE_H_
#define DEGRADE_LIB_REGISTRY_CORE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/cause.h"
#include "core/env_name.h"
#include "core/governor_control.h"
#include "core/layer_delta.h"
#include "core/mutex.h"
#include "core/switch_data.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/switch.h"

namespace degrade::internal {

// ------------------------------------------------------------ entry rules

inline bool Expired(const SwitchValue& v, absl::Time now) {
  return v.expires_at.has_value() && *v.expires_at <= now;
}

// Lower is more degraded: off, then the lowest allow.
inline double Degradation(const SwitchValue& v) {
  if (v.state == State::kOff) return -1.0;
  return v.allow.value_or(1.0);
}

// The effective state of a deciding entry and a fault entry (either null).
EffectiveState EffectiveFrom(const SwitchValue* state_entry, const SwitchValue* fault_entry);

// What a clear or an expiry took away, for its event's reason: `admin
// override by bob ("drill-2")`, `file entry by ops` (registry_layers.cc).
std::string DescribeEntry(Layer layer, const SwitchValue& v);

// Registry::Global() once created, else null (registry.cc).
Registry* GlobalRegistryIfCreated() noexcept;

// ------------------------------------------------------------ RegistryCore

class RegistryCore {
 public:
  RegistryCore(Registry* owner, Registry::Options options);
  ~RegistryCore();

  // Registers `sw` (owned elsewhere): validates, reads env, resolves, publishes.
  absl::Status Adopt(Switch& sw) ABSL_LOCKS_EXCLUDED(mu_);
  void Unregister(Switch& sw) ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<Switch*> Define(SwitchSpec spec) ABSL_LOCKS_EXCLUDED(mu_);
  Switch* Find(std::string_view name) const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<SwitchInfo> List() const ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<SwitchInfo> Get(std::string_view name) const ABSL_LOCKS_EXCLUDED(mu_);
  // `value` is built in code: it is validated here (ValidateSwitchValue).
  // Every layer write names its cause (core/cause.h), which its events carry.
  absl::Status SetOverride(std::string_view name, SwitchValue value, absl::Duration ttl,
                           Cause cause) ABSL_LOCKS_EXCLUDED(mu_);
  // An empty cause.reason becomes what was cleared ("admin override by bob
  // (\"drill-2\") cleared").
  absl::Status ClearOverride(std::string_view name, Cause cause) ABSL_LOCKS_EXCLUDED(mu_);
  // See core/layer_delta.h; defined in layer_delta.cc. Validates `delta`.
  absl::Status ApplyLayerDelta(Layer layer, LayerDelta delta, std::string_view source,
                               DeltaValues values, const Cause& cause) ABSL_LOCKS_EXCLUDED(mu_);

  // How much of a snapshot is known to be valid when it is applied.
  enum class Checked {
    // Built in code: names and values are validated here.
    kNothing,
    // From ParseSnapshot, which produces only valid names and values (see
    // snapshot_parse.cc): only the layer's own rules are checked here.
    kNamesAndValues,
  };
  absl::Status ApplySnapshot(Layer layer, Snapshot snapshot, std::string_view source,
                             Checked checked, const Cause& cause) ABSL_LOCKS_EXCLUDED(mu_);
  Snapshot LayerSnapshot(Layer layer) const ABSL_LOCKS_EXCLUDED(mu_);
  // The admin layer's shed (registry_layers.cc). `shed` is built in code:
  // validated here. An empty cause.reason becomes ShedText(shed).
  absl::Status SetShed(Shed shed, absl::Duration ttl, Cause cause) ABSL_LOCKS_EXCLUDED(mu_);
  // An empty cause.reason becomes DescribeShed(admin, shed) + " cleared".
  absl::Status ClearShed(Cause cause) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<LayerShed> Sheds() const ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t AddListener(Registry::Listener listener) ABSL_LOCKS_EXCLUDED(deliver_mu_);
  void RemoveListener(uint64_t id) ABSL_LOCKS_EXCLUDED(deliver_mu_);
  void SetLogSink(LogSink sink) ABSL_LOCKS_EXCLUDED(deliver_mu_);
  void SetLogChanges(bool on);
  void Log(LogLevel level, std::string_view message) ABSL_LOCKS_EXCLUDED(mu_, deliver_mu_);
  std::vector<ErrorRecord> errors() const ABSL_LOCKS_EXCLUDED(mu_);
  void ReportSourceHealth(SourceHealth health) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<SourceHealth> sources() const ABSL_LOCKS_EXCLUDED(mu_);
  void ProcessExpiries() ABSL_LOCKS_EXCLUDED(mu_, deliver_mu_);
  void ProcessBreakers() ABSL_LOCKS_EXCLUDED(mu_, deliver_mu_);
  // Stops the breaker thread (at exit for registries never destroyed, and
  // in the destructor). Idempotent.
  void StopBreakerThread() ABSL_LOCKS_EXCLUDED(mu_);
  Clock& clock() const { return *clock_; }

  // ------------------------------------------------ governor (registry_governor.cc)
  absl::Status ConfigureGovernor(GovernorOptions options) ABSL_LOCKS_EXCLUDED(mu_);
  void StopGovernor() ABSL_LOCKS_EXCLUDED(mu_, deliver_mu_);
  GovernorStatus Governor() const ABSL_LOCKS_EXCLUDED(mu_);
  void StepGovernor() ABSL_LOCKS_EXCLUDED(mu_, deliver_mu_);
  // The admin layer's "governor" field: `setting` (validated here; a
  // positive ttl sets its expiry) or, with nullopt, none. An empty
  // cause.reason becomes a description of the change.
  absl::Status SetGovernorSetting(std::optional<GovernorSetting> setting, absl::Duration ttl,
                                  Cause cause) ABSL_LOCKS_EXCLUDED(mu_);
  // The request path's side: lock-free, no allocation.
  void RecordLatency(int64_t ns) noexcept { latencies_.Record(ns); }
  void AddInFlight(int64_t delta) noexcept {
    in_flight_.fetch_add(delta, std::memory_order_relaxed);
  }
  // Stops the governor's thread (at exit for Global(), and in the
  // destructor). Idempotent.
  void StopGovernorThread() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct PendingLog {
    LogLevel level;
    std::string message;
  };

  // ---------------------------------------------------------- env layer
  std::optional<std::string> Getenv(std::string_view var) const;
  // DEGRADE_ALL and DEGRADE_LOG_CHANGES, read once at construction.
  void ReadProcessEnvLocked(std::vector<PendingLog>& logs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The switch's and its new groups' variables, into env_layer_.
  void ReadEnvForLocked(SwitchData& data, std::vector<PendingLog>& logs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The switch named exactly `name`, or null.
  Switch* FindLocked(std::string_view name) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ------------------------------------------- resolution (registry_resolve.cc)
  // The layer storage (layers_) and the resolve-and-publish step that every
  // layer write ends with.
  //
  // Recomputes `data`'s view of `layer` (which entry decides its state,
  // fault and breaker policy there), given its own entry in the layer (null
  // when none). ComputeViewLocked finds that entry itself.
  //
  // Within a layer: the switch's own entry, then its groups' (the most
  // degraded), then the layer's shed (off for a tier in [level, 9]), then
  // "all".
  void SetViewLocked(SwitchData& data, Layer layer, const SwitchValue* own, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Brings shed_entries_[layer] in line with the layer's shed. Returns true
  // when it changed: then every switch's view of the layer must be
  // recomputed before mu_ is released (views may point at the old entry).
  bool SyncShedLocked(Layer layer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ComputeViewLocked(SwitchData& data, Layer layer, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every switch's view of `layer`, then (when `resolve`) its resolution.
  // Own entries are found from the snapshot's side when that is cheaper: one
  // hash lookup per entry rather than a tree search per switch.
  // With `own_entries_found`, the caller has set every switch's pending_own
  // from this layer's entries already.
  void RecomputeLayerLocked(Layer layer, absl::Time now, bool resolve, const Cause& cause,
                            std::vector<ChangeEvent>* events, bool own_entries_found = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Decides the switch's effective state from its views and publishes it.
  // When its outcome changed (ChangeEvent lists what counts) or
  // cause.always, and `events` is not null, appends the event, attributed
  // to `cause`.
  void ResolveLocked(Switch& sw, absl::Time now, const Cause& cause,
                     std::vector<ChangeEvent>* events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces a layer and re-resolves every switch; returns the events and,
  // in `old`, the layer replaced (to be freed after the lock is released).
  void ReplaceLayerLocked(Layer layer, std::shared_ptr<const Snapshot> snapshot,
                          const Cause& cause, std::vector<ChangeEvent>* events,
                          std::shared_ptr<const Snapshot>& old, bool own_entries_found = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const Snapshot& LayerLocked(Layer layer) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return *layers_[static_cast<int>(layer)];
  }

  // Whether anyone receives change events (a listener, or SetLogChanges):
  // if not, none are built.
  bool WantEvents() const noexcept {
    return listener_count_.load(std::memory_order_acquire) > 0 ||
           log_changes_.load(std::memory_order_acquire);
  }
  SwitchInfo InfoLocked(const Switch* sw, std::string_view unknown_name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleExpiryLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Attaches, reconfigures or detaches the switch's breaker to match the
  // policy its views decide; recomputes its breaker-layer view if that
  // dropped an "off" the breaker held.
  void SyncBreakerLocked(Switch& sw, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartBreakerThreadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // With mu_ held: moves events into the delivery queue, in state order.
  void EnqueueLocked(std::vector<ChangeEvent>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_)
      ABSL_LOCKS_EXCLUDED(deliver_mu_);
  void AppendPendingLocked(std::vector<ChangeEvent>& events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(deliver_mu_);
  // Outside mu_: emits logs, queues any remaining events and drains the queue.
  void Deliver(std::vector<ChangeEvent> events, const std::vector<PendingLog>& logs)
      ABSL_LOCKS_EXCLUDED(mu_, deliver_mu_);
  void ExpiryLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void BreakerLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void GovernorLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // DEGRADE_GOVERNOR_*: the options they give, nullopt when the target is
  // unset; bad values are logged and give nullopt.
  std::optional<GovernorOptions> GovernorOptionsFromEnv(std::vector<PendingLog>& logs) const;
  // The operators' setting (the highest layer's "governor" field) into
  // `status`'s enabled, cap and setting_*.
  void ReadGovernorSettingLocked(GovernorStatus& status, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After any layer change: when the operators' setting changed (turned
  // off, on, or a new cap), applies it at once rather than at the next
  // period. Does nothing without a governor.
  void ApplyGovernorSettingLocked(absl::Time now, std::vector<ChangeEvent>* events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the governor layer for the controller's level, the setting's
  // cap and the tiers in use (an entry per dimmed switch; one whose allow
  // did not move is kept as it is), when it differs from the layer held.
  // Entries' reasons end with `figures_text`; the write's cause reason is
  // `cause_reason` when given.
  void WriteGovernorLayerLocked(const std::string& figures_text, std::vector<ChangeEvent>* events,
                                const std::string* cause_reason = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Registry* const owner_;
  Clock* const clock_;
  const bool timer_threads_;  // Options::timer_threads
  const std::function<std::optional<std::string>(std::string_view)> getenv_;

  mutable Mutex mu_;
  // Every registered switch, by name as its environment variable sees it.
  absl::flat_hash_set<Switch*, EnvNameHash, EnvNameEq> switches_ ABSL_GUARDED_BY(mu_);
  // Every group name some switch has used (never removed), keyed likewise:
  // each DEGRADE_GROUP_<G> belongs to one group.
  absl::flat_hash_set<std::string, EnvNameHash, EnvNameEq> groups_ ABSL_GUARDED_BY(mu_);
  // The layers, each an immutable snapshot, replaced whole.
  std::array<std::shared_ptr<const Snapshot>, kLayerCount> layers_ ABSL_GUARDED_BY(mu_);
  // Per layer, the snapshot ApplyLayerDelta made (a non-const copy it may
  // edit in place while layers_ still holds it), or null. Compared by
  // address with layers_: replacing a layer any other way ends the editing.
  std::array<std::weak_ptr<Snapshot>, kLayerCount> delta_layers_ ABSL_GUARDED_BY(mu_);
  // Per layer with a shed: the shed, and the "off" entry it stands for
  // (actor: the shed's; reason: ShedText; expiry: the shed's), which views
  // point at like at any entry of the layer. Null without a shed.
  struct ShedEntry {
    Shed shed;
    SwitchValue off;
  };
  std::array<std::unique_ptr<const ShedEntry>, kLayerCount> shed_entries_ ABSL_GUARDED_BY(mu_);
  // Built as switches are defined; layers_[kEnv] aliases it (never copied,
  // so views into it stay valid: map nodes do not move).
  Snapshot env_layer_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, SourceHealth> sources_ ABSL_GUARDED_BY(mu_);
  std::deque<ErrorRecord> errors_ ABSL_GUARDED_BY(mu_);
  bool destroying_ ABSL_GUARDED_BY(mu_) = false;

  // Expiry timer (when timer_threads_).
  std::optional<absl::Time> next_expiry_ ABSL_GUARDED_BY(mu_);
  CondVar expiry_cv_;
  std::thread expiry_thread_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;

  // Breakers: switches with one attached, evaluated every kBreakerTick by
  // the breaker thread (when timer_threads_; started with the first breaker).
  std::vector<Switch*> breaker_switches_ ABSL_GUARDED_BY(mu_);
  CondVar breaker_cv_;
  std::thread breaker_thread_ ABSL_GUARDED_BY(mu_);
  bool breaker_stop_ ABSL_GUARDED_BY(mu_) = false;

  // The governor. Latencies and requests in flight are counted whether or
  // not it is configured; governor_ holds its options while it is.
  LatencyHistogram latencies_;
  std::atomic<int64_t> in_flight_{0};
  std::optional<GovernorOptions> governor_ ABSL_GUARDED_BY(mu_);
  ControllerState control_ ABSL_GUARDED_BY(mu_);
  GovernorStatus governor_status_ ABSL_GUARDED_BY(mu_);
  // Steady-clock time of the last period's end (0 before the first).
  int64_t last_step_ns_ ABSL_GUARDED_BY(mu_) = 0;
  // One StepGovernor at a time (the thread, or a test), so that draining
  // the histogram and acting on it are not interleaved.
  Mutex step_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  CondVar governor_cv_;
  std::thread governor_thread_ ABSL_GUARDED_BY(mu_);
  bool governor_stop_ ABSL_GUARDED_BY(mu_) = false;

  // Delivery: events queue in state order; one thread at a time drains it.
  Mutex deliver_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::vector<ChangeEvent> pending_events_ ABSL_GUARDED_BY(deliver_mu_);
  bool delivering_ ABSL_GUARDED_BY(deliver_mu_) = false;
  std::map<uint64_t, std::shared_ptr<Registry::Listener>> listeners_ ABSL_GUARDED_BY(deliver_mu_);
  uint64_t next_listener_id_ ABSL_GUARDED_BY(deliver_mu_) = 1;
  // Bumped by every AddListener, RemoveListener and SetLogSink.
  uint64_t listeners_version_ ABSL_GUARDED_BY(deliver_mu_) = 0;
  std::atomic<size_t> listener_count_{0};
  std::shared_ptr<const LogSink> sink_ ABSL_GUARDED_BY(deliver_mu_);
  std::atomic<bool> log_changes_{false};
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_REGISTRY_CORE_H_
