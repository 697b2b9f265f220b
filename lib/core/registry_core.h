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
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "core/breaker.h"
#include "core/layer_delta.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/switch.h"

namespace degrade::internal {

// Which entry decides each switch's fault and breaker policy in each layer
// (see SwitchData::state_views). Faults and breaker policies are rare, so
// these live in a block allocated the first time some layer sets one for the
// switch, and are not paid for by every switch.
struct RareViews {
  std::array<const SwitchValue*, kLayerCount> fault{};
  std::array<const SwitchValue*, kLayerCount> breaker{};
};

// Everything about a switch except its hot words. Owned by the Switch.
// Kept small (the registry holds one per switch, and a process may have
// thousands): no copies of layer entries, no formatted strings.
struct SwitchData {
  // Fields in the order a layer change reads them (the name, to find the
  // switch; its views; its resolved state), so that resolving thousands of
  // switches touches as few cache lines of each as it can.

  // The declaration's name. The environment variable is not kept:
  // EnvVarForSwitch(name) makes it when needed.
  std::string name;

  // Guarded by the registry's mutex.
  // Per layer, the entry that decides the state (state/allow), or null: a
  // pointer into the layer's immutable snapshot (kept alive by the registry
  // until the layer is replaced, and every view of it recomputed), the
  // breaker's open entry, or DefaultEntry for the default layer (never
  // null). Found once per layer change. Which scope (switch, group, all) it
  // came from is not kept: listings find it again from the layers.
  std::array<const SwitchValue*, kLayerCount> state_views{};
  std::unique_ptr<RareViews> rare;  // null until a fault or policy applies
  // Scratch for RecomputeLayerLocked: this switch's own entry in the layer
  // being recomputed. Null outside it.
  const SwitchValue* pending_own = nullptr;
  EffectiveState effective;
  Layer deciding_layer = Layer::kDefault;  // layer of state_views' deciding entry
  std::optional<Layer> fault_layer;
  std::optional<Layer> breaker_layer;  // layer of the policy in effect
  // Set before registration.
  State default_state = State::kOn;
  bool registry_owned = false;  // made by Registry::Define; freed with the registry

  // The breaker, created the first time a policy applies and kept (detached
  // when no layer sets a policy) until the switch dies, so that a Call still
  // holding `observer` never sees it freed. Guarded by the registry's mutex,
  // except its hot side.
  std::unique_ptr<Breaker> breaker;
  // The breaker while attached, else null. Read by Call's slow path.
  std::atomic<Breaker*> observer{nullptr};

  // The rest of the declaration (SwitchSpec), fixed once defined.
  std::vector<std::string> groups;
  std::string description;
  std::string owner;
  // The default layer's entry when it is not one of the two shared plain
  // ones ("on" / "off" with actor "code", reason "default"): a default
  // allow, a breaker policy, or an invalid state. See DefaultEntry.
  std::unique_ptr<const SwitchValue> custom_default;
  Registry* registry = nullptr;  // null when detached
};

// Fills `d`'s declaration from `spec` (nothing is checked here: Adopt does).
void SetSpec(SwitchData& d, SwitchSpec spec);
// The default layer's entry for `d`: its custom_default, or a shared one.
const SwitchValue& DefaultEntry(const SwitchData& d) noexcept;

// Reaches Switch's private parts for the registry.
class RegistryAccess {
 public:
  static SwitchData& Data(const Switch& sw) { return *sw.data_; }
  static uint32_t Id(const Switch& sw) { return sw.id_; }
  static void Publish(Switch& sw, const EffectiveState& state, bool observe);
  static std::unique_ptr<Switch> MakeOwned(std::unique_ptr<SwitchData> data);
  static RegistryCore& Core(Registry& r) { return *r.core_; }
};

// Names as their environment variables see them: '.' and '-' count as '_'
// (valid names are lower case), so two names that would share DEGRADE_<NAME>
// (or DEGRADE_GROUP_<NAME>) are equal here. One set of switches keyed this
// way both finds a switch by name (FindLocked then compares exactly) and
// finds the switch already owning a variable, with 8 bytes per switch.
struct EnvNameHash {
  using is_transparent = void;
  size_t operator()(std::string_view name) const noexcept;
  size_t operator()(const Switch* sw) const noexcept { return (*this)(RegistryAccess::Data(*sw).name); }
};
struct EnvNameEq {
  using is_transparent = void;
  static bool Same(std::string_view a, std::string_view b) noexcept;
  static std::string_view Key(std::string_view name) noexcept { return name; }
  static std::string_view Key(const Switch* sw) noexcept { return RegistryAccess::Data(*sw).name; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const noexcept {
    return Same(Key(a), Key(b));
  }
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
  // See core/layer_delta.h; defined in layer_delta.cc.
  absl::Status ApplyLayerDelta(Layer layer, LayerDelta delta, std::string_view source);
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
  // The switch named exactly `name`, or null.
  Switch* FindLocked(std::string_view name) const;
  // Recomputes `data`'s view of `layer` (which entry decides its state,
  // fault and breaker policy there), given its own entry in the layer (null
  // when none). ComputeViewLocked finds that entry itself.
  void SetViewLocked(SwitchData& data, Layer layer, const SwitchValue* own, absl::Time now) const;
  void ComputeViewLocked(SwitchData& data, Layer layer, absl::Time now) const;
  // Every switch's view of `layer`, then (when `resolve`) its resolution.
  // Own entries are found from the snapshot's side when that is cheaper: one
  // hash lookup per entry rather than a tree search per switch.
  // With `own_entries_found`, the caller has set every switch's pending_own
  // from this layer's entries already.
  void RecomputeLayerLocked(Layer layer, absl::Time now, bool resolve, std::string_view source,
                            std::vector<ChangeEvent>* events, bool own_entries_found = false);
  // Decides the switch's effective state from its views and publishes it.
  // When it changed and `events` is not null, appends the event.
  void ResolveLocked(Switch& sw, absl::Time now, std::string_view source,
                     std::vector<ChangeEvent>* events);
  // Replaces a layer and re-resolves every switch; returns the events and,
  // in `old`, the layer replaced (to be freed after the lock is released).
  void ReplaceLayerLocked(Layer layer, std::shared_ptr<const Snapshot> snapshot,
                          std::string_view source, std::vector<ChangeEvent>* events,
                          std::shared_ptr<const Snapshot>& old, bool own_entries_found = false);
  // Whether anyone receives change events (a listener, or SetLogChanges):
  // if not, none are built.
  bool WantEvents() const noexcept {
    return listener_count_.load(std::memory_order_acquire) > 0 ||
           log_changes_.load(std::memory_order_acquire);
  }
  SwitchInfo InfoLocked(const Switch* sw, std::string_view unknown_name) const;
  void ScheduleExpiryLocked();
  // Attaches, reconfigures or detaches the switch's breaker to match the
  // policy its views decide; recomputes its breaker-layer view if that
  // dropped an "off" the breaker held.
  void SyncBreakerLocked(Switch& sw, absl::Time now);
  void StartBreakerThreadLocked();

  // With mu_ held: moves events into the delivery queue, in state order.
  void EnqueueLocked(std::vector<ChangeEvent>& events);
  void AppendPendingLocked(std::vector<ChangeEvent>& events);
  // Outside mu_: emits logs, queues any remaining events and drains the queue.
  void Deliver(std::vector<ChangeEvent> events, const std::vector<PendingLog>& logs);
  void ExpiryLoop();
  void BreakerLoop();

  Registry* const owner_;
  Clock* const clock_;
  std::function<std::optional<std::string>(std::string_view)> getenv_;

  mutable std::mutex mu_;
  // Every registered switch, by name as its environment variable sees it.
  absl::flat_hash_set<Switch*, EnvNameHash, EnvNameEq> switches_;
  // Every group name some switch has used (never removed), keyed likewise:
  // each DEGRADE_GROUP_<G> belongs to one group.
  absl::flat_hash_set<std::string, EnvNameHash, EnvNameEq> groups_;
  std::array<std::shared_ptr<const Snapshot>, kLayerCount> layers_;
  // Per layer, the snapshot ApplyLayerDelta made (a non-const copy it may
  // edit in place while layers_ still holds it), or null. Compared by
  // address with layers_: replacing a layer any other way ends the editing.
  std::array<std::weak_ptr<Snapshot>, kLayerCount> delta_layers_;
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
  std::vector<ChangeEvent> pending_events_;
  bool delivering_ = false;
  std::map<uint64_t, std::shared_ptr<Registry::Listener>> listeners_;
  uint64_t next_listener_id_ = 1;
  // Bumped by every AddListener, RemoveListener and SetLogSink.
  uint64_t listeners_version_ = 0;
  std::atomic<size_t> listener_count_{0};
  std::shared_ptr<const LogSink> sink_;
  std::atomic<bool> log_changes_{false};
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_REGISTRY_CORE_H_
