// A switch's registry-side data, and the one door into Switch's private
// parts. Shared by switch.cc and the registry's files. Not installed.
#ifndef DEGRADE_LIB_CORE_SWITCH_DATA_H_
#define DEGRADE_LIB_CORE_SWITCH_DATA_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/breaker_engine.h"
#include "degrade/registry.h"
#include "degrade/state.h"
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
  // StickySeed(name), for Switch::enabled(key) and the keyed Call.
  uint64_t sticky_seed = 0;

  // Guarded by the registry's mutex (RegistryCore::mu_; the analysis cannot
  // name another object's mutex here).
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
  // A hash of the deciding and fault entries' actor, reason and expiry, so
  // that a change of those alone (an override re-written with a new reason)
  // is an event. See outcome_tag_valid.
  uint64_t outcome_tag = 0;
  Layer deciding_layer = Layer::kDefault;  // layer of state_views' deciding entry
  std::optional<Layer> fault_layer;
  std::optional<Layer> breaker_layer;  // layer of the policy in effect
  // Whether outcome_tag is current: it is kept only while someone receives
  // change events (no hashing otherwise); the first resolve after that
  // starts it again without reporting a change.
  bool outcome_tag_valid = false;
  // Set before registration.
  State default_state = State::kOn;
  // SwitchSpec::tier as declared (checked by Adopt: 0-9).
  int tier = 0;
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
  // Writes `state` into the switch's words (internal/word.h), with the
  // observe flag when a breaker watches its calls (switch_word.cc).
  static void Publish(Switch& sw, const EffectiveState& state, bool observe);
  static std::unique_ptr<Switch> MakeOwned(std::unique_ptr<SwitchData> data);
  static RegistryCore& Core(Registry& r) { return *r.core_; }
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CORE_SWITCH_DATA_H_
