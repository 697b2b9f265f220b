// degrade/env.h: the environment-variable conventions, written once.
//
//   DEGRADE_<NAME>          state of switch NAME (upper-cased, '.' and '-' -> '_')
//   DEGRADE_GROUP_<GROUP>   state of every member of GROUP
//   DEGRADE_ALL             state of every switch
//
// Values, any case, surrounding blanks ignored: on/off, true/false, 1/0, or a
// fraction "0.25" / "25%" meaning on with that allow.
#ifndef DEGRADE_ENV_H_
#define DEGRADE_ENV_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "degrade/export.h"
#include "degrade/state.h"

namespace degrade {

// "search.suggest" -> "DEGRADE_SEARCH_SUGGEST". The name must be valid.
DEGRADE_EXPORT std::string EnvVarForSwitch(std::string_view switch_name);
// "tier2" -> "DEGRADE_GROUP_TIER2".
DEGRADE_EXPORT std::string EnvVarForGroup(std::string_view group_name);
inline constexpr std::string_view kEnvAll = "DEGRADE_ALL";
// The env layer's shed level (docs/shedding.md): 0 (none) to 9, in digits.
inline constexpr std::string_view kEnvShed = "DEGRADE_SHED";

// True for the DEGRADE_* variables that configure degrade itself or
// degradectl (and so can never name a switch): DEGRADE_CONFIG_FILE,
// DEGRADE_REMOTE_URLS, DEGRADE_INSTANCE_ID, DEGRADE_ADMIN_URL, ...
DEGRADE_EXPORT bool IsReservedEnvVar(std::string_view var) noexcept;

// Parses a value as above into a SwitchValue with `state` (and `allow` for
// fractions). InvalidArgument names the variable, the value and what is
// accepted: `DEGRADE_RECS: "of" is not a switch state; accepted: on, off,
// true, false, 1, 0, a fraction like 0.25, or a percentage like 25%`.
DEGRADE_EXPORT absl::StatusOr<SwitchValue> ParseEnvValue(std::string_view var,
                                                         std::string_view value);

}  // namespace degrade

#endif  // DEGRADE_ENV_H_
