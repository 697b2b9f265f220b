// The env layer: DEGRADE_<NAME>, DEGRADE_GROUP_<GROUP>, DEGRADE_ALL and
// DEGRADE_SHED (degrade/env.h for the names and values), read as switches are
// defined (the last two once, at construction).
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/env_parse.h"
#include "core/registry_core.h"
#include "core/str_util.h"
#include "degrade/env.h"

namespace degrade::internal {

std::optional<std::string> RegistryCore::Getenv(std::string_view var) const {
  if (getenv_) return getenv_(var);
  const char* v = std::getenv(std::string(var).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

void RegistryCore::ReadProcessEnvLocked(std::vector<PendingLog>& logs) {
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
  if (auto shed = Getenv(kEnvShed)) {
    absl::StatusOr<int64_t> level =
        ParseEnvInteger(kEnvShed, *shed, "a shed level (0: none)", 0, kMaxShedLevel);
    if (!level.ok()) {
      logs.push_back({LogLevel::kError, absl::StrCat("env: ", level.status().message(),
                                                     "; ignored")});
    } else if (*level > 0) {
      Shed s;
      s.level = static_cast<int>(*level);
      s.actor = "env";
      s.reason = absl::StrCat(ToAbsl(kEnvShed), "=", *shed);
      env_layer_.shed = std::move(s);
    }
  }
  // The env layer is env_layer_ itself, never copied: it only grows, and
  // std::map nodes keep their addresses, so every switch's env view stays
  // valid while later definitions add entries.
  layers_[static_cast<int>(Layer::kEnv)] =
      std::shared_ptr<const Snapshot>(std::shared_ptr<void>(), &env_layer_);
  // No switch is defined yet: nothing to recompute.
  SyncShedLocked(Layer::kEnv);
  // Audit trail without code: DEGRADE_LOG_CHANGES=on prints change events.
  if (auto v = Getenv("DEGRADE_LOG_CHANGES")) {
    // A yes/no setting, not a switch state: "25%" means nothing here.
    absl::StatusOr<bool> parsed = internal::ParseEnvFlag("DEGRADE_LOG_CHANGES", *v);
    if (parsed.ok()) {
      log_changes_ = *parsed;
    } else {
      logs.push_back({LogLevel::kError, absl::StrCat("env: ", parsed.status().message(),
                                                     "; ignored")});
    }
  }
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

}  // namespace degrade::internal
