// Definition: the rules a switch must pass to join the registry (valid
// names and default, one owner per environment variable, the id limit),
// registration and its undoing, and lookup by name.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/registry_core.h"
#include "core/snapshot_internal.h"
#include "degrade/env.h"
#include "degrade/internal/counters.h"

namespace degrade::internal {

Switch* RegistryCore::FindLocked(std::string_view name) const {
  auto it = switches_.find(name);
  if (it == switches_.end() || RegistryAccess::Data(**it).name != name) return nullptr;
  return *it;
}

absl::Status RegistryCore::Adopt(Switch& sw) {
  SwitchData& d = RegistryAccess::Data(sw);
  const std::string& name = d.name;
  if (absl::Status s = ValidateName(name, "switch name"); !s.ok()) return s;
  for (const std::string& g : d.groups) {
    if (absl::Status s = ValidateName(g, "group name"); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("switch \"", name, "\": ", s.message()));
    }
  }
  if (d.tier < 0 || d.tier > kMaxTier) {
    return absl::InvalidArgumentError(
        absl::StrCat("switch \"", name, "\": tier ", d.tier,
                     " is out of range; accepted: 0 (no tier, the default) or 1 (shed last) to ",
                     kMaxTier, " (shed first)"));
  }
  if (absl::Status s = ValidateSwitchValueAt(
          DefaultEntry(d), [&] { return absl::StrCat("switch \"", name, "\" default"); });
      !s.ok()) {
    return s;
  }

  std::vector<ChangeEvent> events;
  std::vector<PendingLog> logs;
  {
    MutexLock lock(mu_);
    const Switch* same_var = nullptr;
    if (auto it = switches_.find(std::string_view(name)); it != switches_.end()) {
      if (RegistryAccess::Data(**it).name == name) {
        return absl::AlreadyExistsError(absl::StrCat(
            "switch \"", name, "\" is already defined; define it once and share it with "
            "DEGRADE_DECLARE_SWITCH"));
      }
      same_var = *it;
    }
    const std::string env_var = EnvVarForSwitch(name);
    if (IsReservedEnvVar(env_var)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "switch \"", name, "\" would be set by ", env_var,
          ", which degrade reserves for its own configuration; rename the switch"));
    }
    if (same_var != nullptr) {
      // A switch's variable never starts DEGRADE_GROUP_ (reserved above), so
      // only another switch can hold it.
      return absl::AlreadyExistsError(absl::StrCat(
          "switch \"", name, "\" and switch \"", RegistryAccess::Data(*same_var).name,
          "\" would share the variable ", env_var, "; rename one of them"));
    }
    // Each group variable has one owner, across switches and within this spec.
    for (size_t i = 0; i < d.groups.size(); ++i) {
      const std::string& g = d.groups[i];
      for (size_t j = 0; j < i; ++j) {
        if (EnvNameEq::Same(d.groups[j], g) && d.groups[j] != g) {
          return absl::AlreadyExistsError(absl::StrCat(
              "groups \"", d.groups[j], "\" and \"", g, "\" of switch \"", name,
              "\" would share the variable ", EnvVarForGroup(g), "; rename one of them"));
        }
      }
      if (auto it = groups_.find(std::string_view(g)); it != groups_.end() && *it != g) {
        return absl::AlreadyExistsError(absl::StrCat(
            "group \"", g, "\" of switch \"", name, "\" and group \"", *it,
            "\" would share the variable ", EnvVarForGroup(g), "; rename one of them"));
      }
    }
    if (RegistryAccess::Id(sw) >= kMaxSwitchIds) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "switch \"", name, "\": a process may define at most ", kMaxSwitchIds, " switches"));
    }
    ReadEnvForLocked(d, logs);
    for (const std::string& g : d.groups) groups_.insert(g);
    d.registry = owner_;
    switches_.insert(&sw);
    const absl::Time now = clock_->Now();
    for (int l = 0; l < kLayerCount; ++l) ComputeViewLocked(d, static_cast<Layer>(l), now);
    // A new switch's first state is where it starts, not a change: no event.
    ResolveLocked(sw, now, MakeCause("code", "defined"), nullptr);
    ScheduleExpiryLocked();
  }
  Deliver(std::move(events), logs);
  return absl::OkStatus();
}

void RegistryCore::Unregister(Switch& sw) {
  MutexLock lock(mu_);
  if (destroying_) return;
  SwitchData& d = RegistryAccess::Data(sw);
  auto it = switches_.find(std::string_view(d.name));
  if (it == switches_.end() || *it != &sw) return;
  switches_.erase(it);
  std::erase(breaker_switches_, &sw);
  d.observer.store(nullptr, std::memory_order_release);
  d.registry = nullptr;
}

absl::StatusOr<Switch*> RegistryCore::Define(SwitchSpec spec) {
  auto data = std::make_unique<SwitchData>();
  SetSpec(*data, std::move(spec));
  data->registry_owned = true;
  std::unique_ptr<Switch> sw = RegistryAccess::MakeOwned(std::move(data));
  if (absl::Status s = Adopt(*sw); !s.ok()) return s;
  // Registered: the registry frees it (see ~RegistryCore).
  return sw.release();
}

Switch* RegistryCore::Find(std::string_view name) const {
  MutexLock lock(mu_);
  return FindLocked(name);
}

}  // namespace degrade::internal
