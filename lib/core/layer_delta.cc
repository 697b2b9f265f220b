// Partial layer updates. See core/layer_delta.h for the contract.
//
// Why editing a layer in place is safe: every reader of layers_ holds mu_
// (listings, LayerSnapshot, resolution), switch views point at map nodes,
// which std::map never moves, and a view into an entry that is replaced or
// erased belongs to a switch the delta affects, whose views are recomputed
// before mu_ is released. The snapshot edited is one this file made (a
// non-const copy), never the const one ApplySnapshot installed.
#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/container/flat_hash_set.h"
#include "core/registry_core.h"
#include "core/snapshot_internal.h"
#include "core/str_util.h"

namespace degrade {
namespace internal {

absl::Status ApplyLayerDelta(Registry& registry, Layer layer, LayerDelta delta,
                             std::string_view source, DeltaValues values) {
  return RegistryAccess::Core(registry).ApplyLayerDelta(layer, std::move(delta), source, values,
                                                        SourceCause(source, layer));
}

absl::Status ApplyLayerDelta(Registry& registry, Layer layer, LayerDelta delta,
                             std::string_view source, DeltaValues values, const Cause& cause) {
  return RegistryAccess::Core(registry).ApplyLayerDelta(layer, std::move(delta), source, values,
                                                        cause);
}

absl::Status ApplyParsedSnapshot(Registry& registry, Layer layer, Snapshot snapshot,
                                 std::string_view source) {
  return RegistryAccess::Core(registry).ApplySnapshot(layer, std::move(snapshot), source,
                                                      RegistryCore::Checked::kNamesAndValues,
                                                      SourceCause(source, layer));
}

absl::Status RegistryCore::ApplyLayerDelta(Layer layer, LayerDelta delta,
                                           std::string_view source, DeltaValues values,
                                           const Cause& cause) {
  const std::string who = source.empty() ? std::string(LayerName(layer)) : std::string(source);
  if (layer == Layer::kDefault || layer == Layer::kEnv || layer == Layer::kGovernor) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, ": the ", ToAbsl(LayerName(layer)),
        " layer cannot be set by a snapshot; accepted layers: file, remote, breaker, admin"));
  }
  auto check = [&](const SwitchValue& v, absl::FunctionRef<std::string()> path) -> absl::Status {
    if (values == DeltaValues::kBuiltInCode) {
      if (absl::Status s = ValidateSwitchValueAt(v, path); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
      }
    }
    if (layer == Layer::kBreaker &&
        (v.state != State::kOff || v.allow || v.SetsFault() || v.SetsBreaker())) {
      return absl::InvalidArgumentError(
          absl::StrCat(who, ": ", path(), ": the breaker layer may only turn a switch off; "
                                          "accepted: \"off\""));
    }
    return absl::OkStatus();
  };
  // Everything is checked before anything changes. Names of defined
  // switches are valid already; others are checked here, as ApplySnapshot
  // does.
  bool sets_expiry = false;
  for (const auto& entry : delta.switches) {
    const std::string& name = entry.first;
    if (absl::Status s = ValidateName(name, "switch name"); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
    }
    if (!entry.second.has_value()) continue;
    if (absl::Status s =
            check(*entry.second, [&] { return absl::StrCat("switches.\"", name, "\""); });
        !s.ok()) {
      return s;
    }
    sets_expiry = sets_expiry || entry.second->expires_at.has_value();
  }
  for (const auto& entry : delta.groups) {
    const std::string& name = entry.first;
    if (absl::Status s = ValidateName(name, "group name"); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
    }
    if (!entry.second.has_value()) continue;
    if (absl::Status s =
            check(*entry.second, [&] { return absl::StrCat("groups.\"", name, "\""); });
        !s.ok()) {
      return s;
    }
    sets_expiry = sets_expiry || entry.second->expires_at.has_value();
  }
  if (delta.change_all && delta.all.has_value()) {
    if (absl::Status s = check(*delta.all, [] { return std::string("all"); }); !s.ok()) return s;
    sets_expiry = sets_expiry || delta.all->expires_at.has_value();
  }
  if (delta.change_shed && delta.shed.has_value()) {
    if (values == DeltaValues::kBuiltInCode) {
      if (absl::Status s = ValidateShed(*delta.shed, "shed"); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
      }
    }
    sets_expiry = sets_expiry || delta.shed->expires_at.has_value();
  }
  if (delta.change_governor && delta.governor.has_value()) {
    if (values == DeltaValues::kBuiltInCode) {
      if (absl::Status s = ValidateGovernorSetting(*delta.governor, "governor"); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
      }
    }
    sets_expiry = sets_expiry || delta.governor->expires_at.has_value();
  }

  const int l = static_cast<int>(layer);
  std::vector<ChangeEvent> events;
  std::shared_ptr<const Snapshot> old;  // freed after the lock is released
  {
    MutexLock lock(mu_);
    std::vector<ChangeEvent>* want = WantEvents() ? &events : nullptr;
    std::shared_ptr<Snapshot> editable = delta_layers_[l].lock();
    if (editable == nullptr || editable.get() != layers_[l].get()) {
      // The first delta since the layer was replaced: copy it once, edit
      // the copy, and install it as a whole (its entries have new
      // addresses, so every view of the layer is recomputed).
      editable = std::make_shared<Snapshot>(*layers_[l]);
      for (auto& [name, value] : delta.switches) {
        if (value.has_value()) {
          editable->switches[name] = *std::move(value);
        } else {
          editable->switches.erase(name);
        }
      }
      for (auto& [name, value] : delta.groups) {
        if (value.has_value()) {
          editable->groups[name] = *std::move(value);
        } else {
          editable->groups.erase(name);
        }
      }
      if (delta.change_all) editable->all = std::move(delta.all);
      if (delta.change_shed) editable->shed = std::move(delta.shed);
      if (delta.change_governor) editable->governor = std::move(delta.governor);
      delta_layers_[l] = editable;
      ReplaceLayerLocked(layer, editable, cause, want, old);
      EnqueueLocked(events);
    } else {
      const absl::Time now = clock_->Now();
      // The defined switches whose view of this layer may change.
      absl::flat_hash_set<Switch*> affected;
      for (auto& [name, value] : delta.switches) {
        if (value.has_value()) {
          editable->switches[name] = *std::move(value);
        } else {
          editable->switches.erase(name);
        }
        if (Switch* sw = FindLocked(name)) affected.insert(sw);
      }
      if (!delta.groups.empty()) {
        for (auto& [name, value] : delta.groups) {
          if (value.has_value()) {
            editable->groups[name] = *std::move(value);
          } else {
            editable->groups.erase(name);
          }
        }
        for (Switch* sw : switches_) {
          for (const std::string& g : RegistryAccess::Data(*sw).groups) {
            if (delta.groups.contains(g)) {
              affected.insert(sw);
              break;
            }
          }
        }
      }
      if (delta.change_governor) editable->governor = std::move(delta.governor);
      if (delta.change_shed) {
        editable->shed = std::move(delta.shed);
        // A new shed entry: every view of the layer may point at the old one.
        if (SyncShedLocked(layer)) {
          for (Switch* sw : switches_) affected.insert(sw);
        }
      }
      if (delta.change_all) {
        editable->all = std::move(delta.all);
        for (Switch* sw : switches_) affected.insert(sw);
      }
      // Resolved in a fixed order (by name), so events come out the same
      // way whatever the hash order.
      std::vector<Switch*> order(affected.begin(), affected.end());
      std::sort(order.begin(), order.end(), [](const Switch* a, const Switch* b) {
        return RegistryAccess::Data(*a).name < RegistryAccess::Data(*b).name;
      });
      for (Switch* sw : order) ComputeViewLocked(RegistryAccess::Data(*sw), layer, now);
      for (Switch* sw : order) ResolveLocked(*sw, now, cause, want);
      if (sets_expiry) ScheduleExpiryLocked();
      if (delta.change_governor) ApplyGovernorSettingLocked(now, want);
      EnqueueLocked(events);
    }
  }
  Deliver(std::move(events), {});
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace degrade
