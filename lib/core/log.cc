// Log levels, the default stderr sink, and change events as JSON lines.
#include <cstdio>
#include <string>

#include "absl/time/time.h"
#include "degrade/log.h"
#include "degrade/registry.h"
#include "nlohmann/json.hpp"

namespace degrade {

std::string_view LogLevelName(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kChange:
      return "change";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

LogSink StderrLogSink() {
  return [](LogLevel level, std::string_view message) {
    if (level == LogLevel::kInfo) return;
    // One fwrite per line: lines from several threads do not interleave.
    std::string line;
    if (level == LogLevel::kChange) {
      line.assign(message);
    } else {
      line = "degrade: ";
      line += LogLevelName(level);
      line += ": ";
      line += message;
    }
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
  };
}

namespace {

nlohmann::json StateJson(const EffectiveState& s) {
  nlohmann::json j = {{"state", std::string(StateName(s.state))}};
  if (s.state == State::kOn && s.allow < 1.0) j["allow"] = s.allow;
  if (s.fault) {
    j["fault"] = {{"kind", std::string(FaultKindName(s.fault->kind))}, {"rate", s.fault->rate}};
    if (s.fault->delay_ms > 0) j["fault"]["delay_ms"] = s.fault->delay_ms;
  }
  return j;
}

}  // namespace

std::string ChangeEventToJson(const ChangeEvent& event) {
  // The audit trail's one shape (docs/audit.md); `degradectl watch --json`
  // prints the same fields in the same order. Absent layers and expiries
  // are null, not left out, so every line has every field.
  auto time = [](absl::Time t) {
    return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
  };
  nlohmann::json j = {
      {"time", time(event.time)},
      {"event", "change"},
      {"switch", event.name},
      {"old", StateJson(event.old_state)},
      {"new", StateJson(event.new_state)},
      {"old_layer", std::string(LayerName(event.old_layer))},
      {"layer", std::string(LayerName(event.layer))},
      {"fault_layer", event.fault_layer ? nlohmann::json(std::string(LayerName(*event.fault_layer)))
                                        : nlohmann::json(nullptr)},
      {"actor", event.actor},
      {"reason", event.reason},
      {"expires_at",
       event.expires_at ? nlohmann::json(time(*event.expires_at)) : nlohmann::json(nullptr)},
  };
  if (event.revision) j["revision"] = *event.revision;
  // Replace invalid UTF-8 rather than throw: reasons come from operators.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace degrade
