// A switch's declaration as the registry keeps it (core/switch_data.h).
#include <memory>
#include <utility>

#include "core/sticky_hash.h"
#include "core/switch_data.h"

namespace degrade::internal {

std::unique_ptr<Switch> RegistryAccess::MakeOwned(std::unique_ptr<SwitchData> data) {
  return std::unique_ptr<Switch>(new Switch(Switch::RegistryOwned{}, std::move(data)));
}

void SetSpec(SwitchData& d, SwitchSpec spec) {
  d.name = std::move(spec.name);
  d.sticky_seed = StickySeed(d.name);
  d.description = std::move(spec.description);
  d.owner = std::move(spec.owner);
  d.groups = std::move(spec.groups);
  d.default_state = spec.default_state;
  d.tier = spec.tier;
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

}  // namespace degrade::internal
