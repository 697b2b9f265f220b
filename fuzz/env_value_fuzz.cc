// Fuzz target: environment values (DESIGN section 4), through ParseEnvValue
// and through a registry's env layer.
//
// Input: byte 0 picks the variable (0: DEGRADE_<NAME> of a switch, 1:
// DEGRADE_GROUP_<GROUP>, 2: DEGRADE_ALL); the rest is the value. A value is
// cut at its first NUL, as a real environment would.
//
// Properties checked:
//   - an accepted value sets a state and nothing but state and allow; it
//     passes ValidateSwitchValue; allow, when present, is in (0, 1) and only
//     with state on; "off"-like words and 0 / 0% give off, "on"-like words,
//     1 and 100% give plain on;
//   - a fraction's allow equals the number written (strtod of the trimmed
//     text, divided by 100 for a percentage): the parser reads what the
//     operator wrote;
//   - a rejected value gives InvalidArgument naming the variable and saying
//     what is accepted;
//   - through a registry: an accepted value decides the switch (env layer,
//     the same state and allow); a rejected one is recorded as one error
//     naming the variable and leaves the switch at its default (on).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "degrade/env.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "degrade/switch.h"
#include "fuzz_check.h"
#include "fuzz_util.h"

namespace {

using degrade::State;
using degrade::SwitchValue;

constexpr std::string_view kSwitch = "search.suggest-v2";
constexpr std::string_view kGroup = "tier-2";

std::string Lower(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  return out;
}

std::string_view Trim(std::string_view s) {
  constexpr std::string_view kBlanks = " \t\n\v\f\r";
  const size_t first = s.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kBlanks) - first + 1);
}

void CheckAccepted(const SwitchValue& v, std::string_view raw) {
  const std::string what = "value \"" + std::string(raw) + "\"";
  DEGRADE_FUZZ_CHECK(v.state.has_value(), what + ": no state");
  DEGRADE_FUZZ_CHECK(!v.SetsFault() && !v.SetsBreaker() && v.reason.empty() && v.actor.empty() &&
                         !v.expires_at,
                     what + ": sets more than a state");
  DEGRADE_FUZZ_CHECK(degrade::ValidateSwitchValue(v).ok(), what + ": fails validation");
  if (v.allow) {
    DEGRADE_FUZZ_CHECK(*v.state == State::kOn, what + ": allow with state off");
    DEGRADE_FUZZ_CHECK(*v.allow > 0.0 && *v.allow < 1.0, what + ": allow not in (0, 1)");
  }
  const std::string text = Lower(Trim(raw));
  if (text == "on" || text == "true" || text == "1") {
    DEGRADE_FUZZ_CHECK(*v.state == State::kOn && !v.allow, what + ": not plain on");
    return;
  }
  if (text == "off" || text == "false" || text == "0") {
    DEGRADE_FUZZ_CHECK(*v.state == State::kOff, what + ": not off");
    return;
  }
  // A fraction or a percentage: the allow (1 when absent, 0 when off) is
  // the number written.
  const bool percent = !text.empty() && text.back() == '%';
  const std::string number = percent ? text.substr(0, text.size() - 1) : text;
  DEGRADE_FUZZ_CHECK(!number.empty(), what + ": accepted without a number");
  // Plain decimals only, in both forms: no exponent, hex, inf, nan, sign
  // or inner blank.
  DEGRADE_FUZZ_CHECK(number.find_first_not_of("0123456789.") == std::string::npos,
                     what + ": not a plain decimal, but accepted");
  char* end = nullptr;
  double written = std::strtod(number.c_str(), &end);
  DEGRADE_FUZZ_CHECK(end == number.c_str() + number.size(), what + ": not a whole number");
  if (percent) written /= 100.0;
  DEGRADE_FUZZ_CHECK(written >= 0.0 && written <= 1.0, what + ": out of range but accepted");
  const double allow = *v.state == State::kOff ? 0.0 : v.allow.value_or(1.0);
  DEGRADE_FUZZ_CHECK(allow == written, what + ": allow " + std::to_string(allow) +
                                           " is not the number written " + std::to_string(written));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int kind = data[0] % 3;
  std::string_view raw(reinterpret_cast<const char*>(data + 1), size - 1);
  raw = raw.substr(0, raw.find('\0'));

  const std::string var = kind == 0   ? degrade::EnvVarForSwitch(kSwitch)
                          : kind == 1 ? degrade::EnvVarForGroup(kGroup)
                                      : std::string(degrade::kEnvAll);

  absl::StatusOr<SwitchValue> parsed = degrade::ParseEnvValue(var, raw);
  if (parsed.ok()) {
    CheckAccepted(*parsed, raw);
  } else {
    DEGRADE_FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument,
                       parsed.status().ToString());
    const std::string_view message(parsed.status().message().data(),
                                   parsed.status().message().size());
    DEGRADE_FUZZ_CHECK(message.starts_with(var + ": "), std::string(message));
    DEGRADE_FUZZ_CHECK(message.find("accepted: ") != std::string_view::npos, std::string(message));
  }

  // The same value through the registry's env layer.
  const std::string value(raw);
  degrade::Registry registry(degrade::fuzz::QuietRegistryOptions(
      [&](std::string_view name) -> std::optional<std::string> {
        if (name == var) return value;
        return std::nullopt;
      }));
  absl::StatusOr<degrade::Switch*> sw = registry.Define(
      {.name = std::string(kSwitch), .description = "fuzz", .groups = {std::string(kGroup)}});
  DEGRADE_FUZZ_CHECK(sw.ok(), sw.status().ToString());
  absl::StatusOr<degrade::SwitchInfo> info = registry.Get(kSwitch);
  DEGRADE_FUZZ_CHECK(info.ok(), info.status().ToString());
  const degrade::Snapshot env = registry.LayerSnapshot(degrade::Layer::kEnv);
  if (parsed.ok()) {
    DEGRADE_FUZZ_CHECK(info->deciding_layer == degrade::Layer::kEnv, "env did not decide");
    DEGRADE_FUZZ_CHECK(info->effective.state == *parsed->state, "env state not applied");
    if (*parsed->state == State::kOn) {
      DEGRADE_FUZZ_CHECK(info->effective.allow == parsed->allow.value_or(1.0),
                         "env allow not applied");
    }
    DEGRADE_FUZZ_CHECK((*sw)->enabled() == info->effective.calls_pass() ||
                           (info->effective.allow > 0.0 && info->effective.allow < 1.0),
                       "enabled() disagrees with the listing");
    DEGRADE_FUZZ_CHECK(registry.errors().empty(), "an accepted value was reported as an error");
    DEGRADE_FUZZ_CHECK(!env.empty(), "env layer empty after an accepted value");
  } else {
    DEGRADE_FUZZ_CHECK(info->deciding_layer == degrade::Layer::kDefault,
                       "a rejected value decided the switch");
    DEGRADE_FUZZ_CHECK(info->effective == degrade::EffectiveState{}, "default state changed");
    DEGRADE_FUZZ_CHECK(env.empty(), "env layer holds a rejected value");
    const auto errors = registry.errors();
    DEGRADE_FUZZ_CHECK(errors.size() == 1, "expected one error record");
    DEGRADE_FUZZ_CHECK(errors[0].message.find(var) != std::string::npos, errors[0].message);
    DEGRADE_FUZZ_CHECK((*sw)->enabled(), "switch not on after a rejected value");
  }
  return 0;
}
