// ParseSnapshot and ParseSwitchValue (see degrade/snapshot.h).
//
// The parser is where JSON values are checked: every name and value it
// returns passes ValidateName and ValidateSwitchValue (snapshot_test.cc holds
// that), so the registry applies a parsed snapshot without checking its
// values again (RegistryCore::Checked::kNamesAndValues).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/json_strict.h"
#include "core/snapshot_rules.h"
#include "degrade/breaker.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "nlohmann/json.hpp"

namespace degrade {
namespace {

using namespace internal::snapshot;  // NOLINT(google-build-using-namespace): the format's rules

constexpr double kMaxTtlSeconds = 30.0 * 24 * 60 * 60;

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::optional<double> AsNumber(const Json& value) {
  if (const auto* v = value.get_ptr<const Json::number_unsigned_t*>()) {
    return static_cast<double>(*v);
  }
  if (const auto* v = value.get_ptr<const Json::number_integer_t*>()) {
    return static_cast<double>(*v);
  }
  if (const auto* v = value.get_ptr<const Json::number_float_t*>()) return *v;
  return std::nullopt;
}

// Where messages go while one document is parsed. Warnings are kept here and
// handed to the caller only if the whole document is accepted.
struct Context {
  std::string_view source;
  absl::Time now;
  std::vector<std::string> warnings;

  std::string Prefix(std::string_view path) const {
    std::string out;
    if (!source.empty()) out = Cat(source, ": ");
    if (!path.empty()) out += Cat(path, ": ");
    return out;
  }
  absl::Status Error(std::string_view path, std::string_view message) const {
    return absl::InvalidArgumentError(Cat(Prefix(path), message));
  }
  // "<value> <problem>; accepted: <accepted>"
  absl::Status BadValue(std::string_view path, const Json& value, std::string_view problem,
                        std::string_view accepted) const {
    return Error(path, Cat(Render(value), " ", problem, "; accepted: ", accepted));
  }
  void WarnUnknown(std::string_view path) {
    warnings.push_back(Cat(Prefix(path), "unknown field, ignored"));
  }
};

// Duplicate keys are refused here, for every reader of snapshots at once
// (files, HTTP bodies, the cache, etcd values, admin bodies, the bindings).
absl::StatusOr<Json> ParseJson(const Context& context, std::string_view path,
                               std::string_view text) {
  absl::StatusOr<Json> root = internal::ParseJsonStrict(text, path);
  if (!root.ok()) {
    const absl::string_view message = root.status().message();
    return context.Error("", std::string_view(message.data(), message.size()));
  }
  return root;
}

absl::StatusOr<double> ParseFraction(const Context& context, std::string_view path,
                                     const Json& value) {
  const std::optional<double> number = AsNumber(value);
  if (!number) return context.BadValue(path, value, "is not a number", kAcceptedFraction);
  if (!InUnitInterval(*number)) return context.Error(path, Cat(Render(value), " is not in [0, 1]"));
  return *number;
}

absl::StatusOr<std::string> ParseText(const Context& context, std::string_view path,
                                      const Json& value) {
  const auto* text = value.get_ptr<const std::string*>();
  if (text == nullptr) return context.BadValue(path, value, "is not a string", kAcceptedText);
  if (text->size() > kMaxReasonLength) {
    return context.BadValue(path, value, Cat("is ", std::to_string(text->size()), " bytes long"),
                            kAcceptedText);
  }
  return *text;
}

absl::StatusOr<uint32_t> ParseDelay(const Context& context, std::string_view path,
                                    const Json& value) {
  const std::optional<double> number = AsNumber(value);
  // 200.0 is accepted: it is an integer, whatever the writer's JSON library
  // made of it.
  if (!number || !std::isfinite(*number) || std::floor(*number) != *number) {
    return context.BadValue(path, value, "is not an integer", kAcceptedDelay);
  }
  if (*number < 0 || *number > kMaxFaultDelayMs) {
    return context.BadValue(path, value, "is not in [0, 600000]", kAcceptedDelay);
  }
  return static_cast<uint32_t>(*number);
}

absl::Status ParseFault(Context& context, std::string_view path, const Json& value,
                        SwitchValue& out) {
  if (const auto* text = value.get_ptr<const std::string*>(); text != nullptr && *text == "off") {
    out.fault_cleared = true;
    return absl::OkStatus();
  }
  const auto* object = value.get_ptr<const Json::object_t*>();
  if (object == nullptr) return context.BadValue(path, value, "is not a fault", kAcceptedFault);

  Fault fault;
  bool has_kind = false;
  bool has_delay = false;
  for (const auto& [key, field] : *object) {
    const std::string field_path = Child(path, key);
    if (key == "kind") {
      const auto* kind = field.get_ptr<const std::string*>();
      if (kind != nullptr && *kind == "error") {
        fault.kind = Fault::Kind::kError;
      } else if (kind != nullptr && *kind == "delay") {
        fault.kind = Fault::Kind::kDelay;
      } else {
        return context.BadValue(field_path, field, "is not a fault kind", kAcceptedKind);
      }
      has_kind = true;
    } else if (key == "rate") {
      absl::StatusOr<double> rate = ParseFraction(context, field_path, field);
      if (!rate.ok()) return rate.status();
      fault.rate = *rate;
    } else if (key == "delay_ms") {
      absl::StatusOr<uint32_t> delay = ParseDelay(context, field_path, field);
      if (!delay.ok()) return delay.status();
      fault.delay_ms = *delay;
      has_delay = true;
    } else {
      context.WarnUnknown(field_path);
    }
  }
  if (!has_kind) {
    return context.Error(Child(path, "kind"), Cat("missing; accepted: ", kAcceptedKind));
  }
  if (fault.kind == Fault::Kind::kDelay && fault.delay_ms == 0) {
    const std::string delay_path = Child(path, "delay_ms");
    if (!has_delay) {
      return context.Error(delay_path, Cat("missing; accepted: ", kAcceptedDelayForDelayFault));
    }
    return context.BadValue(delay_path, Json(0), "is too small", kAcceptedDelayForDelayFault);
  }
  out.fault = fault;
  return absl::OkStatus();
}

// An integer in [min, max]; 20.0 counts as an integer, as for delay_ms.
absl::StatusOr<uint32_t> ParseBoundedInteger(const Context& context, std::string_view path,
                                             const Json& value, uint32_t min, uint32_t max,
                                             std::string_view accepted) {
  const std::optional<double> number = AsNumber(value);
  if (!number || !std::isfinite(*number) || std::floor(*number) != *number) {
    return context.BadValue(path, value, "is not an integer", accepted);
  }
  if (*number < min || *number > max) {
    return context.BadValue(
        path, value, Cat("is not in [", std::to_string(min), ", ", std::to_string(max), "]"),
        accepted);
  }
  return static_cast<uint32_t>(*number);
}

absl::StatusOr<double> ParseRatio(const Context& context, std::string_view path,
                                  const Json& value) {
  const std::optional<double> number = AsNumber(value);
  if (!number) return context.BadValue(path, value, "is not a number", kAcceptedRatio);
  if (!InRatioRange(*number)) {
    return context.BadValue(path, value, "is not in (0, 1]", kAcceptedRatio);
  }
  return *number;
}

absl::Status ParseBreaker(Context& context, std::string_view path, const Json& value,
                          SwitchValue& out) {
  if (const auto* text = value.get_ptr<const std::string*>(); text != nullptr && *text == "off") {
    out.breaker_cleared = true;
    return absl::OkStatus();
  }
  const auto* object = value.get_ptr<const Json::object_t*>();
  if (object == nullptr) {
    return context.BadValue(path, value, "is not a breaker policy", kAcceptedBreaker);
  }
  BreakerPolicy policy;
  const Json* window_size = nullptr;  // checked once the window kind is known
  for (const auto& [key, field] : *object) {
    const std::string field_path = Child(path, key);
    if (key == "window") {
      const auto* kind = field.get_ptr<const std::string*>();
      if (kind != nullptr && *kind == "count") {
        policy.window = BreakerPolicy::Window::kCount;
      } else if (kind != nullptr && *kind == "time") {
        policy.window = BreakerPolicy::Window::kTime;
      } else {
        return context.BadValue(field_path, field, "is not a window kind", kAcceptedWindow);
      }
    } else if (key == "window_size") {
      window_size = &field;
    } else if (key == "min_calls") {
      absl::StatusOr<uint32_t> n = ParseBoundedInteger(context, field_path, field, 1,
                                                       kMaxBreakerMinCalls, kAcceptedMinCalls);
      if (!n.ok()) return n.status();
      policy.min_calls = *n;
    } else if (key == "failure_ratio" || key == "slow_call_ratio") {
      absl::StatusOr<double> ratio = ParseRatio(context, field_path, field);
      if (!ratio.ok()) return ratio.status();
      (key == "failure_ratio" ? policy.failure_ratio : policy.slow_call_ratio) = *ratio;
    } else if (key == "slow_call_ms") {
      absl::StatusOr<uint32_t> ms = ParseBoundedInteger(
          context, field_path, field, 0, kMaxBreakerSlowCallMs, kAcceptedSlowCallMs);
      if (!ms.ok()) return ms.status();
      policy.slow_call_ms = *ms;
    } else if (key == "open_s") {
      const std::optional<double> number = AsNumber(field);
      if (!number) {
        return context.BadValue(field_path, field, "is not a number", kAcceptedOpenSeconds);
      }
      if (!std::isfinite(*number) || *number <= 0 || *number > kMaxBreakerOpenSeconds) {
        return context.BadValue(field_path, field, "is not in (0, 86400]", kAcceptedOpenSeconds);
      }
      policy.open_s = *number;
    } else if (key == "half_open_calls") {
      absl::StatusOr<uint32_t> n =
          ParseBoundedInteger(context, field_path, field, 1, kMaxBreakerHalfOpenCalls,
                              kAcceptedHalfOpenCalls);
      if (!n.ok()) return n.status();
      policy.half_open_calls = *n;
    } else {
      context.WarnUnknown(field_path);
    }
  }
  if (window_size != nullptr) {
    const bool time = policy.window == BreakerPolicy::Window::kTime;
    absl::StatusOr<uint32_t> size = ParseBoundedInteger(
        context, Child(path, "window_size"), *window_size, 1,
        time ? kMaxBreakerWindowSeconds : kMaxBreakerWindowCalls,
        time ? kAcceptedWindowSeconds : kAcceptedWindowCalls);
    if (!size.ok()) return size.status();
    policy.window_size = *size;
  }
  out.breaker = policy;
  return absl::OkStatus();
}

// The fields every entry with an author may have (a switch value, a shed, a
// governor setting): reason, actor, expires_at, ttl_s (kept in `ttl_s` until
// ApplyTtl, which needs to know whether expires_at was given too).
absl::Status ParseEntryField(const Context& context, std::string_view path, const std::string& key,
                             const Json& field, std::string& reason, std::string& actor,
                             std::optional<absl::Time>& expires_at,
                             std::optional<double>& ttl_s) {
  const std::string field_path = Child(path, key);
  if (key == "reason" || key == "actor") {
    absl::StatusOr<std::string> text = ParseText(context, field_path, field);
    if (!text.ok()) return text.status();
    (key == "reason" ? reason : actor) = *std::move(text);
  } else if (key == "expires_at") {
    const auto* text = field.get_ptr<const std::string*>();
    if (text == nullptr) return context.BadValue(field_path, field, "is not a string", kAcceptedTime);
    absl::Time time;
    std::string ignored;
    // ParseTime also takes "infinite-future", which is not RFC 3339.
    if (!absl::ParseTime(absl::RFC3339_full, AbslView(*text), &time, &ignored) ||
        time == absl::InfiniteFuture() || time == absl::InfinitePast()) {
      return context.BadValue(field_path, field, "is not an RFC 3339 time", kAcceptedTime);
    }
    if (!InTimeRange(time)) {
      return context.BadValue(field_path, field, kTimeRangeProblem, kAcceptedTimeRange);
    }
    expires_at = time;
  } else {  // ttl_s
    const std::optional<double> number = AsNumber(field);
    if (!number) return context.BadValue(field_path, field, "is not a number", kAcceptedTtl);
    if (!std::isfinite(*number) || *number <= 0 || *number > kMaxTtlSeconds) {
      return context.BadValue(field_path, field, "is not in (0, 2592000]", kAcceptedTtl);
    }
    ttl_s = *number;
  }
  return absl::OkStatus();
}

absl::Status ApplyTtl(const Context& context, std::string_view path,
                      const std::optional<double>& ttl_s, std::optional<absl::Time>& expires_at) {
  if (!ttl_s) return absl::OkStatus();
  if (expires_at) {
    return context.Error(path, "both expires_at and ttl_s given; accepted: one of them");
  }
  expires_at = context.now + absl::Seconds(*ttl_s);
  return absl::OkStatus();
}

absl::StatusOr<SwitchValue> ParseValue(Context& context, std::string_view path, const Json& value) {
  SwitchValue out;
  if (const auto* text = value.get_ptr<const std::string*>()) {
    if (*text == "on" || *text == "off") {
      out.state = *text == "on" ? State::kOn : State::kOff;
      return out;
    }
    const bool wrong_case =
        absl::EqualsIgnoreCase(*text, "on") || absl::EqualsIgnoreCase(*text, "off");
    return context.BadValue(
        path, value,
        wrong_case ? "is not a switch value (states are lower case)" : "is not a switch value",
        kAcceptedValue);
  }
  const auto* object = value.get_ptr<const Json::object_t*>();
  if (object == nullptr) {
    return context.BadValue(path, value, "is not a switch value", kAcceptedValue);
  }

  std::optional<double> ttl_s;
  for (const auto& [key, field] : *object) {
    const std::string field_path = Child(path, key);
    if (key == "state") {
      const auto* state = field.get_ptr<const std::string*>();
      if (state != nullptr && *state == "on") {
        out.state = State::kOn;
      } else if (state != nullptr && *state == "off") {
        out.state = State::kOff;
      } else {
        return context.BadValue(field_path, field, "is not a state", kAcceptedState);
      }
    } else if (key == "allow") {
      absl::StatusOr<double> allow = ParseFraction(context, field_path, field);
      if (!allow.ok()) return allow.status();
      out.allow = *allow;
    } else if (key == "fault") {
      if (absl::Status status = ParseFault(context, field_path, field, out); !status.ok()) {
        return status;
      }
    } else if (key == "reason" || key == "actor" || key == "expires_at" || key == "ttl_s") {
      if (absl::Status status =
              ParseEntryField(context, path, key, field, out.reason, out.actor, out.expires_at,
                              ttl_s);
          !status.ok()) {
        return status;
      }
    } else if (key == "breaker") {
      if (absl::Status status = ParseBreaker(context, field_path, field, out); !status.ok()) {
        return status;
      }
    } else {
      context.WarnUnknown(field_path);
    }
  }
  if (out.allow && out.state == State::kOff) {
    return context.Error(Child(path, "allow"),
                         Cat(FormatNumber(*out.allow),
                             R"( given with state "off"; allow is only meaningful with state on)"));
  }
  if (absl::Status status = ApplyTtl(context, path, ttl_s, out.expires_at); !status.ok()) {
    return status;
  }
  return out;
}

// "shed": an integer level, or an object with level, reason, actor,
// expires_at | ttl_s. Level 0 is no shed.
absl::StatusOr<std::optional<Shed>> ParseShedValue(Context& context, std::string_view path,
                                                   const Json& value) {
  auto level_of = [&](std::string_view level_path, const Json& v) -> absl::StatusOr<int> {
    const std::optional<double> number = v.is_boolean() ? std::nullopt : AsNumber(v);
    if (!number || !std::isfinite(*number) || std::floor(*number) != *number || *number < 0 ||
        *number > kMaxShedLevel) {
      return context.BadValue(level_path, v, "is not an integer in [0, 9]", kAcceptedShedLevel);
    }
    return static_cast<int>(*number);
  };
  if (!value.is_object()) {
    if (!AsNumber(value)) return context.BadValue(path, value, "is not a shed", kAcceptedShed);
    absl::StatusOr<int> level = level_of(path, value);
    if (!level.ok()) return level.status();
    if (*level == 0) return std::optional<Shed>();
    Shed shed;
    shed.level = *level;
    return std::optional<Shed>(std::move(shed));
  }
  Shed shed;
  bool has_level = false;
  std::optional<double> ttl_s;
  for (const auto& [key, field] : *value.get_ptr<const Json::object_t*>()) {
    if (key == "level") {
      absl::StatusOr<int> level = level_of(Child(path, key), field);
      if (!level.ok()) return level.status();
      shed.level = *level;
      has_level = true;
    } else if (key == "reason" || key == "actor" || key == "expires_at" || key == "ttl_s") {
      if (absl::Status status = ParseEntryField(context, path, key, field, shed.reason,
                                                shed.actor, shed.expires_at, ttl_s);
          !status.ok()) {
        return status;
      }
    } else {
      context.WarnUnknown(Child(path, key));
    }
  }
  if (!has_level) {
    return context.Error(Child(path, "level"), Cat("missing; accepted: ", kAcceptedShedLevel));
  }
  if (absl::Status status = ApplyTtl(context, path, ttl_s, shed.expires_at); !status.ok()) {
    return status;
  }
  if (shed.level == 0) return std::optional<Shed>();
  return std::optional<Shed>(std::move(shed));
}

// "governor": "on", "off", or an object with enabled, cap, reason, actor,
// expires_at | ttl_s.
absl::StatusOr<GovernorSetting> ParseGovernorValue(Context& context, std::string_view path,
                                                   const Json& value) {
  GovernorSetting out;
  if (const auto* text = value.get_ptr<const std::string*>()) {
    if (*text == "on" || *text == "off") {
      out.enabled = *text == "on";
      return out;
    }
    return context.BadValue(path, value, "is not a governor setting", kAcceptedGovernor);
  }
  const auto* object = value.get_ptr<const Json::object_t*>();
  if (object == nullptr) {
    return context.BadValue(path, value, "is not a governor setting", kAcceptedGovernor);
  }
  std::optional<double> ttl_s;
  for (const auto& [key, field] : *object) {
    const std::string field_path = Child(path, key);
    if (key == "enabled") {
      const auto* enabled = field.get_ptr<const bool*>();
      if (enabled == nullptr) {
        return context.BadValue(field_path, field, "is not a boolean", "true or false");
      }
      out.enabled = *enabled;
    } else if (key == "cap") {
      const std::optional<double> number = field.is_boolean() ? std::nullopt : AsNumber(field);
      if (!number || !std::isfinite(*number) || std::floor(*number) != *number ||
          *number < 1 || *number > kMaxShedLevel) {
        return context.BadValue(field_path, field, "is not an integer in [1, 9]",
                                kAcceptedGovernorCap);
      }
      out.cap = static_cast<int>(*number);
    } else if (key == "reason" || key == "actor" || key == "expires_at" || key == "ttl_s") {
      if (absl::Status status = ParseEntryField(context, path, key, field, out.reason, out.actor,
                                                out.expires_at, ttl_s);
          !status.ok()) {
        return status;
      }
    } else {
      context.WarnUnknown(field_path);
    }
  }
  if (absl::Status status = ApplyTtl(context, path, ttl_s, out.expires_at); !status.ok()) {
    return status;
  }
  return out;
}

absl::Status ParseEntries(Context& context, std::string_view path, const Json::object_t& entries,
                          std::string_view what, std::map<std::string, SwitchValue>& out) {
  for (const auto& [name, value] : entries) {
    const std::string entry_path = Child(path, name);
    if (std::optional<std::string> problem = NameProblem(name)) {
      return context.Error(entry_path,
                           Cat("invalid ", what, ": ", *problem, "; accepted: ", kNameRule));
    }
    absl::StatusOr<SwitchValue> parsed = ParseValue(context, entry_path, value);
    if (!parsed.ok()) return parsed.status();
    // Both maps sort keys the same way, so every insert lands at the end.
    out.emplace_hint(out.end(), name, *std::move(parsed));
  }
  return absl::OkStatus();
}

void Deliver(Context& context, std::vector<std::string>* warnings) {
  if (warnings == nullptr) return;
  for (std::string& warning : context.warnings) warnings->push_back(std::move(warning));
}

}  // namespace

absl::StatusOr<Snapshot> ParseSnapshot(std::string_view json, std::string_view source,
                                       absl::Time now, std::vector<std::string>* warnings) {
  Context context{source, now, {}};
  absl::StatusOr<Json> document = ParseJson(context, "", json);
  if (!document.ok()) return document.status();
  const auto* top = document->get_ptr<const Json::object_t*>();
  if (top == nullptr) {
    return context.BadValue("", *document, "is not a snapshot",
                            "an object with switches, groups, all, shed, governor");
  }

  const Json::object_t* switches = nullptr;
  const Json::object_t* groups = nullptr;
  const Json* all = nullptr;
  const Json* shed = nullptr;
  const Json* governor = nullptr;
  for (const auto& [key, value] : *top) {
    if (key == "switches" || key == "groups") {
      const auto* entries = value.get_ptr<const Json::object_t*>();
      if (entries == nullptr) {
        return context.BadValue(
            key, value, "is not an object",
            Cat("an object of ", key == "switches" ? "switch" : "group", " name to switch value"));
      }
      (key == "switches" ? switches : groups) = entries;
    } else if (key == "all") {
      all = &value;
    } else if (key == "shed") {
      shed = &value;
    } else if (key == "governor") {
      governor = &value;
    } else {
      context.WarnUnknown(PathKey(key));
    }
  }

  const size_t entries = (switches ? switches->size() : 0) + (groups ? groups->size() : 0);
  if (entries > kMaxSnapshotEntries) {
    return context.Error(
        "", Cat(std::to_string(entries), " entries in switches and groups; accepted: at most ",
                std::to_string(kMaxSnapshotEntries)));
  }

  Snapshot snapshot;
  if (switches != nullptr) {
    absl::Status status =
        ParseEntries(context, "switches", *switches, "switch name", snapshot.switches);
    if (!status.ok()) return status;
  }
  if (groups != nullptr) {
    absl::Status status = ParseEntries(context, "groups", *groups, "group name", snapshot.groups);
    if (!status.ok()) return status;
  }
  if (all != nullptr) {
    absl::StatusOr<SwitchValue> value = ParseValue(context, "all", *all);
    if (!value.ok()) return value.status();
    snapshot.all = *std::move(value);
  }
  if (shed != nullptr) {
    absl::StatusOr<std::optional<Shed>> value = ParseShedValue(context, "shed", *shed);
    if (!value.ok()) return value.status();
    snapshot.shed = *std::move(value);
  }
  if (governor != nullptr) {
    absl::StatusOr<GovernorSetting> value = ParseGovernorValue(context, "governor", *governor);
    if (!value.ok()) return value.status();
    snapshot.governor = *std::move(value);
  }
  Deliver(context, warnings);
  return snapshot;
}

absl::StatusOr<SwitchValue> ParseSwitchValue(std::string_view json, std::string_view source,
                                             std::string_view path, absl::Time now,
                                             std::vector<std::string>* warnings) {
  Context context{source, now, {}};
  absl::StatusOr<Json> document = ParseJson(context, path, json);
  if (!document.ok()) return document.status();
  absl::StatusOr<SwitchValue> value = ParseValue(context, path, *document);
  if (value.ok()) Deliver(context, warnings);
  return value;
}


absl::StatusOr<std::optional<Shed>> ParseShed(std::string_view json, std::string_view source,
                                              std::string_view path, absl::Time now,
                                              std::vector<std::string>* warnings) {
  Context context{source, now, {}};
  absl::StatusOr<Json> document = ParseJson(context, path, json);
  if (!document.ok()) return document.status();
  absl::StatusOr<std::optional<Shed>> shed = ParseShedValue(context, path, *document);
  if (shed.ok()) Deliver(context, warnings);
  return shed;
}

absl::StatusOr<GovernorSetting> ParseGovernorSetting(std::string_view json,
                                                     std::string_view source,
                                                     std::string_view path, absl::Time now,
                                                     std::vector<std::string>* warnings) {
  Context context{source, now, {}};
  absl::StatusOr<Json> document = ParseJson(context, path, json);
  if (!document.ok()) return document.status();
  absl::StatusOr<GovernorSetting> setting = ParseGovernorValue(context, path, *document);
  if (setting.ok()) Deliver(context, warnings);
  return setting;
}

}  // namespace degrade
