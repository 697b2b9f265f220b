// Internals shared by switch.cc and registry.cc. Not installed.
#ifndef DEGRADE_LIB_REGISTRY_CORE_H_
#define DEGRADE_LIB_REGISTRY_CORE_H_

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "breaker.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/switch.h"

namespace degrade::internal {

// What one layer says about one switch, found once per layer change.
struct LayerView {
  const SwitchValue* state_entry = nullptr;  // decides state/allow, if any
  std::string_view state_scope;              // "switch", "group:x", "all"
  const SwitchValue* fault_entry = nullptr;  // decides the fault, if any
  std::string_view fault_scope;
  const SwitchValue* breaker_entry = nullptr;  // decides the breaker policy, if any
  std::string_view breaker_scope;
};

// Everything about a switch except its hot words. Owned by the Switch.
struct SwitchData {
  SwitchSpec spec;
  std::string env_var;
  Registry* registry = nullptr;  // null when detached
  SwitchValue default_value;     // the default layer's entry

  // Guarded by the registry's mutex.
  std::array<LayerView, kLayerCount> views;
  EffectiveState effective;
  Layer deciding_layer = Layer::kDefault;
  std::optional<Layer> fault_layer;
  std::string reason;
  std::string actor;
  std::optional<absl::Time> expires_at;

  // The breaker, created the first time a policy applies and kept (detached
  // when no layer sets a policy) until the switch dies, so that a Call still
  // holding `observer` never sees it freed. Guarded by the registry's mutex,
  // except its hot side.
  std::unique_ptr<Breaker> breaker;
  std::optional<Layer> breaker_layer;  // layer of the policy in effect
  // The breaker while attached, else null. Read by Call's slow path.
  std::atomic<Breaker*> observer{nullptr};
};

// Reaches Switch's private parts for the registry.
class RegistryAccess {
 public:
  static SwitchData& Data(const Switch& sw) { return *sw.data_; }
  static uint32_t Id(const Switch& sw) { return sw.id_; }
  static void Publish(Switch& sw, const EffectiveState& state, bool observe);
  static std::unique_ptr<Switch> MakeOwned(std::unique_ptr<SwitchData> data);
  static RegistryCore& Core(Registry& r) { return *r.core_; }
};

class RegistryCore {
 public:
  RegistryCore(Registry* owner, Registry::Options options);
  ~RegistryCore();

  // Registers `sw` (owned elsewhere): validates, reads env, resolves, publishes.
  absl::Status Adopt(Switch& sw);
  void Unregister(Switch& sw);

  absl::StatusOr<Switch*> Define(SwitchSpec spec);
  Switch* Find(std::string_view name) const;
  std::vector<SwitchInfo> List() const;
  absl::StatusOr<SwitchInfo> Get(std::string_view name) const;
  absl::Status SetOverride(std::string_view name, SwitchValue value, absl::Duration ttl);
  absl::Status ClearOverride(std::string_view name);
  absl::Status ApplySnapshot(Layer layer, Snapshot snapshot, std::string_view source);
  Snapshot LayerSnapshot(Layer layer) const;

  uint64_t AddListener(Registry::Listener listener);
  void RemoveListener(uint64_t id);
  void SetLogSink(LogSink sink);
  void SetLogChanges(bool on);
  void Log(LogLevel level, std::string_view message);
  std::vector<ErrorRecord> errors() const;
  void ReportSourceHealth(SourceHealth health);
  std::vector<SourceHealth> sources() const;
  void ProcessExpiries();
  void ProcessBreakers();
  // Stops the breaker thread (at exit for registries never destroyed, and
  // in the destructor). Idempotent.
  void StopBreakerThread();
  Clock& clock() const { return *clock_; }

 private:
  struct PendingLog {
    LogLevel level;
    std::string message;
  };

  // All below with mu_ held.
  std::optional<std::string> Getenv(std::string_view var) const;
  void ReadEnvForLocked(SwitchData& data, std::vector<PendingLog>& logs);
  void ComputeViewLocked(SwitchData& data, Layer layer, absl::Time now) const;
  void ResolveLocked(Switch& sw, absl::Time now, std::string_view source,
                     std::vector<ChangeEvent>& events);
  // Replaces a layer and re-resolves every switch; returns the events.
  void ReplaceLayerLocked(Layer layer, std::shared_ptr<const Snapshot> snapshot,
                          std::string_view source, std::vector<ChangeEvent>& events);
  SwitchInfo InfoLocked(const Switch* sw, std::string_view unknown_name) const;
  void ScheduleExpiryLocked();
  // Attaches, reconfigures or detaches the switch's breaker to match the
  // policy its views decide; recomputes its breaker-layer view if that
  // dropped an "off" the breaker held.
  void SyncBreakerLocked(Switch& sw, absl::Time now);
  void StartBreakerThreadLocked();

  // With mu_ held: moves events into the delivery queue, in state order.
  void EnqueueLocked(std::vector<ChangeEvent>& events);
  // Outside mu_: emits logs, queues any remaining events and drains the queue.
  void Deliver(std::vector<ChangeEvent> events, const std::vector<PendingLog>& logs);
  void ExpiryLoop();
  void BreakerLoop();

  Registry* const owner_;
  Clock* const clock_;
  std::function<std::optional<std::string>(std::string_view)> getenv_;

  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Switch*> switches_;  // by name
  // Environment variable -> who uses it ("switch x" / "group x").
  absl::flat_hash_map<std::string, std::string> env_owners_;
  std::vector<std::unique_ptr<Switch>> owned_;
  std::array<std::shared_ptr<const Snapshot>, kLayerCount> layers_;
  // Built as switches are defined; layers_[kEnv] aliases it (never copied,
  // so views into it stay valid: map nodes do not move).
  Snapshot env_layer_;
  std::map<std::string, SourceHealth> sources_;
  std::deque<ErrorRecord> errors_;
  bool destroying_ = false;

  // Expiry timer (real clock only).
  std::optional<absl::Time> next_expiry_;
  std::condition_variable expiry_cv_;
  std::thread expiry_thread_;
  bool stop_ = false;

  // Breakers: switches with one attached, evaluated every kBreakerTick by
  // the breaker thread (real clock only; started with the first breaker).
  std::vector<Switch*> breaker_switches_;
  std::condition_variable breaker_cv_;
  std::thread breaker_thread_;
  bool breaker_stop_ = false;

  // Delivery: events queue in state order; one thread at a time drains it.
  std::mutex deliver_mu_;
  std::deque<ChangeEvent> pending_events_;
  std::deque<PendingLog> pending_logs_;
  bool delivering_ = false;
  std::map<uint64_t, std::shared_ptr<Registry::Listener>> listeners_;
  uint64_t next_listener_id_ = 1;
  std::shared_ptr<const LogSink> sink_;
  std::atomic<bool> log_changes_{false};
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_REGISTRY_CORE_H_
