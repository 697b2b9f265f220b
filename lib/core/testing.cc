// Test helpers (see degrade/testing.h).
#include "degrade/testing.h"

#include <utility>

namespace degrade::testing {

ScopedOverride::ScopedOverride(Switch& sw, State state)
    : ScopedOverride(sw, [state] {
        SwitchValue v;
        v.state = state;
        return v;
      }()) {}

ScopedOverride::ScopedOverride(Switch& sw, SwitchValue value) {
  registry_ = sw.registry();
  if (registry_ == nullptr) return;
  name_ = std::string(sw.name());
  const Snapshot admin = registry_->LayerSnapshot(Layer::kAdmin);
  if (auto it = admin.switches.find(name_); it != admin.switches.end()) previous_ = it->second;
  if (value.actor.empty()) value.actor = "test";
  ok_ = registry_->SetOverride(name_, std::move(value)).ok();
}

ScopedOverride::~ScopedOverride() {
  if (!ok_) return;
  if (previous_) {
    (void)registry_->SetOverride(name_, *previous_);
  } else {
    (void)registry_->ClearOverride(name_);
  }
}

ScopedAllOff::ScopedAllOff(Registry& registry)
    : registry_(registry), previous_(registry.LayerSnapshot(Layer::kAdmin)) {
  Snapshot all_off;
  SwitchValue off;
  off.state = State::kOff;
  off.actor = "test";
  off.reason = "degrade::testing::ScopedAllOff";
  all_off.all = off;
  (void)registry_.ApplySnapshot(Layer::kAdmin, std::move(all_off), "test");
}

ScopedAllOff::~ScopedAllOff() {
  (void)registry_.ApplySnapshot(Layer::kAdmin, std::move(previous_), "test");
}

FakeClock::FakeClock(absl::Time start) : now_ns_(absl::ToUnixNanos(start)) {}
absl::Time FakeClock::Now() const {
  return absl::FromUnixNanos(now_ns_.load(std::memory_order_acquire));
}
void FakeClock::Advance(absl::Duration d) {
  now_ns_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_acq_rel);
}
void FakeClock::Set(absl::Time t) { now_ns_.store(absl::ToUnixNanos(t), std::memory_order_release); }

}  // namespace degrade::testing
