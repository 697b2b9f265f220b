// The registry: layers in, effective states out (see degrade/registry.h).
//
// One mutex guards all layer data. Each layer is an immutable Snapshot held
// by shared_ptr; replacing a layer recomputes, for every switch, that layer's
// view (which entry decides state and fault: switch, group or all) and then
// resolves the switch from its six cached views, so applying a layer costs
// one or two map lookups per switch, not six. Effective states are published
// into the switches' atomic words before the lock is released; events are
// queued in the same critical section, so listeners see them in state order,
// and are delivered after it.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "degrade/env.h"
#include "degrade/internal/counters.h"
#include "degrade/testing.h"
#include "registry_core.h"
#include "str_util.h"

namespace degrade {
namespace internal {
namespace {

constexpr size_t kMaxErrors = 100;
// Longest sleep of the expiry timer while an entry is pending (see ExpiryLoop).
constexpr absl::Duration kExpiryRecheck = absl::Seconds(1);

bool Expired(const SwitchValue& v, absl::Time now) {
  return v.expires_at.has_value() && *v.expires_at <= now;
}

// Lower is more degraded: off, then the lowest allow.
double Degradation(const SwitchValue& v) {
  if (v.state == State::kOff) return -1.0;
  return v.allow.value_or(1.0);
}

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

std::string LayerSource(std::string_view source, Layer layer) {
  if (!source.empty()) return std::string(source);
  return std::string(LayerName(layer));
}

}  // namespace

// ------------------------------------------------------------------ Switch glue

void RegistryAccess::Publish(Switch& sw, const EffectiveState& e, bool observe) {
  uint64_t fault_word = 0;
  int64_t flags = observe ? kFlagObserve : 0;
  if (e.fault.has_value() && e.fault->rate > 0.0) {
    const double t = std::ldexp(std::clamp(e.fault->rate, 0.0, 1.0), 32);
    fault_word = MakeFaultWord(
        e.fault->kind == Fault::Kind::kError ? kFaultKindError : kFaultKindDelay,
        static_cast<uint64_t>(t), e.fault->delay_ms);
    flags |= kFlagFault;
  }
  int64_t word;
  if (e.state == State::kOff) {
    word = kWordOff;
  } else if (e.allow >= 1.0) {
    word = MakeOnWord(flags);
  } else {
    const double t = std::ldexp(std::clamp(e.allow, 0.0, 1.0), 32);
    const uint64_t threshold = static_cast<uint64_t>(t);
    word = threshold > kThresholdMask ? MakeOnWord(flags)
                                      : MakeDimmedWord(static_cast<uint32_t>(threshold), flags);
  }
  // The fault word first: a Call that sees the new flags finds the new fault.
  sw.fault_.store(fault_word, std::memory_order_relaxed);
  sw.word_.store(word, std::memory_order_release);
}

std::unique_ptr<Switch> RegistryAccess::MakeOwned(std::unique_ptr<SwitchData> data) {
  return std::unique_ptr<Switch>(new Switch(Switch::RegistryOwned{}, std::move(data)));
}

// ------------------------------------------------------------------ RegistryCore

RegistryCore::RegistryCore(Registry* owner, Registry::Options options)
    : owner_(owner),
      clock_(options.clock != nullptr ? options.clock : &Clock::Real()),
      getenv_(std::move(options.getenv)),
      sink_(std::make_shared<const LogSink>(options.log_sink ? std::move(options.log_sink)
                                                              : StderrLogSink())) {
  for (auto& layer : layers_) layer = std::make_shared<const Snapshot>();
  std::vector<PendingLog> logs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto all = Getenv(kEnvAll)) {
      auto parsed = ParseEnvValue(kEnvAll, *all);
      if (parsed.ok()) {
        parsed->actor = "env";
        parsed->reason = absl::StrCat(ToAbsl(kEnvAll), "=", *all);
        env_layer_.all = *std::move(parsed);
      } else {
        logs.push_back({LogLevel::kError, absl::StrCat("env: ", parsed.status().message(),
                                                       "; ignored")});
      }
    }
    // The env layer is env_layer_ itself, never copied: it only grows, and
    // std::map nodes keep their addresses, so every switch's env view stays
    // valid while later definitions add entries.
    layers_[static_cast<int>(Layer::kEnv)] =
        std::shared_ptr<const Snapshot>(std::shared_ptr<void>(), &env_layer_);
    // Audit trail without code: DEGRADE_LOG_CHANGES=on prints change events.
    if (auto v = Getenv("DEGRADE_LOG_CHANGES")) {
      auto parsed = ParseEnvValue("DEGRADE_LOG_CHANGES", *v);
      if (parsed.ok()) {
        log_changes_ = parsed->state == State::kOn;
      } else {
        logs.push_back({LogLevel::kError, absl::StrCat("env: ", parsed.status().message(),
                                                       "; ignored")});
      }
    }
  }
  for (auto& l : logs) Log(l.level, l.message);
}

RegistryCore::~RegistryCore() {
  StopBreakerThread();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    destroying_ = true;
    breaker_switches_.clear();
  }
  expiry_cv_.notify_all();
  if (expiry_thread_.joinable()) expiry_thread_.join();
  std::vector<std::unique_ptr<Switch>> owned;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, sw] : switches_) RegistryAccess::Data(*sw).registry = nullptr;
    switches_.clear();
    owned.swap(owned_);
  }
  owned.clear();
}

std::optional<std::string> RegistryCore::Getenv(std::string_view var) const {
  if (getenv_) return getenv_(var);
  const char* v = std::getenv(std::string(var).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

void RegistryCore::ReadEnvForLocked(SwitchData& data, std::vector<PendingLog>& logs) {
  auto read = [&](const std::string& var, std::map<std::string, SwitchValue>& into,
                  const std::string& key) {
    auto raw = Getenv(var);
    if (!raw) return;
    auto parsed = ParseEnvValue(var, *raw);
    if (!parsed.ok()) {
      logs.push_back({LogLevel::kError, absl::StrCat("env: ", parsed.status().message(),
                                                     "; ignored")});
      return;
    }
    parsed->actor = "env";
    parsed->reason = absl::StrCat(var, "=", *raw);
    into[key] = *std::move(parsed);
  };
  read(data.env_var, env_layer_.switches, data.spec.name);
  for (const std::string& group : data.spec.groups) {
    if (env_layer_.groups.contains(group)) continue;
    // A group variable is read once, by its first member.
    std::string var = EnvVarForGroup(group);
    if (env_owners_.contains(var)) continue;
    read(var, env_layer_.groups, group);
  }
}

void RegistryCore::ComputeViewLocked(SwitchData& data, Layer layer, absl::Time now) const {
  LayerView& view = data.views[static_cast<int>(layer)];
  view = LayerView{};
  if (layer == Layer::kDefault) {
    view.state_entry = &data.default_value;
    view.state_scope = "switch";
    if (data.default_value.SetsBreaker()) {
      view.breaker_entry = &data.default_value;
      view.breaker_scope = "switch";
    }
    return;
  }
  // An open breaker's "off" is the breaker layer's entry for its switch
  // (kept in the breaker, not in the layer's snapshot, so that tripping one
  // breaker touches one switch).
  if (layer == Layer::kBreaker && data.breaker != nullptr && data.breaker->holds_off()) {
    view.state_entry = &data.breaker->open_entry();
    view.state_scope = "switch";
  }
  const Snapshot& snap = *layers_[static_cast<int>(layer)];
  if (snap.empty()) return;
  if (auto it = snap.switches.find(data.spec.name); it != snap.switches.end() &&
                                                     !Expired(it->second, now)) {
    if (view.state_entry == nullptr && it->second.SetsState()) {
      view.state_entry = &it->second;
      view.state_scope = "switch";
    }
    if (it->second.SetsFault()) {
      view.fault_entry = &it->second;
      view.fault_scope = "switch";
    }
    if (it->second.SetsBreaker()) {
      view.breaker_entry = &it->second;
      view.breaker_scope = "switch";
    }
  }
  if ((view.state_entry == nullptr || view.fault_entry == nullptr ||
       view.breaker_entry == nullptr) &&
      !snap.groups.empty()) {
    const SwitchValue* group_state = nullptr;
    std::string_view group_state_name;
    for (const std::string& group : data.spec.groups) {
      auto it = snap.groups.find(group);
      if (it == snap.groups.end() || Expired(it->second, now)) continue;
      const SwitchValue& v = it->second;
      if (v.SetsState() && (group_state == nullptr || Degradation(v) < Degradation(*group_state))) {
        group_state = &v;
        group_state_name = it->first;
      }
      if (view.fault_entry == nullptr && v.SetsFault()) {
        view.fault_entry = &v;
        view.fault_scope = it->first;  // prefixed "group:" when listed
      }
      if (view.breaker_entry == nullptr && v.SetsBreaker()) {
        view.breaker_entry = &v;
        view.breaker_scope = it->first;
      }
    }
    if (view.state_entry == nullptr && group_state != nullptr) {
      view.state_entry = group_state;
      view.state_scope = group_state_name;
    }
  }
  if (snap.all.has_value() && !Expired(*snap.all, now)) {
    if (view.state_entry == nullptr && snap.all->SetsState()) {
      view.state_entry = &*snap.all;
      view.state_scope = "all";
    }
    if (view.fault_entry == nullptr && snap.all->SetsFault()) {
      view.fault_entry = &*snap.all;
      view.fault_scope = "all";
    }
    if (view.breaker_entry == nullptr && snap.all->SetsBreaker()) {
      view.breaker_entry = &*snap.all;
      view.breaker_scope = "all";
    }
  }
}

void RegistryCore::ResolveLocked(Switch& sw, absl::Time now, std::string_view source,
                                 std::vector<ChangeEvent>& events) {
  SyncBreakerLocked(sw, now);
  SwitchData& d = RegistryAccess::Data(sw);
  const SwitchValue* state_entry = nullptr;
  const SwitchValue* fault_entry = nullptr;
  Layer state_layer = Layer::kDefault;
  std::optional<Layer> fault_layer;
  for (int l = kLayerCount - 1; l >= 0; --l) {
    const LayerView& v = d.views[l];
    if (state_entry == nullptr && v.state_entry != nullptr) {
      state_entry = v.state_entry;
      state_layer = static_cast<Layer>(l);
    }
    if (fault_entry == nullptr && v.fault_entry != nullptr) {
      fault_entry = v.fault_entry;
      fault_layer = static_cast<Layer>(l);
    }
  }
  const EffectiveState next = EffectiveFrom(state_entry, fault_entry);
  const EffectiveState prev = d.effective;
  const Layer prev_layer = d.deciding_layer;
  d.effective = next;
  d.deciding_layer = state_layer;
  d.fault_layer = (fault_entry != nullptr && fault_entry->fault.has_value()) ? fault_layer
                                                                             : std::nullopt;
  d.reason = state_entry != nullptr ? state_entry->reason : std::string();
  d.actor = state_entry != nullptr ? state_entry->actor : std::string();
  d.expires_at = state_entry != nullptr ? state_entry->expires_at : std::nullopt;
  if (d.breaker != nullptr) {
    // An admin "on" beats an open or half-open breaker: let every call run.
    d.breaker->SetOverridden(state_layer > Layer::kBreaker && next.calls_pass());
  }
  RegistryAccess::Publish(sw, next, d.observer.load(std::memory_order_relaxed) != nullptr);
  if (prev == next && prev_layer == state_layer) return;
  ChangeEvent ev;
  ev.name = d.spec.name;
  ev.old_state = prev;
  ev.new_state = next;
  ev.old_layer = prev_layer;
  ev.layer = state_layer;
  ev.actor = d.actor.empty() ? std::string(source) : d.actor;
  ev.reason = d.reason;
  ev.time = clock_->Now();
  events.push_back(std::move(ev));
}

void RegistryCore::SyncBreakerLocked(Switch& sw, absl::Time now) {
  SwitchData& d = RegistryAccess::Data(sw);
  const SwitchValue* entry = nullptr;
  Layer layer = Layer::kDefault;
  for (int l = kLayerCount - 1; l >= 0 && entry == nullptr; --l) {
    if (d.views[l].breaker_entry != nullptr) {
      entry = d.views[l].breaker_entry;
      layer = static_cast<Layer>(l);
    }
  }
  const BreakerPolicy* policy =
      entry != nullptr && entry->breaker.has_value() ? &*entry->breaker : nullptr;
  if (policy == nullptr) {
    if (d.breaker == nullptr || !d.breaker->attached()) return;
    const bool held_off = d.breaker->holds_off();
    d.observer.store(nullptr, std::memory_order_release);
    d.breaker->Detach();
    d.breaker_layer.reset();
    std::erase(breaker_switches_, &sw);
    if (held_off) ComputeViewLocked(d, Layer::kBreaker, now);
    return;
  }
  if (d.breaker == nullptr) {
    d.breaker = std::make_unique<Breaker>(clock_ == &Clock::Real() ? nullptr : clock_);
  }
  if (d.breaker->attached()) {
    if (d.breaker->policy() != *policy || d.breaker_layer != layer) {
      d.breaker->Reconfigure(*policy, layer);
    }
  } else {
    d.breaker->Attach(*policy, layer, ReadOutcomes(RegistryAccess::Id(sw)),
                      d.breaker->NowNs());
    breaker_switches_.push_back(&sw);
    d.observer.store(d.breaker.get(), std::memory_order_release);
    StartBreakerThreadLocked();
  }
  d.breaker_layer = layer;
}

void RegistryCore::ReplaceLayerLocked(Layer layer, std::shared_ptr<const Snapshot> snapshot,
                                      std::string_view source, std::vector<ChangeEvent>& events) {
  layers_[static_cast<int>(layer)] = std::move(snapshot);
  const absl::Time now = clock_->Now();
  for (auto& [name, sw] : switches_) {
    ComputeViewLocked(RegistryAccess::Data(*sw), layer, now);
    ResolveLocked(*sw, now, source, events);
  }
  ScheduleExpiryLocked();
}

absl::Status RegistryCore::Adopt(Switch& sw) {
  SwitchData& d = RegistryAccess::Data(sw);
  const SwitchSpec& spec = d.spec;
  if (absl::Status s = ValidateName(spec.name, "switch name"); !s.ok()) return s;
  for (const std::string& g : spec.groups) {
    if (absl::Status s = ValidateName(g, "group name"); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("switch \"", spec.name, "\": ", s.message()));
    }
  }
  SwitchValue def;
  def.state = spec.default_state;
  // Anything but exactly 1 (NaN and 1.5 included) goes to validation.
  if (spec.default_allow != 1.0) def.allow = spec.default_allow;
  def.breaker = spec.breaker;
  def.actor = "code";
  def.reason = "default";
  if (absl::Status s = ValidateSwitchValue(def, absl::StrCat("switch \"", spec.name, "\" default"));
      !s.ok()) {
    return s;
  }
  d.default_value = std::move(def);
  d.env_var = EnvVarForSwitch(spec.name);

  std::vector<ChangeEvent> events;
  std::vector<PendingLog> logs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (switches_.contains(spec.name)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "switch \"", spec.name, "\" is already defined; define it once and share it with "
          "DEGRADE_DECLARE_SWITCH"));
    }
    if (IsReservedEnvVar(d.env_var)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "switch \"", spec.name, "\" would be set by ", d.env_var,
          ", which degrade reserves for its own configuration; rename the switch"));
    }
    if (auto it = env_owners_.find(d.env_var); it != env_owners_.end()) {
      return absl::AlreadyExistsError(absl::StrCat("switch \"", spec.name, "\" and ", it->second,
                                                   " would share the variable ", d.env_var,
                                                   "; rename one of them"));
    }
    // Each group variable has one owner, across switches and within this spec.
    absl::flat_hash_map<std::string, const std::string*> spec_group_vars;
    for (const std::string& g : spec.groups) {
      std::string var = EnvVarForGroup(g);
      if (auto mine = spec_group_vars.find(var); mine != spec_group_vars.end() && *mine->second != g) {
        return absl::AlreadyExistsError(absl::StrCat("groups \"", *mine->second, "\" and \"", g,
                                                     "\" of switch \"", spec.name,
                                                     "\" would share the variable ", var,
                                                     "; rename one of them"));
      }
      auto it = env_owners_.find(var);
      if (it != env_owners_.end() && it->second != absl::StrCat("group \"", g, "\"")) {
        return absl::AlreadyExistsError(absl::StrCat("group \"", g, "\" of switch \"", spec.name,
                                                     "\" and ", it->second,
                                                     " would share the variable ", var,
                                                     "; rename one of them"));
      }
      spec_group_vars.emplace(std::move(var), &g);
    }
    if (RegistryAccess::Id(sw) >= kMaxSwitchIds) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "switch \"", spec.name, "\": a process may define at most ", kMaxSwitchIds, " switches"));
    }
    ReadEnvForLocked(d, logs);
    env_owners_[d.env_var] = absl::StrCat("switch \"", spec.name, "\"");
    for (size_t i = 0; i < spec.groups.size(); ++i) {
      std::string var = EnvVarForGroup(spec.groups[i]);
      if (!env_owners_.contains(var)) {
        env_owners_[var] = absl::StrCat("group \"", spec.groups[i], "\"");
      }
    }
    d.registry = owner_;
    switches_[spec.name] = &sw;
    const absl::Time now = clock_->Now();
    for (int l = 0; l < kLayerCount; ++l) ComputeViewLocked(d, static_cast<Layer>(l), now);
    // A new switch's first state is where it starts, not a change: no event.
    std::vector<ChangeEvent> initial;
    ResolveLocked(sw, now, "define", initial);
    ScheduleExpiryLocked();
    EnqueueLocked(events);
  }
  Deliver(std::move(events), std::move(logs));
  return absl::OkStatus();
}

void RegistryCore::Unregister(Switch& sw) {
  std::lock_guard<std::mutex> lock(mu_);
  if (destroying_) return;
  SwitchData& d = RegistryAccess::Data(sw);
  auto it = switches_.find(d.spec.name);
  if (it == switches_.end() || it->second != &sw) return;
  switches_.erase(it);
  env_owners_.erase(d.env_var);
  std::erase(breaker_switches_, &sw);
  d.observer.store(nullptr, std::memory_order_release);
  d.registry = nullptr;
}

absl::StatusOr<Switch*> RegistryCore::Define(SwitchSpec spec) {
  auto data = std::make_unique<SwitchData>();
  data->spec = std::move(spec);
  std::unique_ptr<Switch> sw = RegistryAccess::MakeOwned(std::move(data));
  if (absl::Status s = Adopt(*sw); !s.ok()) return s;
  Switch* raw = sw.get();
  std::lock_guard<std::mutex> lock(mu_);
  owned_.push_back(std::move(sw));
  return raw;
}

Switch* RegistryCore::Find(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = switches_.find(ToAbsl(name));
  return it == switches_.end() ? nullptr : it->second;
}

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
  info.name = d.spec.name;
  info.description = d.spec.description;
  info.owner = d.spec.owner;
  info.groups = d.spec.groups;
  info.env_var = d.env_var;
  info.effective = d.effective;
  info.deciding_layer = d.deciding_layer;
  info.fault_layer = d.fault_layer;
  info.reason = d.reason;
  info.actor = d.actor;
  info.expires_at = d.expires_at;
  info.layers.push_back({Layer::kDefault, "switch", d.default_value});
  for (int l = 1; l < kLayerCount; ++l) {
    const Snapshot& snap = *layers_[l];
    const Layer layer = static_cast<Layer>(l);
    if (layer == Layer::kBreaker && d.breaker != nullptr && d.breaker->holds_off()) {
      info.layers.push_back({layer, "switch", d.breaker->open_entry()});
    }
    if (auto it = snap.switches.find(d.spec.name);
        it != snap.switches.end() && !Expired(it->second, now)) {
      info.layers.push_back({layer, "switch", it->second});
    }
    for (const std::string& g : d.spec.groups) {
      if (auto it = snap.groups.find(g); it != snap.groups.end() && !Expired(it->second, now)) {
        info.layers.push_back({layer, absl::StrCat("group:", g), it->second});
      }
    }
    if (snap.all.has_value() && !Expired(*snap.all, now)) {
      info.layers.push_back({layer, "all", *snap.all});
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
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SwitchInfo> out;
  out.reserve(switches_.size());
  for (const auto& [name, sw] : switches_) out.push_back(InfoLocked(sw, {}));
  std::sort(out.begin(), out.end(),
            [](const SwitchInfo& a, const SwitchInfo& b) { return a.name < b.name; });
  // Then the names layers mention that this process does not define.
  std::vector<std::string> unknown;
  for (int l = 1; l < kLayerCount; ++l) {
    for (const auto& [name, value] : layers_[l]->switches) {
      if (!switches_.contains(name)) unknown.push_back(name);
    }
  }
  std::sort(unknown.begin(), unknown.end());
  unknown.erase(std::unique(unknown.begin(), unknown.end()), unknown.end());
  for (const std::string& name : unknown) out.push_back(InfoLocked(nullptr, name));
  return out;
}

absl::StatusOr<SwitchInfo> RegistryCore::Get(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = switches_.find(ToAbsl(name)); it != switches_.end()) {
    return InfoLocked(it->second, {});
  }
  for (int l = 1; l < kLayerCount; ++l) {
    if (layers_[l]->switches.contains(std::string(name))) return InfoLocked(nullptr, name);
  }
  return absl::NotFoundError(absl::StrCat("switch \"", ToAbsl(name), "\" is not defined"));
}

absl::Status RegistryCore::SetOverride(std::string_view name, SwitchValue value,
                                       absl::Duration ttl) {
  if (ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("override of \"", ToAbsl(name), "\": ttl ", absl::FormatDuration(ttl),
                     " is negative; accepted: a positive duration, or zero for none"));
  }
  const std::string path = absl::StrCat("override of \"", ToAbsl(name), "\"");
  if (absl::Status s = ValidateSwitchValue(value, path); !s.ok()) return s;
  if (value.actor.empty()) value.actor = "api";
  std::vector<ChangeEvent> events;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!switches_.contains(ToAbsl(name))) {
      return absl::NotFoundError(absl::StrCat("switch \"", ToAbsl(name), "\" is not defined"));
    }
    if (ttl > absl::ZeroDuration()) value.expires_at = clock_->Now() + ttl;
    auto next = std::make_shared<Snapshot>(*layers_[static_cast<int>(Layer::kAdmin)]);
    next->switches[std::string(name)] = std::move(value);
    ReplaceLayerLocked(Layer::kAdmin, std::move(next), "admin", events);
    EnqueueLocked(events);
  }
  Deliver(std::move(events), {});
  return absl::OkStatus();
}

absl::Status RegistryCore::ClearOverride(std::string_view name) {
  std::vector<ChangeEvent> events;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!switches_.contains(ToAbsl(name))) {
      return absl::NotFoundError(absl::StrCat("switch \"", ToAbsl(name), "\" is not defined"));
    }
    const Snapshot& admin = *layers_[static_cast<int>(Layer::kAdmin)];
    if (!admin.switches.contains(std::string(name))) return absl::OkStatus();
    auto next = std::make_shared<Snapshot>(admin);
    next->switches.erase(std::string(name));
    ReplaceLayerLocked(Layer::kAdmin, std::move(next), "admin", events);
    EnqueueLocked(events);
  }
  Deliver(std::move(events), {});
  return absl::OkStatus();
}

absl::Status RegistryCore::ApplySnapshot(Layer layer, Snapshot snapshot, std::string_view source) {
  const std::string who = LayerSource(source, layer);
  if (layer == Layer::kDefault || layer == Layer::kEnv) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, ": the ", ToAbsl(LayerName(layer)),
        " layer cannot be set by a snapshot; accepted layers: file, remote, breaker, admin"));
  }
  auto check = [&](const SwitchValue& v, const std::string& path) -> absl::Status {
    if (absl::Status s = ValidateSwitchValue(v, path); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
    }
    if (layer == Layer::kBreaker &&
        (v.state != State::kOff || v.allow || v.SetsFault() || v.SetsBreaker())) {
      return absl::InvalidArgumentError(
          absl::StrCat(who, ": ", path, ": the breaker layer may only turn a switch off; "
                                        "accepted: \"off\""));
    }
    return absl::OkStatus();
  };
  for (const auto& [name, v] : snapshot.switches) {
    if (absl::Status s = ValidateName(name, "switch name"); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
    }
    if (absl::Status s = check(v, absl::StrCat("switches.\"", name, "\"")); !s.ok()) return s;
  }
  for (const auto& [name, v] : snapshot.groups) {
    if (absl::Status s = ValidateName(name, "group name"); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
    }
    if (absl::Status s = check(v, absl::StrCat("groups.\"", name, "\"")); !s.ok()) return s;
  }
  if (snapshot.all) {
    if (absl::Status s = check(*snapshot.all, "all"); !s.ok()) return s;
  }
  std::vector<ChangeEvent> events;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ReplaceLayerLocked(layer, std::make_shared<const Snapshot>(std::move(snapshot)), who, events);
    EnqueueLocked(events);
  }
  Deliver(std::move(events), {});
  return absl::OkStatus();
}

Snapshot RegistryCore::LayerSnapshot(Layer layer) const {
  std::lock_guard<std::mutex> lock(mu_);
  Snapshot out = *layers_[static_cast<int>(layer)];
  if (layer == Layer::kBreaker) {
    for (const Switch* sw : breaker_switches_) {
      const SwitchData& d = RegistryAccess::Data(*sw);
      if (d.breaker->holds_off()) out.switches[d.spec.name] = d.breaker->open_entry();
    }
  }
  return out;
}

void RegistryCore::ScheduleExpiryLocked() {
  std::optional<absl::Time> next;
  const absl::Time now = clock_->Now();
  auto consider = [&](const SwitchValue& v) {
    if (v.expires_at && *v.expires_at > now && (!next || *v.expires_at < *next)) {
      next = v.expires_at;
    }
  };
  for (int l = 1; l < kLayerCount; ++l) {
    const Snapshot& s = *layers_[l];
    for (const auto& [n, v] : s.switches) consider(v);
    for (const auto& [n, v] : s.groups) consider(v);
    if (s.all) consider(*s.all);
  }
  next_expiry_ = next;
  if (!next) return;
  // A FakeClock only moves when a test says so, and the test then calls
  // ProcessExpiries itself; any other clock gets the timer.
  if (dynamic_cast<const testing::FakeClock*>(clock_) == nullptr && !expiry_thread_.joinable() &&
      !stop_) {
    expiry_thread_ = std::thread([this] { ExpiryLoop(); });
  }
  expiry_cv_.notify_all();
}

void RegistryCore::ExpiryLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!next_expiry_) {
      expiry_cv_.wait(lock);
      continue;
    }
    const absl::Duration left = *next_expiry_ - clock_->Now();
    if (left > absl::ZeroDuration()) {
      // The wait runs on the monotonic clock, but expiry times are wall-clock
      // times: wake at least every kExpiryRecheck to notice the wall clock
      // stepping forward (NTP, a VM resumed after a pause) past an expiry.
      expiry_cv_.wait_for(lock, absl::ToChronoNanoseconds(std::min(left, kExpiryRecheck)));
      continue;
    }
    lock.unlock();
    ProcessExpiries();
    lock.lock();
  }
}

void RegistryCore::ProcessExpiries() {
  std::vector<ChangeEvent> events;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const absl::Time now = clock_->Now();
    // Admin entries are ours: expired ones are removed. Other layers belong
    // to their sources and are only re-evaluated.
    const Snapshot& admin = *layers_[static_cast<int>(Layer::kAdmin)];
    auto pruned = std::make_shared<Snapshot>(admin);
    std::erase_if(pruned->switches, [&](const auto& kv) { return Expired(kv.second, now); });
    std::erase_if(pruned->groups, [&](const auto& kv) { return Expired(kv.second, now); });
    if (pruned->all && Expired(*pruned->all, now)) pruned->all.reset();
    layers_[static_cast<int>(Layer::kAdmin)] = std::move(pruned);
    for (auto& [name, sw] : switches_) {
      SwitchData& d = RegistryAccess::Data(*sw);
      for (int l = 1; l < kLayerCount; ++l) ComputeViewLocked(d, static_cast<Layer>(l), now);
      ResolveLocked(*sw, now, "expiry", events);
    }
    for (ChangeEvent& ev : events) {
      if (ev.reason.empty()) ev.reason = "an entry expired";
    }
    ScheduleExpiryLocked();
    EnqueueLocked(events);
  }
  Deliver(std::move(events), {});
}

// ------------------------------------------------------------------ breakers

namespace {

constexpr auto kBreakerTick = std::chrono::milliseconds(25);

// Registry::Global(), once created. It is never destroyed, so its breaker
// thread is stopped at exit instead, before the statics that thread may
// touch (DEGRADE_SWITCH globals, listeners' state, the log sink) go away.
// Other registries stop theirs in their destructor.
std::atomic<Registry*> g_global_registry{nullptr};

void StopGlobalBreakerThreadAtExit() {
  if (Registry* global = g_global_registry.load(std::memory_order_acquire)) {
    RegistryAccess::Core(*global).StopBreakerThread();
  }
}

}  // namespace

void RegistryCore::StartBreakerThreadLocked() {
  if (breaker_thread_.joinable() || breaker_stop_ || stop_) {
    breaker_cv_.notify_all();
    return;
  }
  if (clock_ != &Clock::Real()) return;  // fake clocks: tests call ProcessBreakers
  if (owner_ == g_global_registry.load(std::memory_order_acquire)) {
    static const bool hooked = std::atexit(StopGlobalBreakerThreadAtExit) == 0;
    (void)hooked;
  }
  breaker_thread_ = std::thread([this] { BreakerLoop(); });
}

void RegistryCore::StopBreakerThread() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    breaker_stop_ = true;
    thread.swap(breaker_thread_);
  }
  breaker_cv_.notify_all();
  if (!thread.joinable()) return;
  // exit() called by a listener on the breaker thread itself: it cannot
  // join itself; it stops at its next check of breaker_stop_.
  if (thread.get_id() == std::this_thread::get_id()) {
    thread.detach();
  } else {
    thread.join();
  }
}

void RegistryCore::BreakerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!breaker_stop_) {
    if (breaker_switches_.empty()) {
      breaker_cv_.wait(lock);
      continue;
    }
    breaker_cv_.wait_for(lock, kBreakerTick);
    if (breaker_stop_) break;
    lock.unlock();
    ProcessBreakers();
    lock.lock();
  }
}

void RegistryCore::ProcessBreakers() {
  std::vector<ChangeEvent> events;
  std::vector<PendingLog> logs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const absl::Time now = clock_->Now();
    // By index: resolving a switch never attaches another breaker, but the
    // list is the registry's, not ours to hold iterators into.
    for (size_t i = 0; i < breaker_switches_.size(); ++i) {
      Switch& sw = *breaker_switches_[i];
      SwitchData& d = RegistryAccess::Data(sw);
      Breaker& b = *d.breaker;
      std::optional<Breaker::Transition> t =
          b.Evaluate(ReadOutcomes(RegistryAccess::Id(sw)), b.NowNs(), now, d.spec.name);
      if (!t) continue;
      logs.push_back({t->to == BreakerState::kOpen ? LogLevel::kWarning : LogLevel::kInfo,
                      std::move(t->message)});
      if (t->to == BreakerState::kClosed) continue;  // the layer did not change
      ComputeViewLocked(d, Layer::kBreaker, now);
      const size_t first = events.size();
      ResolveLocked(sw, now, "breaker", events);
      for (size_t e = first; e < events.size(); ++e) {
        events[e].actor = "breaker";
        events[e].reason = t->reason;
      }
    }
    EnqueueLocked(events);
  }
  Deliver(std::move(events), std::move(logs));
}

// ------------------------------------------------------------------ delivery

// Called with mu_ held, so events enter the queue in the order their state
// changes happened (lock order: mu_, then deliver_mu_; never the reverse).
void RegistryCore::EnqueueLocked(std::vector<ChangeEvent>& events) {
  if (events.empty()) return;
  std::lock_guard<std::mutex> lock(deliver_mu_);
  for (ChangeEvent& e : events) pending_events_.push_back(std::move(e));
  events.clear();
}

void RegistryCore::Deliver(std::vector<ChangeEvent> events, std::vector<PendingLog> logs) {
  for (PendingLog& l : logs) Log(l.level, l.message);
  std::unique_lock<std::mutex> lock(deliver_mu_);
  for (ChangeEvent& e : events) pending_events_.push_back(std::move(e));
  if (delivering_) return;  // the delivering thread will drain ours too
  delivering_ = true;
  while (!pending_events_.empty()) {
    ChangeEvent ev = std::move(pending_events_.front());
    pending_events_.pop_front();
    std::vector<std::shared_ptr<Registry::Listener>> listeners;
    listeners.reserve(listeners_.size());
    for (auto& [id, l] : listeners_) listeners.push_back(l);
    std::shared_ptr<const LogSink> sink = sink_;
    const bool log_changes = log_changes_.load(std::memory_order_relaxed);
    lock.unlock();
    for (auto& l : listeners) (*l)(ev);
    if (log_changes && *sink) (*sink)(LogLevel::kChange, ChangeEventToJson(ev));
    lock.lock();
  }
  delivering_ = false;
}

uint64_t RegistryCore::AddListener(Registry::Listener listener) {
  std::lock_guard<std::mutex> lock(deliver_mu_);
  const uint64_t id = next_listener_id_++;
  listeners_[id] = std::make_shared<Registry::Listener>(std::move(listener));
  return id;
}

void RegistryCore::RemoveListener(uint64_t id) {
  std::lock_guard<std::mutex> lock(deliver_mu_);
  listeners_.erase(id);
}

void RegistryCore::SetLogSink(LogSink sink) {
  std::lock_guard<std::mutex> lock(deliver_mu_);
  sink_ = std::make_shared<const LogSink>(std::move(sink));
}

void RegistryCore::SetLogChanges(bool on) { log_changes_.store(on, std::memory_order_relaxed); }

void RegistryCore::Log(LogLevel level, std::string_view message) {
  if (level == LogLevel::kError) {
    std::lock_guard<std::mutex> lock(mu_);
    errors_.push_back({clock_->Now(), std::string(message)});
    if (errors_.size() > kMaxErrors) errors_.pop_front();
  }
  std::shared_ptr<const LogSink> sink;
  {
    std::lock_guard<std::mutex> lock(deliver_mu_);
    sink = sink_;
  }
  if (*sink) (*sink)(level, message);
}

std::vector<ErrorRecord> RegistryCore::errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {errors_.begin(), errors_.end()};
}

void RegistryCore::ReportSourceHealth(SourceHealth health) {
  std::lock_guard<std::mutex> lock(mu_);
  sources_[health.name] = std::move(health);
}

std::vector<SourceHealth> RegistryCore::sources() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SourceHealth> out;
  for (const auto& [name, h] : sources_) out.push_back(h);
  return out;
}

}  // namespace internal

// ------------------------------------------------------------------ Registry

Registry::Registry() : Registry(Options{}) {}
Registry::Registry(Options options)
    : core_(std::make_unique<internal::RegistryCore>(this, std::move(options))) {}
Registry::~Registry() = default;

Registry& Registry::Global() {
  // Never destroyed: DEGRADE_SWITCH globals in other translation units may be
  // destroyed after any other static, and unregister themselves from it.
  static Registry* global = [] {
    auto* r = new Registry();
    internal::g_global_registry.store(r, std::memory_order_release);
    return r;
  }();
  return *global;
}

absl::StatusOr<Switch*> Registry::Define(SwitchSpec spec) { return core_->Define(std::move(spec)); }
Switch* Registry::Find(std::string_view name) const { return core_->Find(name); }
std::vector<SwitchInfo> Registry::List() const { return core_->List(); }
absl::StatusOr<SwitchInfo> Registry::Get(std::string_view name) const { return core_->Get(name); }
absl::Status Registry::SetOverride(std::string_view name, SwitchValue value, absl::Duration ttl) {
  return core_->SetOverride(name, std::move(value), ttl);
}
absl::Status Registry::ClearOverride(std::string_view name) { return core_->ClearOverride(name); }
absl::Status Registry::ApplySnapshot(Layer layer, Snapshot snapshot, std::string_view source) {
  return core_->ApplySnapshot(layer, std::move(snapshot), source);
}

absl::Status Registry::ApplySnapshotJson(Layer layer, std::string_view json,
                                         std::string_view source) {
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> parsed = ParseSnapshot(json, source, clock().Now(), &warnings);
  for (const std::string& w : warnings) Log(LogLevel::kWarning, w);
  absl::Status status =
      parsed.ok() ? core_->ApplySnapshot(layer, *std::move(parsed), source) : parsed.status();
  if (!status.ok()) {
    Log(LogLevel::kError, absl::StrCat(status.message(), "; the ", internal::ToAbsl(LayerName(layer)),
                                       " layer keeps its last good state"));
  }
  return status;
}

Snapshot Registry::LayerSnapshot(Layer layer) const { return core_->LayerSnapshot(layer); }
uint64_t Registry::AddListener(Listener listener) { return core_->AddListener(std::move(listener)); }
void Registry::RemoveListener(uint64_t id) { core_->RemoveListener(id); }
void Registry::SetLogSink(LogSink sink) { core_->SetLogSink(std::move(sink)); }
void Registry::SetLogChanges(bool on) { core_->SetLogChanges(on); }
void Registry::Log(LogLevel level, std::string_view message) const {
  core_->Log(level, message);
}
std::vector<ErrorRecord> Registry::errors() const { return core_->errors(); }
void Registry::ReportSourceHealth(SourceHealth health) {
  core_->ReportSourceHealth(std::move(health));
}
std::vector<SourceHealth> Registry::sources() const { return core_->sources(); }
void Registry::ProcessExpiries() { core_->ProcessExpiries(); }
void Registry::ProcessBreakers() { core_->ProcessBreakers(); }
Clock& Registry::clock() const noexcept { return core_->clock(); }

}  // namespace degrade
