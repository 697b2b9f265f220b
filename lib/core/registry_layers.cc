// Layer writes: admin overrides, whole snapshots, and what a layer holds.
// Every write builds the layer's next snapshot, checks it, then replaces the
// layer and resolves (registry_resolve.cc) under one lock, so a write is all
// or nothing.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "core/registry_core.h"
#include "core/snapshot_internal.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

std::string LayerSource(std::string_view source, Layer layer) {
  if (!source.empty()) return std::string(source);
  return std::string(LayerName(layer));
}

// Checks what `layer` accepts of a snapshot, and (when `checked` says they
// are not known to be valid) its names and values. Runs before the registry
// is locked. Entry paths are built only for a message: a snapshot of valid
// values (the common case) is checked without string work.
absl::Status CheckSnapshot(Layer layer, const Snapshot& snapshot, const std::string& who,
                           RegistryCore::Checked checked) {
  const bool values = checked == RegistryCore::Checked::kNothing;
  const bool breaker_layer = layer == Layer::kBreaker;
  if (!values && !breaker_layer) return absl::OkStatus();
  auto check = [&](const SwitchValue& v, absl::FunctionRef<std::string()> path) -> absl::Status {
    if (values) {
      if (absl::Status s = ValidateSwitchValueAt(v, path); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
      }
    }
    if (breaker_layer && (v.state != State::kOff || v.allow || v.SetsFault() || v.SetsBreaker())) {
      return absl::InvalidArgumentError(
          absl::StrCat(who, ": ", path(), ": the breaker layer may only turn a switch off; "
                                          "accepted: \"off\""));
    }
    return absl::OkStatus();
  };
  // Named, not structured bindings: clang 14 (clang-tidy) cannot capture a
  // structured binding in a lambda.
  for (const auto& entry : snapshot.switches) {
    const std::string& name = entry.first;
    if (values) {
      if (absl::Status s = ValidateName(name, "switch name"); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
      }
    }
    if (absl::Status s =
            check(entry.second, [&] { return absl::StrCat("switches.\"", name, "\""); });
        !s.ok()) {
      return s;
    }
  }
  for (const auto& entry : snapshot.groups) {
    const std::string& name = entry.first;
    if (values) {
      if (absl::Status s = ValidateName(name, "group name"); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
      }
    }
    if (absl::Status s =
            check(entry.second, [&] { return absl::StrCat("groups.\"", name, "\""); });
        !s.ok()) {
      return s;
    }
  }
  if (snapshot.all) {
    if (absl::Status s = check(*snapshot.all, [] { return std::string("all"); }); !s.ok()) {
      return s;
    }
  }
  if (values && snapshot.shed) {
    if (absl::Status s = ValidateShed(*snapshot.shed, "shed"); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
    }
  }
  if (values && snapshot.governor) {
    if (absl::Status s = ValidateGovernorSetting(*snapshot.governor, "governor"); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// What a clear or an expiry took away, for its event's reason:
// `admin override by bob ("drill-2")`.
std::string DescribeEntry(Layer layer, const SwitchValue& v) {
  std::string out = layer == Layer::kAdmin ? std::string("admin override")
                                           : absl::StrCat(ToAbsl(LayerName(layer)), " entry");
  if (!v.actor.empty()) absl::StrAppend(&out, " by ", v.actor);
  if (!v.reason.empty()) absl::StrAppend(&out, " (\"", v.reason, "\")");
  return out;
}

Cause SourceCause(std::string_view source, Layer layer) {
  Cause cause;
  cause.entries_of = layer;
  if (source.empty()) {
    cause.actor = std::string(LayerName(layer));
    cause.reason = absl::StrCat(cause.actor, " layer applied");
    return cause;
  }
  const size_t space = source.find(' ');
  cause.actor = std::string(source.substr(0, space));
  if (cause.actor == "file" && space != std::string_view::npos) {
    cause.reason = absl::StrCat(ToAbsl(source.substr(space + 1)), " reloaded");
  } else {
    cause.reason = absl::StrCat(ToAbsl(source), " applied");
  }
  return cause;
}

absl::Status SetOverrideWithCause(Registry& registry, std::string_view name, SwitchValue value,
                                  absl::Duration ttl, Cause cause) {
  return RegistryAccess::Core(registry).SetOverride(name, std::move(value), ttl,
                                                    std::move(cause));
}

absl::Status ClearOverrideWithCause(Registry& registry, std::string_view name, Cause cause) {
  return RegistryAccess::Core(registry).ClearOverride(name, std::move(cause));
}

absl::Status SetShedWithCause(Registry& registry, Shed shed, absl::Duration ttl, Cause cause) {
  return RegistryAccess::Core(registry).SetShed(std::move(shed), ttl, std::move(cause));
}

absl::Status ClearShedWithCause(Registry& registry, Cause cause) {
  return RegistryAccess::Core(registry).ClearShed(std::move(cause));
}

absl::Status ApplySnapshotWithCause(Registry& registry, Layer layer, Snapshot snapshot,
                                    std::string_view source, const Cause& cause) {
  return RegistryAccess::Core(registry).ApplySnapshot(layer, std::move(snapshot), source,
                                                      RegistryCore::Checked::kNothing, cause);
}

absl::Status RegistryCore::SetOverride(std::string_view name, SwitchValue value,
                                       absl::Duration ttl, Cause cause) {
  if (ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("override of \"", ToAbsl(name), "\": ttl ", absl::FormatDuration(ttl),
                     " is negative; accepted: a positive duration, or zero for none"));
  }
  if (absl::Status s = ValidateSwitchValueAt(
          value, [&] { return absl::StrCat("override of \"", ToAbsl(name), "\""); });
      !s.ok()) {
    return s;
  }
  if (value.actor.empty()) value.actor = cause.actor.empty() ? "api" : cause.actor;
  if (cause.actor.empty()) cause.actor = value.actor;
  if (cause.reason.empty()) cause.reason = value.reason;
  std::vector<ChangeEvent> events;
  std::shared_ptr<const Snapshot> old;  // freed after the lock is released
  {
    MutexLock lock(mu_);
    if (FindLocked(name) == nullptr) {
      return absl::NotFoundError(absl::StrCat("switch \"", ToAbsl(name), "\" is not defined"));
    }
    if (ttl > absl::ZeroDuration()) value.expires_at = clock_->Now() + ttl;
    auto next = std::make_shared<Snapshot>(LayerLocked(Layer::kAdmin));
    next->switches[std::string(name)] = std::move(value);
    ReplaceLayerLocked(Layer::kAdmin, std::move(next), cause, WantEvents() ? &events : nullptr,
                       old);
    EnqueueLocked(events);
  }
  Deliver(std::move(events), {});
  return absl::OkStatus();
}

absl::Status RegistryCore::ClearOverride(std::string_view name, Cause cause) {
  std::vector<ChangeEvent> events;
  std::shared_ptr<const Snapshot> old;  // freed after the lock is released
  {
    MutexLock lock(mu_);
    if (FindLocked(name) == nullptr) {
      return absl::NotFoundError(absl::StrCat("switch \"", ToAbsl(name), "\" is not defined"));
    }
    const Snapshot& admin = LayerLocked(Layer::kAdmin);
    auto it = admin.switches.find(std::string(name));
    if (it == admin.switches.end()) return absl::OkStatus();
    if (cause.reason.empty()) {
      cause.reason = absl::StrCat(DescribeEntry(Layer::kAdmin, it->second), " cleared");
    }
    auto next = std::make_shared<Snapshot>(admin);
    next->switches.erase(std::string(name));
    ReplaceLayerLocked(Layer::kAdmin, std::move(next), cause, WantEvents() ? &events : nullptr,
                       old);
    EnqueueLocked(events);
  }
  Deliver(std::move(events), {});
  return absl::OkStatus();
}

absl::Status RegistryCore::SetShed(Shed shed, absl::Duration ttl, Cause cause) {
  if (ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("shed: ttl ", absl::FormatDuration(ttl),
                     " is negative; accepted: a positive duration, or zero for none"));
  }
  if (absl::Status s = ValidateShed(shed, "shed"); !s.ok()) return s;
  if (shed.actor.empty()) shed.actor = cause.actor.empty() ? "api" : cause.actor;
  if (cause.actor.empty()) cause.actor = shed.actor;
  std::vector<ChangeEvent> events;
  std::shared_ptr<const Snapshot> old;  // freed after the lock is released
  {
    MutexLock lock(mu_);
    if (ttl > absl::ZeroDuration()) shed.expires_at = clock_->Now() + ttl;
    if (cause.reason.empty()) cause.reason = ShedText(shed);
    auto next = std::make_shared<Snapshot>(LayerLocked(Layer::kAdmin));
    next->shed = std::move(shed);
    ReplaceLayerLocked(Layer::kAdmin, std::move(next), cause, WantEvents() ? &events : nullptr,
                       old);
    EnqueueLocked(events);
  }
  Deliver(std::move(events), {});
  return absl::OkStatus();
}

absl::Status RegistryCore::ClearShed(Cause cause) {
  std::vector<ChangeEvent> events;
  std::shared_ptr<const Snapshot> old;  // freed after the lock is released
  {
    MutexLock lock(mu_);
    const Snapshot& admin = LayerLocked(Layer::kAdmin);
    if (!admin.shed.has_value()) return absl::OkStatus();
    if (cause.reason.empty()) {
      cause.reason = absl::StrCat(DescribeShed(Layer::kAdmin, *admin.shed), " cleared");
    }
    auto next = std::make_shared<Snapshot>(admin);
    next->shed.reset();
    ReplaceLayerLocked(Layer::kAdmin, std::move(next), cause, WantEvents() ? &events : nullptr,
                       old);
    EnqueueLocked(events);
  }
  Deliver(std::move(events), {});
  return absl::OkStatus();
}

std::vector<LayerShed> RegistryCore::Sheds() const {
  MutexLock lock(mu_);
  const absl::Time now = clock_->Now();
  std::vector<LayerShed> out;
  for (int l = 1; l < kLayerCount; ++l) {
    const ShedEntry* entry = shed_entries_[l].get();
    if (entry != nullptr && !Expired(entry->off, now)) {
      out.push_back({static_cast<Layer>(l), entry->shed});
    }
  }
  return out;
}

absl::Status RegistryCore::ApplySnapshot(Layer layer, Snapshot snapshot, std::string_view source,
                                         Checked checked, const Cause& cause) {
  const std::string who = LayerSource(source, layer);
  if (layer == Layer::kDefault || layer == Layer::kEnv || layer == Layer::kGovernor) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, ": the ", ToAbsl(LayerName(layer)),
        " layer cannot be set by a snapshot; accepted layers: file, remote, breaker, admin"));
  }
  if (absl::Status s = CheckSnapshot(layer, snapshot, who, checked); !s.ok()) return s;
  // Moving a std::map keeps its nodes, so entries keep their addresses.
  auto next = std::make_shared<const Snapshot>(std::move(snapshot));
  std::vector<ChangeEvent> events;
  // The layer replaced: freed after the lock is released (a big snapshot's
  // thousands of entries are not freed while the registry is locked).
  std::shared_ptr<const Snapshot> old;
  {
    MutexLock lock(mu_);
    ReplaceLayerLocked(layer, std::move(next), cause, WantEvents() ? &events : nullptr, old);
    EnqueueLocked(events);
  }
  Deliver(std::move(events), {});
  return absl::OkStatus();
}

Snapshot RegistryCore::LayerSnapshot(Layer layer) const {
  MutexLock lock(mu_);
  Snapshot out = LayerLocked(layer);
  if (layer == Layer::kBreaker) {
    for (const Switch* sw : breaker_switches_) {
      const SwitchData& d = RegistryAccess::Data(*sw);
      if (d.breaker->holds_off()) out.switches[d.name] = d.breaker->open_entry();
    }
  }
  return out;
}

}  // namespace degrade::internal
