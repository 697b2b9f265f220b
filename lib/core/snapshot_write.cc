// SnapshotToJson and SwitchValueToJson (see degrade/snapshot.h), and the
// nlohmann form of a value for the listing (core/snapshot_json.h).
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "core/snapshot_json.h"
#include "degrade/breaker.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "nlohmann/json.hpp"

namespace degrade {
namespace {

using Json = nlohmann::json;

std::string Dump(const Json& json) {
  // replace: a string built in code may not be UTF-8, and strict would throw.
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

namespace internal {

nlohmann::json BreakerPolicyJson(const BreakerPolicy& p) {
  Json breaker = Json::object();
  breaker["window"] = std::string(BreakerWindowName(p.window));
  breaker["window_size"] = p.window_size;
  breaker["min_calls"] = p.min_calls;
  breaker["failure_ratio"] = p.failure_ratio;
  breaker["slow_call_ms"] = p.slow_call_ms;
  breaker["slow_call_ratio"] = p.slow_call_ratio;
  breaker["open_s"] = p.open_s;
  breaker["half_open_calls"] = p.half_open_calls;
  return breaker;
}

nlohmann::json SwitchValueJson(const SwitchValue& value) {
  const bool only_state = value.state && !value.allow && !value.fault && !value.fault_cleared &&
                          !value.SetsBreaker() && value.reason.empty() && value.actor.empty() &&
                          !value.expires_at;
  if (only_state) return std::string(StateName(*value.state));

  Json out = Json::object();
  if (value.state) out["state"] = std::string(StateName(*value.state));
  if (value.allow) out["allow"] = *value.allow;
  if (value.fault) {
    Json fault = Json::object();
    fault["kind"] = std::string(FaultKindName(value.fault->kind));
    fault["rate"] = value.fault->rate;
    fault["delay_ms"] = value.fault->delay_ms;
    out["fault"] = std::move(fault);
  } else if (value.fault_cleared) {
    out["fault"] = "off";
  }
  if (value.breaker) {
    out["breaker"] = BreakerPolicyJson(*value.breaker);
  } else if (value.breaker_cleared) {
    out["breaker"] = "off";
  }
  if (!value.reason.empty()) out["reason"] = value.reason;
  if (!value.actor.empty()) out["actor"] = value.actor;
  if (value.expires_at) {
    out["expires_at"] =
        absl::FormatTime(absl::RFC3339_full, *value.expires_at, absl::UTCTimeZone());
  }
  return out;
}

nlohmann::json ShedJson(const Shed& shed) {
  if (shed.reason.empty() && shed.actor.empty() && !shed.expires_at) return shed.level;
  Json out = Json::object();
  out["level"] = shed.level;
  if (!shed.reason.empty()) out["reason"] = shed.reason;
  if (!shed.actor.empty()) out["actor"] = shed.actor;
  if (shed.expires_at) {
    out["expires_at"] = absl::FormatTime(absl::RFC3339_full, *shed.expires_at, absl::UTCTimeZone());
  }
  return out;
}

nlohmann::json GovernorSettingJson(const GovernorSetting& g) {
  if (g.enabled && !g.cap && g.reason.empty() && g.actor.empty() && !g.expires_at) {
    return *g.enabled ? "on" : "off";
  }
  Json out = Json::object();
  if (g.enabled) out["enabled"] = *g.enabled;
  if (g.cap) out["cap"] = *g.cap;
  if (!g.reason.empty()) out["reason"] = g.reason;
  if (!g.actor.empty()) out["actor"] = g.actor;
  if (g.expires_at) {
    out["expires_at"] = absl::FormatTime(absl::RFC3339_full, *g.expires_at, absl::UTCTimeZone());
  }
  return out;
}

}  // namespace internal

std::string SnapshotToJson(const Snapshot& snapshot) {
  Json out = Json::object();
  if (!snapshot.switches.empty()) {
    Json& switches = out["switches"] = Json::object();
    for (const auto& [name, value] : snapshot.switches) {
      switches[name] = internal::SwitchValueJson(value);
    }
  }
  if (!snapshot.groups.empty()) {
    Json& groups = out["groups"] = Json::object();
    for (const auto& [name, value] : snapshot.groups) {
      groups[name] = internal::SwitchValueJson(value);
    }
  }
  if (snapshot.all) out["all"] = internal::SwitchValueJson(*snapshot.all);
  if (snapshot.shed) out["shed"] = internal::ShedJson(*snapshot.shed);
  if (snapshot.governor) out["governor"] = internal::GovernorSettingJson(*snapshot.governor);
  return Dump(out);
}

std::string ShedToJson(const Shed& shed) { return Dump(internal::ShedJson(shed)); }

std::string GovernorSettingToJson(const GovernorSetting& setting) {
  return Dump(internal::GovernorSettingJson(setting));
}

std::string SwitchValueToJson(const SwitchValue& value) {
  return Dump(internal::SwitchValueJson(value));
}

}  // namespace degrade
