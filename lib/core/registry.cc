// The registry: layers in, effective states out (see degrade/registry.h).
//
// One mutex guards all layer data. Each layer is an immutable Snapshot held
// by shared_ptr; replacing a layer recomputes, for every switch, that layer's
// view (pointers to the entries that decide its state, fault and breaker
// policy there: its own, a group's or `all`) and then resolves the switch
// from its six cached views. A switch's own entry is found from the
// snapshot's side, one hash lookup per entry, in the same pass that
// validates the entries; no string is copied per switch, and change events
// are built only for changes someone listens to. Effective states are
// published into the switches' atomic words before the lock is released;
// events are queued in the same critical section, so listeners see them in
// state order, and are delivered after it. Measured costs: README
// "Performance" (10,000 switches: a snapshot applied in a few ms, under 512
// bytes per switch; tests/memory_test.cc holds the latter).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "degrade/env.h"
#include "degrade/internal/counters.h"
#include "core/registry_core.h"
#include "core/snapshot_internal.h"
#include "core/str_util.h"

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
  // Unchanged words are not written: re-resolving every switch of a big
  // layer then leaves the cache lines that enabled() reads alone. (Writers
  // never race: the registry writes under its mutex, and a detached switch
  // only in its constructor.)
  if (sw.fault_.load(std::memory_order_relaxed) == fault_word &&
      sw.word_.load(std::memory_order_relaxed) == word) {
    return;
  }
  // The fault word first: a Call that sees the new flags finds the new fault.
  sw.fault_.store(fault_word, std::memory_order_relaxed);
  sw.word_.store(word, std::memory_order_release);
}

std::unique_ptr<Switch> RegistryAccess::MakeOwned(std::unique_ptr<SwitchData> data) {
  return std::unique_ptr<Switch>(new Switch(Switch::RegistryOwned{}, std::move(data)));
}

void SetSpec(SwitchData& d, SwitchSpec spec) {
  d.name = std::move(spec.name);
  d.description = std::move(spec.description);
  d.owner = std::move(spec.owner);
  d.groups = std::move(spec.groups);
  d.default_state = spec.default_state;
  // Anything but exactly 1 (NaN and 1.5 included) is kept, for validation.
  const bool plain_state = spec.default_state == State::kOn || spec.default_state == State::kOff;
  if (spec.default_allow != 1.0 || spec.breaker.has_value() || !plain_state) {
    auto def = std::make_unique<SwitchValue>();
    def->state = spec.default_state;
    if (spec.default_allow != 1.0) def->allow = spec.default_allow;
    def->breaker = spec.breaker;
    def->actor = "code";
    def->reason = "default";
    d.custom_default = std::move(def);
  } else {
    d.custom_default.reset();
  }
}

const SwitchValue& DefaultEntry(const SwitchData& d) noexcept {
  static const SwitchValue* const kPlain = [] {
    static SwitchValue plain[2];
    for (State s : {State::kOn, State::kOff}) {
      SwitchValue& v = plain[static_cast<int>(s)];
      v.state = s;
      v.actor = "code";
      v.reason = "default";
    }
    return plain;
  }();
  if (d.custom_default != nullptr) return *d.custom_default;
  return kPlain[d.default_state == State::kOff ? 1 : 0];
}

namespace {

// The character DEGRADE_<NAME> has for a name's character (before upper
// casing: valid names are lower case).
constexpr char EnvChar(char c) noexcept { return c == '.' || c == '-' ? '_' : c; }

// Eight bytes of a name as its variable has them, for hashing: bytes below
// '0' ('.' and '-' in valid names) become '_', eight at a time. Adding 0x50
// sets a byte's top bit when it is at least 0x30 (for ASCII; other bytes and
// their carries give some other value, but the same one for inputs that
// EnvNameEq finds equal, which is all a hash needs: where two such names
// differ, both bytes are '.', '-' or '_', none carries, and all three
// come out as '_').
uint64_t EnvWord(uint64_t w) noexcept {
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  const uint64_t low = ~(w + 0x5050505050505050ull) & kHigh;  // bytes below 0x30
  const uint64_t mask = (low >> 7) * 0xFF;
  return (w & ~mask) | (0x5F5F5F5F5F5F5F5Full & mask);
}

uint64_t Mix(uint64_t h) noexcept {  // murmur3's finalizer
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace

size_t EnvNameHash::operator()(std::string_view name) const noexcept {
  const char* p = name.data();
  size_t n = name.size();
  uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
  auto load = [](const char* at) {
    uint64_t w;
    std::memcpy(&w, at, 8);
    return w;
  };
  for (; n >= 8; p += 8, n -= 8) {
    h = (h ^ EnvWord(load(p))) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  if (n > 0) {
    // The last n bytes in the low end of a word, zeros above: from a load
    // ending at the name's end when the name is long enough (little endian:
    // the shift drops the bytes already hashed; big endian would keep other
    // bytes of the name, as consistently), else byte by byte.
    uint64_t w = 0;
    if (name.size() >= 8) {
      w = load(name.data() + name.size() - 8) >> (8 * (8 - n));
    } else {
      for (size_t i = 0; i < n; ++i) w |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
    }
    h = (h ^ EnvWord(w)) * 0x100000001b3ull;
  }
  return static_cast<size_t>(Mix(h));
}

bool EnvNameEq::Same(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a == b) return true;  // the common case: a switch found by its own name
  for (size_t i = 0; i < a.size(); ++i) {
    if (EnvChar(a[i]) != EnvChar(b[i])) return false;
  }
  return true;
}

// ------------------------------------------------------------------ RegistryCore

RegistryCore::RegistryCore(Registry* owner, Registry::Options options)
    : owner_(owner),
      clock_(options.clock != nullptr ? options.clock : &Clock::Real()),
      timer_threads_(options.timer_threads),
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
  // Registry-owned switches are always registered (Define frees a switch
  // that fails to register), so the set finds them all.
  std::vector<Switch*> owned;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Switch* sw : switches_) {
      SwitchData& d = RegistryAccess::Data(*sw);
      d.registry = nullptr;
      if (d.registry_owned) owned.push_back(sw);
    }
    switches_.clear();
  }
  for (Switch* sw : owned) delete sw;
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
  read(EnvVarForSwitch(data.name), env_layer_.switches, data.name);
  for (const std::string& group : data.groups) {
    if (env_layer_.groups.contains(group)) continue;
    // A group variable is read once, by its first member.
    if (groups_.contains(group)) continue;
    read(EnvVarForGroup(group), env_layer_.groups, group);
  }
}

Switch* RegistryCore::FindLocked(std::string_view name) const {
  auto it = switches_.find(name);
  if (it == switches_.end() || RegistryAccess::Data(**it).name != name) return nullptr;
  return *it;
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

void RegistryCore::RecomputeLayerLocked(Layer layer, absl::Time now, bool resolve,
                                        std::string_view source, std::vector<ChangeEvent>* events,
                                        bool own_entries_found) {
  const Snapshot& snap = *layers_[static_cast<int>(layer)];
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
    if (resolve) ResolveLocked(*sw, now, source, events);
  }
}

void RegistryCore::ResolveLocked(Switch& sw, absl::Time now, std::string_view source,
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
  const Layer layer = static_cast<Layer>(state_layer);
  d.effective = next;
  d.deciding_layer = layer;
  d.fault_layer = fault_layer;
  if (d.breaker != nullptr) {
    // An admin "on" beats an open or half-open breaker: let every call run.
    d.breaker->SetOverridden(layer > Layer::kBreaker && next.calls_pass());
  }
  RegistryAccess::Publish(sw, next, d.observer.load(std::memory_order_relaxed) != nullptr);
  if (events == nullptr || (prev == next && prev_layer == layer)) return;
  // The actor and reason are the deciding entry's; strings are copied only
  // here, for a change someone receives.
  ChangeEvent& ev = events->emplace_back();
  ev.name = d.name;
  ev.old_state = prev;
  ev.new_state = next;
  ev.old_layer = prev_layer;
  ev.layer = layer;
  ev.actor = state_entry->actor.empty() ? std::string(source) : state_entry->actor;
  ev.reason = state_entry->reason;
  ev.time = now;
}

void RegistryCore::SyncBreakerLocked(Switch& sw, absl::Time now) {
  SwitchData& d = RegistryAccess::Data(sw);
  const SwitchValue* entry = nullptr;
  Layer layer = Layer::kDefault;
  if (d.rare != nullptr) {
    for (int l = kLayerCount - 1; l >= 0 && entry == nullptr; --l) {
      if (d.rare->breaker[l] != nullptr) {
        entry = d.rare->breaker[l];
        layer = static_cast<Layer>(l);
      }
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
                                      std::string_view source, std::vector<ChangeEvent>* events,
                                      std::shared_ptr<const Snapshot>& old,
                                      bool own_entries_found) {
  old = std::exchange(layers_[static_cast<int>(layer)], std::move(snapshot));
  RecomputeLayerLocked(layer, clock_->Now(), /*resolve=*/true, source, events, own_entries_found);
  ScheduleExpiryLocked();
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
  if (absl::Status s = ValidateSwitchValueAt(
          DefaultEntry(d), [&] { return absl::StrCat("switch \"", name, "\" default"); });
      !s.ok()) {
    return s;
  }

  std::vector<ChangeEvent> events;
  std::vector<PendingLog> logs;
  {
    std::lock_guard<std::mutex> lock(mu_);
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
    ResolveLocked(sw, now, "define", nullptr);
    ScheduleExpiryLocked();
  }
  Deliver(std::move(events), logs);
  return absl::OkStatus();
}

void RegistryCore::Unregister(Switch& sw) {
  std::lock_guard<std::mutex> lock(mu_);
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
  std::lock_guard<std::mutex> lock(mu_);
  return FindLocked(name);
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
  info.name = d.name;
  info.description = d.description;
  info.owner = d.owner;
  info.groups = d.groups;
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
  std::lock_guard<std::mutex> lock(mu_);
  if (const Switch* sw = FindLocked(name)) return InfoLocked(sw, {});
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
  if (absl::Status s = ValidateSwitchValueAt(
          value, [&] { return absl::StrCat("override of \"", ToAbsl(name), "\""); });
      !s.ok()) {
    return s;
  }
  if (value.actor.empty()) value.actor = "api";
  std::vector<ChangeEvent> events;
  std::shared_ptr<const Snapshot> old;  // freed after the lock is released
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (FindLocked(name) == nullptr) {
      return absl::NotFoundError(absl::StrCat("switch \"", ToAbsl(name), "\" is not defined"));
    }
    if (ttl > absl::ZeroDuration()) value.expires_at = clock_->Now() + ttl;
    auto next = std::make_shared<Snapshot>(*layers_[static_cast<int>(Layer::kAdmin)]);
    next->switches[std::string(name)] = std::move(value);
    ReplaceLayerLocked(Layer::kAdmin, std::move(next), "admin", WantEvents() ? &events : nullptr,
                       old);
    EnqueueLocked(events);
  }
  Deliver(std::move(events), {});
  return absl::OkStatus();
}

absl::Status RegistryCore::ClearOverride(std::string_view name) {
  std::vector<ChangeEvent> events;
  std::shared_ptr<const Snapshot> old;  // freed after the lock is released
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (FindLocked(name) == nullptr) {
      return absl::NotFoundError(absl::StrCat("switch \"", ToAbsl(name), "\" is not defined"));
    }
    const Snapshot& admin = *layers_[static_cast<int>(Layer::kAdmin)];
    if (!admin.switches.contains(std::string(name))) return absl::OkStatus();
    auto next = std::make_shared<Snapshot>(admin);
    next->switches.erase(std::string(name));
    ReplaceLayerLocked(Layer::kAdmin, std::move(next), "admin", WantEvents() ? &events : nullptr,
                       old);
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
  // Entry paths are built only for a message: a snapshot of valid values
  // (the common case) is checked without string work.
  auto check = [&](const SwitchValue& v, absl::FunctionRef<std::string()> path) -> absl::Status {
    if (absl::Status s = ValidateSwitchValueAt(v, path); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
    }
    if (layer == Layer::kBreaker &&
        (v.state != State::kOff || v.allow || v.SetsFault() || v.SetsBreaker())) {
      return absl::InvalidArgumentError(
          absl::StrCat(who, ": ", path(), ": the breaker layer may only turn a switch off; "
                                          "accepted: \"off\""));
    }
    return absl::OkStatus();
  };
  // Moving a std::map keeps its nodes, so entries keep their addresses.
  auto next = std::make_shared<const Snapshot>(std::move(snapshot));
  std::vector<ChangeEvent> events;
  // The layer replaced: freed after the lock is released (a big snapshot's
  // thousands of entries are not freed while the registry is locked).
  std::shared_ptr<const Snapshot> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // One pass over the entries both checks them and finds each defined
    // switch's own entry (RecomputeLayerLocked's first step), so a big
    // snapshot is walked once. A defined switch's name is valid already.
    auto reject = [&](absl::Status status) {
      for (Switch* sw : switches_) RegistryAccess::Data(*sw).pending_own = nullptr;
      return status;
    };
    for (const auto& entry : next->switches) {
      // Named, not structured bindings: clang 14 (clang-tidy) cannot capture
      // a structured binding in a lambda.
      const std::string& name = entry.first;
      const SwitchValue& v = entry.second;
      Switch* sw = FindLocked(name);
      if (sw == nullptr) {
        if (absl::Status s = ValidateName(name, "switch name"); !s.ok()) {
          return reject(absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message())));
        }
      }
      if (absl::Status s = check(v, [&] { return absl::StrCat("switches.\"", name, "\""); });
          !s.ok()) {
        return reject(std::move(s));
      }
      if (sw != nullptr) RegistryAccess::Data(*sw).pending_own = &v;
    }
    for (const auto& entry : next->groups) {
      const std::string& name = entry.first;
      const SwitchValue& v = entry.second;
      if (absl::Status s = ValidateName(name, "group name"); !s.ok()) {
        return reject(absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message())));
      }
      if (absl::Status s = check(v, [&] { return absl::StrCat("groups.\"", name, "\""); });
          !s.ok()) {
        return reject(std::move(s));
      }
    }
    if (next->all) {
      if (absl::Status s = check(*next->all, [] { return std::string("all"); }); !s.ok()) {
        return reject(std::move(s));
      }
    }
    ReplaceLayerLocked(layer, std::move(next), who, WantEvents() ? &events : nullptr, old,
                       /*own_entries_found=*/true);
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
      if (d.breaker->holds_off()) out.switches[d.name] = d.breaker->open_entry();
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
  // Without timer threads the owner calls ProcessExpiries itself.
  if (timer_threads_ && !expiry_thread_.joinable() && !stop_) {
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
  std::shared_ptr<const Snapshot> old_admin;  // freed after the lock is released
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
    old_admin = std::exchange(layers_[static_cast<int>(Layer::kAdmin)], std::move(pruned));
    for (int l = 1; l < kLayerCount; ++l) {
      RecomputeLayerLocked(static_cast<Layer>(l), now, /*resolve=*/false, {}, nullptr);
    }
    std::vector<ChangeEvent>* want = WantEvents() ? &events : nullptr;
    for (Switch* sw : switches_) ResolveLocked(*sw, now, "expiry", want);
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
  if (!timer_threads_) return;  // the owner calls ProcessBreakers itself
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
    std::vector<ChangeEvent>* want = WantEvents() ? &events : nullptr;
    // By index: resolving a switch never attaches another breaker, but the
    // list is the registry's, not ours to hold iterators into.
    for (size_t i = 0; i < breaker_switches_.size(); ++i) {  // NOLINT(modernize-loop-convert): see above
      Switch& sw = *breaker_switches_[i];
      SwitchData& d = RegistryAccess::Data(sw);
      Breaker& b = *d.breaker;
      std::optional<Breaker::Transition> t =
          b.Evaluate(ReadOutcomes(RegistryAccess::Id(sw)), b.NowNs(), now, d.name);
      if (!t) continue;
      logs.push_back({t->to == BreakerState::kOpen ? LogLevel::kWarning : LogLevel::kInfo,
                      std::move(t->message)});
      if (t->to == BreakerState::kClosed) continue;  // the layer did not change
      ComputeViewLocked(d, Layer::kBreaker, now);
      const size_t first = events.size();
      ResolveLocked(sw, now, "breaker", want);
      for (size_t e = first; e < events.size(); ++e) {
        events[e].actor = "breaker";
        events[e].reason = t->reason;
      }
    }
    EnqueueLocked(events);
  }
  Deliver(std::move(events), logs);
}

// ------------------------------------------------------------------ delivery

// Called with mu_ held, so events enter the queue in the order their state
// changes happened (lock order: mu_, then deliver_mu_; never the reverse).
void RegistryCore::EnqueueLocked(std::vector<ChangeEvent>& events) {
  if (events.empty()) return;
  std::lock_guard<std::mutex> lock(deliver_mu_);
  AppendPendingLocked(events);
}

// With deliver_mu_ held. A whole batch moves in at once when the queue is
// empty (the usual case), not event by event.
void RegistryCore::AppendPendingLocked(std::vector<ChangeEvent>& events) {
  if (pending_events_.empty()) {
    pending_events_.swap(events);
  } else {
    for (ChangeEvent& e : events) pending_events_.push_back(std::move(e));
  }
  events.clear();
}

void RegistryCore::Deliver(std::vector<ChangeEvent> events, const std::vector<PendingLog>& logs) {
  for (const PendingLog& l : logs) Log(l.level, l.message);
  std::unique_lock<std::mutex> lock(deliver_mu_);
  AppendPendingLocked(events);
  if (delivering_) return;  // the delivering thread will drain ours too
  delivering_ = true;
  // The queue is taken a batch at a time and its events handed to the
  // listeners where they lie. Listeners (and the sink) are those of each
  // event: copied again only when one was added or removed, or the sink
  // replaced, since the last event (not once per event of a big batch).
  std::vector<ChangeEvent> batch;
  std::vector<std::shared_ptr<Registry::Listener>> listeners;
  std::shared_ptr<const LogSink> sink;
  std::optional<uint64_t> seen_version;
  while (!pending_events_.empty()) {
    batch.clear();
    batch.swap(pending_events_);
    for (const ChangeEvent& ev : batch) {
      if (seen_version != listeners_version_) {
        listeners.clear();
        listeners.reserve(listeners_.size());
        for (auto& [id, l] : listeners_) listeners.push_back(l);
        sink = sink_;
        seen_version = listeners_version_;
      }
      const bool log_changes = log_changes_.load(std::memory_order_relaxed);
      lock.unlock();
      for (auto& l : listeners) (*l)(ev);
      if (log_changes && *sink) (*sink)(LogLevel::kChange, ChangeEventToJson(ev));
      lock.lock();
    }
  }
  delivering_ = false;
  // A big batch's buffer is not kept for the registry's lifetime.
  std::vector<ChangeEvent>().swap(pending_events_);
  lock.unlock();
}

uint64_t RegistryCore::AddListener(Registry::Listener listener) {
  std::lock_guard<std::mutex> lock(deliver_mu_);
  const uint64_t id = next_listener_id_++;
  listeners_[id] = std::make_shared<Registry::Listener>(std::move(listener));
  ++listeners_version_;
  listener_count_.store(listeners_.size(), std::memory_order_release);
  return id;
}

void RegistryCore::RemoveListener(uint64_t id) {
  std::lock_guard<std::mutex> lock(deliver_mu_);
  listeners_.erase(id);
  ++listeners_version_;
  listener_count_.store(listeners_.size(), std::memory_order_release);
}

void RegistryCore::SetLogSink(LogSink sink) {
  std::lock_guard<std::mutex> lock(deliver_mu_);
  sink_ = std::make_shared<const LogSink>(std::move(sink));
  ++listeners_version_;
}

void RegistryCore::SetLogChanges(bool on) { log_changes_.store(on, std::memory_order_release); }

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
