// Switch: definition, detachment, and the out-of-line slow paths of the hot
// path (dimmer, faults, outcome observation).
#include "degrade/switch.h"

#include <chrono>
#include <cmath>
#include <thread>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "degrade/call.h"
#include "degrade/env.h"
#include "degrade/internal/counters.h"
#include "degrade/registry.h"
#include "core/registry_core.h"
#include "core/sticky_hash.h"

namespace degrade {
namespace internal {
namespace {

// Initial-exec: the library is linked at start-up (or dlopen()ed with room in
// the static TLS surplus for these few bytes), so no __tls_get_addr per roll.
__thread uint64_t t_rng_state DEGRADE_TLS_INITIAL_EXEC = 0;

// splitmix64: tiny, fast, good enough to spread a dimmer or a fault rate.
// Per thread, so no sharing; seeded lazily from the thread's own address and
// the clock so threads draw different sequences.
uint32_t NextRandom32() noexcept {
  uint64_t s = t_rng_state;
  if (ABSL_PREDICT_FALSE(s == 0)) {
    s = reinterpret_cast<uintptr_t>(&t_rng_state) ^
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
        0x9E3779B97F4A7C15ull;
    if (s == 0) s = 1;
  }
  s += 0x9E3779B97F4A7C15ull;
  t_rng_state = s;
  uint64_t z = s;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<uint32_t>(z >> 32);
}

// The state a detached switch keeps: default, then env (switch > group > all).
EffectiveState DetachedState(const SwitchData& d, Registry& reg) {
  SwitchValue chosen;
  chosen.state = d.default_state;
  const std::optional<double> default_allow = DefaultEntry(d).allow;
  if (d.default_state == State::kOn && default_allow && *default_allow >= 0.0 &&
      *default_allow < 1.0) {
    chosen.allow = default_allow;
  }
  auto try_var = [&](const std::string& var) -> bool {
    const char* raw = std::getenv(var.c_str());
    if (raw == nullptr) return false;
    auto parsed = ParseEnvValue(var, raw);
    if (!parsed.ok()) return false;  // the registry reports env errors once
    chosen = *parsed;
    return true;
  };
  if (ValidateName(d.name).ok() && !try_var(EnvVarForSwitch(d.name))) {
    bool found = false;
    for (const std::string& g : d.groups) {
      if (ValidateName(g).ok() && try_var(EnvVarForGroup(g))) {
        found = true;
        break;
      }
    }
    if (!found) try_var(std::string(kEnvAll));
  }
  (void)reg;
  EffectiveState e;
  e.state = chosen.state.value_or(State::kOn);
  e.allow = e.state == State::kOn ? std::clamp(chosen.allow.value_or(1.0), 0.0, 1.0) : 1.0;
  return e;
}

}  // namespace

bool RollDimmed(int64_t word) noexcept { return NextRandom32() < WordThreshold(word); }

bool StickyDimmed(const Switch& sw, int64_t word, std::string_view key) noexcept {
  return StickyPointFromSeed(RegistryAccess::Data(sw).sticky_seed, key) < WordThreshold(word);
}

namespace {

// Every case but the one DecideSlow handles itself.
// `key`: null for a per-call draw of the dimmer, else the sticky key.
ABSL_ATTRIBUTE_NOINLINE SlowVerdict DecideSlowGeneral(const Switch& sw, int64_t word, uint32_t id,
                                                      uint64_t fault_word,
                                                      const std::string_view* key) noexcept {
  if (word < 0) {
    const uint32_t draw = key == nullptr
                              ? NextRandom32()
                              : StickyPointFromSeed(RegistryAccess::Data(sw).sticky_seed, *key);
    if (draw >= WordThreshold(word)) {
      CountOutcome(id, kOutcomeSkipped);
      return {Decision::kSkip, 0};
    }
  }
  // The breaker decides before the fault is rolled, so that an injected
  // fault uses up a half-open probe and counts against it, and its start
  // stamp is taken before an injected delay, which then counts as slowness.
  int64_t start = Breaker::kNoReport;
  if (WordFlags(word) & kFlagObserve) {
    if (Breaker* breaker = RegistryAccess::Data(sw).observer.load(std::memory_order_acquire)) {
      start = breaker->Admit();
      if (start == Breaker::kRefuse) {
        CountOutcome(id, kOutcomeSkipped);
        return {Decision::kSkip, 0};
      }
    }
  }
  if ((WordFlags(word) & kFlagFault) && fault_word != 0 &&
      uint64_t{NextRandom32()} < FaultWordThreshold(fault_word)) {
    const uint32_t delay_ms = FaultWordDelayMs(fault_word);
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (FaultWordKind(fault_word) == kFaultKindError) {
      CountOutcome(id, kOutcomeFaultError);
      return {Decision::kFaultError, start};
    }
    CountOutcome(id, kOutcomeFaultDelay);
  }
  return {Decision::kRun, start};
}

}  // namespace

SlowVerdict DecideSlow(const Switch& sw, int64_t word, uint32_t id, uint64_t fault_word) noexcept {
  // A breaker on a plainly-on switch, the one slow case on a hot path: kept
  // free of the general case's frame.
  if (word == MakeOnWord(kFlagObserve)) {
    Breaker* breaker = RegistryAccess::Data(sw).observer.load(std::memory_order_acquire);
    const int64_t start = breaker != nullptr ? breaker->Admit() : Breaker::kNoReport;
    if (ABSL_PREDICT_TRUE(start != Breaker::kRefuse)) return {Decision::kRun, start};
    CountOutcome(id, kOutcomeSkipped);
    return {Decision::kSkip, 0};
  }
  return DecideSlowGeneral(sw, word, id, fault_word, nullptr);
}

SlowVerdict DecideSlowKeyed(const Switch& sw, int64_t word, uint32_t id, uint64_t fault_word,
                            std::string_view key) noexcept {
  // Only a dimmed word uses the key; every other word decides as unkeyed.
  if (word >= 0) return DecideSlow(sw, word, id, fault_word);
  return DecideSlowGeneral(sw, word, id, fault_word, &key);
}

void ObserveOutcome(const Switch& sw, bool ok, int64_t start) noexcept {
  Breaker* breaker = RegistryAccess::Data(sw).observer.load(std::memory_order_acquire);
  if (breaker != nullptr) breaker->Record(ok, start);
}

}  // namespace internal

uint32_t StickyPoint(std::string_view switch_name, std::string_view key) noexcept {
  return internal::StickyPointFromSeed(internal::StickySeed(switch_name), key);
}

Switch::Switch(SwitchSpec spec) noexcept
    : id_(internal::AcquireSwitchId()), data_(std::make_unique<internal::SwitchData>()) {
  internal::SetSpec(*data_, std::move(spec));
  Registry& global = Registry::Global();
  absl::Status status = internal::RegistryAccess::Core(global).Adopt(*this);
  if (!status.ok()) {
    // Not a crash and not a silent merge: loud, listed, and still usable with
    // its own default and environment state.
    const EffectiveState detached = internal::DetachedState(*data_, global);
    internal::RegistryAccess::Publish(*this, detached, false);
    global.Log(LogLevel::kError,
               absl::StrCat("DEGRADE_SWITCH: ", status.message(),
                            "; this definition is detached: it keeps its default and "
                            "environment state (",
                            DescribeState(detached), ") and no other layer can change it"));
  }
}

Switch::Switch(RegistryOwned, std::unique_ptr<internal::SwitchData> data) noexcept
    : id_(internal::AcquireSwitchId()), data_(std::move(data)) {}

Switch::~Switch() {
  if (Registry* r = data_->registry; r != nullptr) {
    internal::RegistryAccess::Core(*r).Unregister(*this);
  }
  internal::ReleaseSwitchId(id_);
}

std::string_view Switch::name() const noexcept { return data_->name; }
std::string_view Switch::description() const noexcept { return data_->description; }
std::string_view Switch::owner() const noexcept { return data_->owner; }
const std::vector<std::string>& Switch::groups() const noexcept { return data_->groups; }
int Switch::tier() const noexcept { return data_->tier; }
bool Switch::registered() const noexcept { return data_->registry != nullptr; }
Registry* Switch::registry() const noexcept { return data_->registry; }

EffectiveState Switch::state() const noexcept {
  const int64_t word = word_.load(std::memory_order_acquire);
  const uint64_t fault_word = fault_.load(std::memory_order_relaxed);
  EffectiveState e;
  if (word == internal::kWordOff) {
    e.state = State::kOff;
    return e;
  }
  if (word < 0) e.allow = std::ldexp(static_cast<double>(internal::WordThreshold(word)), -32);
  if ((internal::WordFlags(word) & internal::kFlagFault) && fault_word != 0) {
    Fault f;
    f.kind = internal::FaultWordKind(fault_word) == internal::kFaultKindError
                 ? Fault::Kind::kError
                 : Fault::Kind::kDelay;
    f.rate = std::ldexp(static_cast<double>(internal::FaultWordThreshold(fault_word)), -32);
    f.delay_ms = internal::FaultWordDelayMs(fault_word);
    e.fault = f;
  }
  return e;
}

}  // namespace degrade
