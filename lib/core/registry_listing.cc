// Listings: a switch as SwitchInfo (its resolved state, every layer's say,
// counters, breaker), for every defined switch and every name a layer
// mentions.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/registry_core.h"
#include "core/str_util.h"
#include "degrade/env.h"
#include "degrade/internal/counters.h"

namespace degrade::internal {

SwitchInfo RegistryCore::InfoLocked(const Switch* sw, std::string_view unknown_name) const {
  SwitchInfo info;
  const absl::Time now = clock_->Now();
  if (sw == nullptr) {
    // Named by a layer, not defined here: show what each layer says.
    info.name = std::string(unknown_name);
    info.defined = false;
    info.env_var = EnvVarForSwitch(unknown_name);
    for (int l = 1; l < kLayerCount; ++l) {
      const Snapshot& snap = *layers_[l];
      auto it = snap.switches.find(info.name);
      if (it != snap.switches.end() && !Expired(it->second, now)) {
        info.layers.push_back({static_cast<Layer>(l), "switch", it->second});
        if (it->second.SetsState()) {
          info.effective = EffectiveFrom(&it->second, nullptr);
          info.deciding_layer = static_cast<Layer>(l);
          info.reason = it->second.reason;
          info.actor = it->second.actor;
          info.expires_at = it->second.expires_at;
        }
      }
    }
    return info;
  }
  const SwitchData& d = RegistryAccess::Data(*sw);
  info.name = d.name;
  info.description = d.description;
  info.owner = d.owner;
  info.groups = d.groups;
  info.tier = d.tier;
  info.env_var = EnvVarForSwitch(d.name);
  info.effective = d.effective;
  info.deciding_layer = d.deciding_layer;
  info.fault_layer = d.fault_layer;
  // The deciding entry, as resolved: views change only together with a
  // resolution, so this is the entry the effective state came from.
  const SwitchValue& deciding = *d.state_views[static_cast<int>(d.deciding_layer)];
  info.reason = deciding.reason;
  info.actor = deciding.actor;
  info.expires_at = deciding.expires_at;
  info.layers.push_back({Layer::kDefault, "switch", DefaultEntry(d)});
  for (int l = 1; l < kLayerCount; ++l) {
    const Snapshot& snap = *layers_[l];
    const Layer layer = static_cast<Layer>(l);
    if (layer == Layer::kBreaker && d.breaker != nullptr && d.breaker->holds_off()) {
      info.layers.push_back({layer, "switch", d.breaker->open_entry()});
    }
    if (auto it = snap.switches.find(d.name);
        it != snap.switches.end() && !Expired(it->second, now)) {
      info.layers.push_back({layer, "switch", it->second});
    }
    for (const std::string& g : d.groups) {
      if (auto it = snap.groups.find(g); it != snap.groups.end() && !Expired(it->second, now)) {
        info.layers.push_back({layer, absl::StrCat("group:", g), it->second});
        if (&it->second == &deciding) info.scope = info.layers.back().scope;
      }
    }
    if (const ShedEntry* shed = shed_entries_[l].get();
        shed != nullptr && d.tier != 0 && d.tier >= shed->shed.level && !Expired(shed->off, now)) {
      info.layers.push_back({layer, "shed", shed->off});
      if (&shed->off == &deciding) info.scope = "shed";
    }
    if (snap.all.has_value() && !Expired(*snap.all, now)) {
      info.layers.push_back({layer, "all", *snap.all});
      if (&*snap.all == &deciding) info.scope = "all";
    }
  }
  const OutcomeTotals t = ReadOutcomes(RegistryAccess::Id(*sw));
  const uint64_t ok = t.by_outcome[kOutcomeOk];
  const uint64_t failed = t.by_outcome[kOutcomeFailed];
  const uint64_t skipped = t.by_outcome[kOutcomeSkipped];
  const uint64_t fault_error = t.by_outcome[kOutcomeFaultError];
  const uint64_t fault_delay = t.by_outcome[kOutcomeFaultDelay];
  info.counters.calls = ok + failed + skipped + fault_error;
  info.counters.primary_ok = ok;
  info.counters.skipped = skipped;
  info.counters.primary_failures = failed;
  info.counters.injected_faults = fault_error + fault_delay;
  info.counters.fallbacks = skipped + failed + fault_error;
  if (d.breaker != nullptr && d.breaker->attached()) {
    info.breaker = d.breaker->Info(now, d.breaker->NowNs());
  }
  return info;
}

std::vector<SwitchInfo> RegistryCore::List() const {
  MutexLock lock(mu_);
  std::vector<SwitchInfo> out;
  out.reserve(switches_.size());
  for (const Switch* sw : switches_) out.push_back(InfoLocked(sw, {}));
  std::sort(out.begin(), out.end(),
            [](const SwitchInfo& a, const SwitchInfo& b) { return a.name < b.name; });
  // Then the names layers mention that this process does not define.
  std::vector<std::string> unknown;
  for (int l = 1; l < kLayerCount; ++l) {
    for (const auto& [name, value] : layers_[l]->switches) {
      if (FindLocked(name) == nullptr) unknown.push_back(name);
    }
  }
  std::sort(unknown.begin(), unknown.end());
  unknown.erase(std::unique(unknown.begin(), unknown.end()), unknown.end());
  for (const std::string& name : unknown) out.push_back(InfoLocked(nullptr, name));
  return out;
}

absl::StatusOr<SwitchInfo> RegistryCore::Get(std::string_view name) const {
  MutexLock lock(mu_);
  if (const Switch* sw = FindLocked(name)) return InfoLocked(sw, {});
  for (int l = 1; l < kLayerCount; ++l) {
    if (layers_[l]->switches.contains(std::string(name))) return InfoLocked(nullptr, name);
  }
  return absl::NotFoundError(absl::StrCat("switch \"", ToAbsl(name), "\" is not defined"));
}

}  // namespace degrade::internal
