// Values of the variables that configure degrade itself (DEGRADE_LOG_CHANGES,
// DEGRADE_REMOTE_INTERVAL_MS, ...), read one way everywhere. Switch states
// (DEGRADE_<NAME>) are ParseEnvValue's (degrade/env.h). Not installed.
#ifndef DEGRADE_LIB_CORE_ENV_PARSE_H_
#define DEGRADE_LIB_CORE_ENV_PARSE_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace degrade::internal {

// What ParseEnvFlag accepts, for messages and docs.
inline constexpr std::string_view kAcceptedEnvFlag = "on, off, true, false, 1 or 0 (any case)";

// A yes/no setting: on/true/1 or off/false/0, any case, surrounding blanks
// ignored. Anything else (yes, enabled, 25%) is InvalidArgument naming the
// variable, the value and the accepted words:
//   DEGRADE_LOG_CHANGES: "yes" is not valid; accepted: on, off, true, false,
//   1 or 0 (any case)
absl::StatusOr<bool> ParseEnvFlag(std::string_view var, std::string_view value);

// A whole number in [min, max] written in decimal digits only, surrounding
// blanks ignored. A sign ("+500", "-500"), a fraction, an exponent or any
// other character is InvalidArgument, as is a number out of range:
//   DEGRADE_REMOTE_INTERVAL_MS: "+500" is not valid; accepted: a whole
//   number of milliseconds from 100 to 3600000, in digits only
// `what` names the unit: "a whole number of milliseconds".
absl::StatusOr<int64_t> ParseEnvInteger(std::string_view var, std::string_view value,
                                        std::string_view what, int64_t min, int64_t max);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CORE_ENV_PARSE_H_
