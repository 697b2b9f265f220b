// The listing as JSON (see degrade/listing.h).
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "degrade/listing.h"
#include "core/listing_json.h"
#include "core/snapshot_json.h"
#include "nlohmann/json.hpp"

namespace degrade {
namespace internal {
namespace {

nlohmann::json TimeOrNull(const std::optional<absl::Time>& t) {
  if (!t) return nullptr;
  return absl::FormatTime(absl::RFC3339_full, *t, absl::UTCTimeZone());
}

// null, or the breaker's state, policy (as a snapshot writes it), window,
// probes and transitions.
nlohmann::json BreakerJson(const std::optional<BreakerInfo>& b) {
  if (!b) return nullptr;
  return {
      {"state", std::string(BreakerStateName(b->state))},
      {"open", b->state == BreakerState::kOpen},
      {"policy", BreakerPolicyJson(b->policy)},
      {"policy_layer", std::string(LayerName(b->policy_layer))},
      {"window",
       {{"calls", b->window_calls},
        {"failures", b->window_failures},
        {"slow_calls", b->window_slow_calls},
        {"failure_ratio", b->window_failure_ratio},
        {"slow_call_ratio", b->window_slow_ratio}}},
      {"probes",
       {{"admitted", b->probes_admitted}, {"ok", b->probes_ok}, {"failed", b->probes_failed}}},
      {"transitions", b->transitions},
      {"times_opened", b->times_opened},
      {"last_transition", TimeOrNull(b->last_transition)},
      {"last_reason", b->last_reason},
      {"next_probe_at", TimeOrNull(b->next_probe_at)},
  };
}

}  // namespace

nlohmann::json SwitchInfoJson(const SwitchInfo& info) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerSetting& s : info.layers) {
    // The value as a snapshot writes it, built in place (not written as
    // text and parsed back).
    layers.push_back({{"layer", std::string(LayerName(s.layer))},
                      {"scope", s.scope},
                      {"value", SwitchValueJson(s.value)}});
  }
  nlohmann::json fault = nullptr;
  if (info.effective.fault) {
    fault = {{"kind", std::string(FaultKindName(info.effective.fault->kind))},
             {"rate", info.effective.fault->rate},
             {"delay_ms", info.effective.fault->delay_ms}};
  }
  return {
      {"name", info.name},
      {"description", info.description},
      {"owner", info.owner},
      {"groups", info.groups},
      {"tier", info.tier},
      {"env_var", info.env_var},
      {"defined", info.defined},
      {"state", std::string(StateName(info.effective.state))},
      {"allow", info.effective.allow},
      {"fault", fault},
      {"layer", std::string(LayerName(info.deciding_layer))},
      {"scope", info.scope},
      {"fault_layer",
       info.fault_layer ? nlohmann::json(std::string(LayerName(*info.fault_layer))) : nullptr},
      {"reason", info.reason},
      {"actor", info.actor},
      {"expires_at", TimeOrNull(info.expires_at)},
      {"layers", layers},
      {"counters",
       {{"calls", info.counters.calls},
        {"primary_ok", info.counters.primary_ok},
        {"skipped", info.counters.skipped},
        {"primary_failures", info.counters.primary_failures},
        {"injected_faults", info.counters.injected_faults},
        {"fallbacks", info.counters.fallbacks}}},
      {"breaker", BreakerJson(info.breaker)},
  };
}

nlohmann::json SourceHealthJson(const SourceHealth& h) {
  return {{"name", h.name},
          {"target", h.target},
          {"healthy", h.healthy},
          {"last_success", TimeOrNull(h.last_success)},
          {"last_error_time", TimeOrNull(h.last_error_time)},
          {"last_error", h.last_error},
          {"consecutive_failures", h.consecutive_failures},
          {"applied", h.applied}};
}

// The layers that shed, lowest first: what the console's banner shows.
nlohmann::json ShedsJson(const std::vector<LayerShed>& sheds) {
  nlohmann::json out = nlohmann::json::array();
  for (const LayerShed& s : sheds) {
    out.push_back({{"layer", std::string(LayerName(s.layer))},
                   {"level", s.shed.level},
                   {"actor", s.shed.actor},
                   {"reason", s.shed.reason},
                   {"expires_at", TimeOrNull(s.shed.expires_at)}});
  }
  return out;
}

nlohmann::json GovernorStatusJson(const GovernorStatus& g) {
  nlohmann::json setting = nullptr;
  if (g.setting_layer.has_value()) {
    setting = {{"layer", *g.setting_layer},
               {"actor", g.setting_actor},
               {"reason", g.setting_reason}};
  }
  nlohmann::json out = {{"configured", g.configured}, {"enabled", g.enabled}, {"cap", g.cap},
                        {"setting", setting}};
  if (!g.configured) return out;
  out["target_ms"] = absl::ToDoubleMilliseconds(g.options.target);
  out["percentile"] = g.options.percentile;
  out["period_ms"] = absl::ToDoubleMilliseconds(g.options.period);
  out["measured_ms"] = g.measured.has_value()
                           ? nlohmann::json(absl::ToDoubleMilliseconds(*g.measured))
                           : nlohmann::json(nullptr);
  out["samples"] = g.samples;
  out["in_flight"] = g.in_flight;
  out["served"] = g.served;
  out["tier"] = g.tier;
  out["tier_allow"] = g.tier_allow;
  out["tiers_off"] = g.tiers_off;
  out["periods"] = g.periods;
  out["last_period"] = TimeOrNull(g.last_period);
  return out;
}

nlohmann::json ListingJson(const Registry& registry) {
  nlohmann::json switches = nlohmann::json::array();
  for (const SwitchInfo& info : registry.List()) switches.push_back(SwitchInfoJson(info));
  nlohmann::json sources = nlohmann::json::array();
  for (const SourceHealth& h : registry.sources()) sources.push_back(SourceHealthJson(h));
  nlohmann::json errors = nlohmann::json::array();
  for (const ErrorRecord& e : registry.errors()) {
    errors.push_back({{"time", absl::FormatTime(absl::RFC3339_full, e.time, absl::UTCTimeZone())},
                      {"message", e.message}});
  }
  return {{"switches", switches},
          {"shed", ShedsJson(registry.Sheds())},
          {"sources", sources},
          {"errors", errors},
          {"governor", GovernorStatusJson(registry.governor())}};
}

std::string Dump(const nlohmann::json& j) {
  // Operators type reasons: replace invalid UTF-8 instead of throwing.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace internal

std::string SwitchInfoToJson(const SwitchInfo& info) {
  return internal::Dump(internal::SwitchInfoJson(info));
}

std::string ListingToJson(const Registry& registry) {
  return internal::Dump(internal::ListingJson(registry));
}

}  // namespace degrade
