// Resolution: from the layers to each switch's views (the entries that decide
// its state, fault and breaker policy in each layer), from the views to its
// effective state, published into its words.
//
// Each layer is an immutable Snapshot held by shared_ptr; replacing a layer
// recomputes, for every switch, that layer's view and then resolves the
// switch from its seven cached views. A switch's own entry is found from the
// snapshot's side, one hash lookup per entry; no string is copied per
// switch, and change events are built only for changes someone listens to.
// Effective states are published into the switches' atomic words before the
// lock is released. Measured costs: README "Performance" (10,000 switches:
// a snapshot applied in a few ms, under 512 bytes per switch;
// tests/memory_test.cc holds the latter).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/registry_core.h"

namespace degrade::internal {
namespace {

// What an event reports of an entry beyond the effective state: its actor,
// reason and expiry, hashed (see SwitchData::outcome_tag).
uint64_t OutcomeTag(const SwitchValue& state_entry, const SwitchValue* fault_entry) {
  auto expiry = [](const SwitchValue* v) {
    return v != nullptr && v->expires_at ? absl::ToUnixNanos(*v->expires_at) : INT64_MIN;
  };
  auto text = [](const std::string* t) {
    return t == nullptr ? absl::string_view() : absl::string_view(t->data(), t->size());
  };
  return absl::Hash<std::tuple<absl::string_view, absl::string_view, int64_t, absl::string_view,
                               absl::string_view, int64_t>>{}(
      std::make_tuple(text(&state_entry.actor), text(&state_entry.reason), expiry(&state_entry),
                      text(fault_entry != nullptr ? &fault_entry->actor : nullptr),
                      text(fault_entry != nullptr ? &fault_entry->reason : nullptr),
                      expiry(fault_entry)));
}

}  // namespace

EffectiveState EffectiveFrom(const SwitchValue* state_entry, const SwitchValue* fault_entry) {
  EffectiveState e;
  if (state_entry != nullptr) {
    // `allow` without `state` means on with that fraction.
    e.state = state_entry->state.value_or(State::kOn);
    e.allow = e.state == State::kOn ? state_entry->allow.value_or(1.0) : 1.0;
  }
  if (fault_entry != nullptr && fault_entry->fault.has_value() && e.state == State::kOn) {
    e.fault = fault_entry->fault;
  }
  return e;
}

void RegistryCore::ComputeViewLocked(SwitchData& data, Layer layer, absl::Time now) const {
  const SwitchValue* own = nullptr;
  if (layer != Layer::kDefault) {
    const Snapshot& snap = *layers_[static_cast<int>(layer)];
    if (!snap.switches.empty()) {
      if (auto it = snap.switches.find(data.name); it != snap.switches.end()) own = &it->second;
    }
  }
  SetViewLocked(data, layer, own, now);
}

void RegistryCore::SetViewLocked(SwitchData& data, Layer layer, const SwitchValue* own,
                                 absl::Time now) const {
  const int l = static_cast<int>(layer);
  const SwitchValue* state = nullptr;
  const SwitchValue* fault = nullptr;
  const SwitchValue* breaker = nullptr;
  if (layer == Layer::kDefault) {
    state = &DefaultEntry(data);
    if (state->SetsBreaker()) breaker = state;
  } else {
    // An open breaker's "off" is the breaker layer's entry for its switch
    // (kept in the breaker, not in the layer's snapshot, so that tripping
    // one breaker touches one switch).
    if (layer == Layer::kBreaker && data.breaker != nullptr && data.breaker->holds_off()) {
      state = &data.breaker->open_entry();
    }
    const Snapshot& snap = *layers_[l];
    if (own != nullptr && !Expired(*own, now)) {
      if (state == nullptr && own->SetsState()) state = own;
      if (own->SetsFault()) fault = own;
      if (own->SetsBreaker()) breaker = own;
    }
    if ((state == nullptr || fault == nullptr || breaker == nullptr) && !snap.groups.empty()) {
      const SwitchValue* group_state = nullptr;
      for (const std::string& group : data.groups) {
        auto it = snap.groups.find(group);
        if (it == snap.groups.end() || Expired(it->second, now)) continue;
        const SwitchValue& v = it->second;
        if (v.SetsState() &&
            (group_state == nullptr || Degradation(v) < Degradation(*group_state))) {
          group_state = &v;
        }
        if (fault == nullptr && v.SetsFault()) fault = &v;
        if (breaker == nullptr && v.SetsBreaker()) breaker = &v;
      }
      if (state == nullptr) state = group_state;
    }
    // The layer's shed: below the switch's and its groups' entries, above
    // "all". Tier 0 is never shed.
    if (state == nullptr && data.tier != 0) {
      const ShedEntry* shed = shed_entries_[l].get();
      if (shed != nullptr && data.tier >= shed->shed.level && !Expired(shed->off, now)) {
        state = &shed->off;
      }
    }
    if (snap.all.has_value() && !Expired(*snap.all, now)) {
      if (state == nullptr && snap.all->SetsState()) state = &*snap.all;
      if (fault == nullptr && snap.all->SetsFault()) fault = &*snap.all;
      if (breaker == nullptr && snap.all->SetsBreaker()) breaker = &*snap.all;
    }
  }
  data.state_views[l] = state;
  if (data.rare == nullptr && fault == nullptr && breaker == nullptr) return;
  if (data.rare == nullptr) data.rare = std::make_unique<RareViews>();
  data.rare->fault[l] = fault;
  data.rare->breaker[l] = breaker;
}

std::string ShedText(const Shed& shed) {
  std::string out = absl::StrCat("shed at tier \u2265 ", shed.level);
  if (!shed.actor.empty()) absl::StrAppend(&out, " by ", shed.actor);
  if (!shed.reason.empty()) absl::StrAppend(&out, ": ", shed.reason);
  return out;
}

std::string DescribeShed(Layer layer, const Shed& shed) {
  std::string out =
      absl::StrCat(absl::string_view(LayerName(layer).data(), LayerName(layer).size()),
                   " shed at tier \u2265 ", shed.level);
  if (!shed.actor.empty()) absl::StrAppend(&out, " by ", shed.actor);
  if (!shed.reason.empty()) absl::StrAppend(&out, " (\"", shed.reason, "\")");
  return out;
}

bool RegistryCore::SyncShedLocked(Layer layer) {
  const int l = static_cast<int>(layer);
  const std::optional<Shed>& shed = layers_[l]->shed;
  std::unique_ptr<const ShedEntry>& entry = shed_entries_[l];
  if (!shed.has_value()) {
    if (entry == nullptr) return false;
    entry.reset();
    return true;
  }
  if (entry != nullptr && entry->shed == *shed) return false;
  auto next = std::make_unique<ShedEntry>();
  next->shed = *shed;
  next->off.state = State::kOff;
  next->off.actor = shed->actor;
  next->off.reason = ShedText(*shed);
  next->off.expires_at = shed->expires_at;
  entry = std::move(next);
  return true;
}

void RegistryCore::RecomputeLayerLocked(Layer layer, absl::Time now, bool resolve,
                                        const Cause& cause, std::vector<ChangeEvent>* events,
                                        bool own_entries_found) {
  // Every view of the layer is recomputed below, so a new shed entry may
  // replace the old one here.
  SyncShedLocked(layer);
  const Snapshot& snap = LayerLocked(layer);
  // Own entries from the snapshot's side (a hash lookup per entry) unless
  // the snapshot names many more switches than are defined here (then a
  // tree search per switch is cheaper).
  const bool from_entries =
      own_entries_found || snap.switches.size() <= 4 * switches_.size() + 16;
  // Room for an event per switch up front when someone listens, rather
  // than growing (and moving every event) as a big change is resolved.
  if (resolve && events != nullptr) events->reserve(events->size() + switches_.size());
  if (from_entries && !own_entries_found) {
    for (const auto& [name, value] : snap.switches) {
      if (Switch* sw = FindLocked(name)) RegistryAccess::Data(*sw).pending_own = &value;
    }
  }
  for (Switch* sw : switches_) {
    SwitchData& d = RegistryAccess::Data(*sw);
    if (from_entries) {
      SetViewLocked(d, layer, std::exchange(d.pending_own, nullptr), now);
    } else {
      ComputeViewLocked(d, layer, now);
    }
    if (resolve) ResolveLocked(*sw, now, cause, events);
  }
}

void RegistryCore::ResolveLocked(Switch& sw, absl::Time now, const Cause& cause,
                                 std::vector<ChangeEvent>* events) {
  SwitchData& d = RegistryAccess::Data(sw);
  if (d.rare != nullptr || d.breaker != nullptr) SyncBreakerLocked(sw, now);
  int state_layer = 0;  // the default layer always has an entry
  for (int l = kLayerCount - 1; l > 0; --l) {
    if (d.state_views[l] != nullptr) {
      state_layer = l;
      break;
    }
  }
  // The governor only reduces: where the layers below it decide off, or an
  // allow at or below its own, they decide.
  if (state_layer == static_cast<int>(Layer::kGovernor)) {
    int below = 0;
    for (int l = state_layer - 1; l > 0; --l) {
      if (d.state_views[l] != nullptr) {
        below = l;
        break;
      }
    }
    const EffectiveState lower = EffectiveFrom(d.state_views[below], nullptr);
    const EffectiveState governed = EffectiveFrom(d.state_views[state_layer], nullptr);
    if (lower.state == State::kOff ||
        (governed.state == State::kOn && lower.allow <= governed.allow)) {
      state_layer = below;
    }
  }
  const SwitchValue* state_entry = d.state_views[state_layer];
  const SwitchValue* fault_entry = nullptr;
  std::optional<Layer> fault_layer;
  if (d.rare != nullptr) {
    for (int l = kLayerCount - 1; l >= 0; --l) {
      if (d.rare->fault[l] != nullptr) {
        fault_entry = d.rare->fault[l];
        if (fault_entry->fault.has_value()) fault_layer = static_cast<Layer>(l);
        break;
      }
    }
  }
  const EffectiveState next = EffectiveFrom(state_entry, fault_entry);
  const EffectiveState prev = d.effective;
  const Layer prev_layer = d.deciding_layer;
  const std::optional<Layer> prev_fault_layer = d.fault_layer;
  const Layer layer = static_cast<Layer>(state_layer);
  d.effective = next;
  d.deciding_layer = layer;
  d.fault_layer = fault_layer;
  if (d.breaker != nullptr) {
    // An admin "on" beats an open or half-open breaker: let every call run.
    // (The governor never decides over an open breaker: it only reduces.)
    d.breaker->SetOverridden(layer == Layer::kAdmin && next.calls_pass());
  }
  RegistryAccess::Publish(sw, next, d.observer.load(std::memory_order_relaxed) != nullptr);
  if (events == nullptr) {
    d.outcome_tag_valid = false;
    return;
  }
  // Only a fault that applies is the event's (a hidden one changes nothing).
  const SwitchValue* applied_fault = fault_layer.has_value() ? fault_entry : nullptr;
  const uint64_t tag = OutcomeTag(*state_entry, applied_fault);
  const bool tag_changed = d.outcome_tag_valid && tag != d.outcome_tag;
  d.outcome_tag = tag;
  d.outcome_tag_valid = true;
  if (!cause.always && !tag_changed && prev == next && prev_layer == layer &&
      prev_fault_layer == fault_layer) {
    return;
  }
  // Strings are copied only here, for a change someone receives. The
  // actor and reason are the cause's, or (for a snapshot whose entries speak
  // for themselves) those of the entry that now decides the switch there.
  ChangeEvent& ev = events->emplace_back();
  ev.name = d.name;
  ev.old_state = prev;
  ev.new_state = next;
  ev.old_layer = prev_layer;
  ev.layer = layer;
  ev.old_fault_layer = prev_fault_layer;
  ev.fault_layer = fault_layer;
  ev.expires_at = state_entry->expires_at;
  if (applied_fault != nullptr && applied_fault->expires_at &&
      (!ev.expires_at || *applied_fault->expires_at < *ev.expires_at)) {
    ev.expires_at = applied_fault->expires_at;
  }
  const SwitchValue* speaker = nullptr;
  if (cause.entries_of.has_value()) {
    if (layer == *cause.entries_of && !state_entry->actor.empty()) {
      speaker = state_entry;
    } else if (fault_layer == cause.entries_of && !applied_fault->actor.empty()) {
      speaker = applied_fault;
    }
  }
  if (speaker != nullptr) {
    ev.actor = speaker->actor;
    ev.reason = speaker->reason.empty() ? cause.reason : speaker->reason;
  } else {
    ev.actor = cause.actor;
    ev.reason = cause.reason;
  }
  ev.time = now;
  ev.revision = cause.revision;
}

void RegistryCore::ReplaceLayerLocked(Layer layer, std::shared_ptr<const Snapshot> snapshot,
                                      const Cause& cause, std::vector<ChangeEvent>* events,
                                      std::shared_ptr<const Snapshot>& old,
                                      bool own_entries_found) {
  old = std::exchange(layers_[static_cast<int>(layer)], std::move(snapshot));
  RecomputeLayerLocked(layer, clock_->Now(), /*resolve=*/true, cause, events, own_entries_found);
  ScheduleExpiryLocked();
  // A layer's "governor" field may have changed (the governor's own writes
  // cannot change it).
  if (layer != Layer::kGovernor) ApplyGovernorSettingLocked(clock_->Now(), events);
}

}  // namespace degrade::internal
