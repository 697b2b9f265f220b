// The environment-variable conventions (see degrade/env.h). This is the one
// place that maps names to variables; everything else calls it.
#include "degrade/env.h"

#include <array>
#include <cstdint>
#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/env_parse.h"
#include "core/str_util.h"

namespace degrade {
namespace {

using internal::ToAbsl;

std::string Mangle(std::string_view prefix, std::string_view name) {
  std::string out(prefix);
  out.reserve(prefix.size() + name.size());
  for (char c : name) {
    out.push_back(c == '.' || c == '-' ? '_' : absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

// Variables that configure degrade itself (the library, and degradectl,
// which an operator's shell may hold next to a service's variables). A
// switch whose variable would be one of these is rejected at definition;
// EnvTest.EveryVariableReadIsReserved finds one read but missing here.
constexpr std::array<std::string_view, 30> kReserved = {
    "DEGRADE_ALL",
    "DEGRADE_SHED",
    "DEGRADE_CONFIG_FILE",
    "DEGRADE_REMOTE_URLS",
    "DEGRADE_REMOTE_INTERVAL_MS",
    "DEGRADE_REMOTE_TIMEOUT_MS",
    "DEGRADE_REMOTE_CA_FILE",
    "DEGRADE_ETCD_ENDPOINTS",
    "DEGRADE_ETCD_PREFIX",
    "DEGRADE_ETCD_USER",
    "DEGRADE_ETCD_PASSWORD",
    "DEGRADE_ETCD_CA_FILE",
    "DEGRADE_CACHE_FILE",
    "DEGRADE_ADMIN_ADDR",
    "DEGRADE_ADMIN_TOKEN",
    "DEGRADE_ADMIN_ALLOW_REMOTE",
    "DEGRADE_ADMIN_TLS_CERT",
    "DEGRADE_ADMIN_TLS_KEY",
    "DEGRADE_ADMIN_ALLOWED_HOSTS",
    "DEGRADE_LOG_CHANGES",
    "DEGRADE_FILE_POLL_MS",
    "DEGRADE_GOVERNOR_TARGET_MS",
    "DEGRADE_GOVERNOR_PERCENTILE",
    "DEGRADE_GOVERNOR_PERIOD_MS",
    "DEGRADE_CONFIG_FORMAT",
    "DEGRADE_REMOTE_FORMAT",
    "DEGRADE_ETCD_REGISTER",
    "DEGRADE_ETCD_REGISTER_TTL_S",
    "DEGRADE_INSTANCE_ID",
    "DEGRADE_ADMIN_URL",
};

constexpr std::string_view kAccepted =
    "accepted: on, off, true, false, 1, 0, a fraction like 0.25, or a percentage like 25%";

}  // namespace

std::string EnvVarForSwitch(std::string_view switch_name) { return Mangle("DEGRADE_", switch_name); }

std::string EnvVarForGroup(std::string_view group_name) {
  return Mangle("DEGRADE_GROUP_", group_name);
}

bool IsReservedEnvVar(std::string_view var) noexcept {
  for (std::string_view r : kReserved) {
    if (var == r) return true;
  }
  // DEGRADE_GROUP_* belongs to groups: a switch named "group.x" would shadow
  // the variable of group "x".
  return var.substr(0, 14) == "DEGRADE_GROUP_";
}

namespace internal {

absl::StatusOr<bool> ParseEnvFlag(std::string_view var, std::string_view value) {
  const std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(ToAbsl(value)));
  if (v == "on" || v == "true" || v == "1") return true;
  if (v == "off" || v == "false" || v == "0") return false;
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(var), ": \"", ToAbsl(value),
                                                 "\" is not valid; accepted: ",
                                                 ToAbsl(kAcceptedEnvFlag)));
}

absl::StatusOr<int64_t> ParseEnvInteger(std::string_view var, std::string_view value,
                                        std::string_view what, int64_t min, int64_t max) {
  const absl::string_view v = absl::StripAsciiWhitespace(ToAbsl(value));
  int64_t n = 0;
  // SimpleAtoi alone takes a sign ("+500" read as 500), which hides a typo
  // and reads as if the value could be negative.
  if (v.empty() || v.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(v, &n) || n < min || n > max) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(var), ": \"", ToAbsl(value),
                                                   "\" is not valid; accepted: ", ToAbsl(what),
                                                   " from ", min, " to ", max,
                                                   ", in digits only"));
  }
  return n;
}

}  // namespace internal

absl::StatusOr<SwitchValue> ParseEnvValue(std::string_view var, std::string_view value) {
  const std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(ToAbsl(value)));
  SwitchValue out;
  auto invalid = [&]() {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(var), ": \"", ToAbsl(value), "\" is not a switch state; ", ToAbsl(kAccepted)));
  };
  if (v == "on" || v == "true" || v == "1") {
    out.state = State::kOn;
    return out;
  }
  if (v == "off" || v == "false" || v == "0") {
    out.state = State::kOff;
    return out;
  }
  if (v.empty()) return invalid();
  double fraction = 0;
  if (v.back() == '%') {
    double percent = 0;
    const absl::string_view number = absl::string_view(v).substr(0, v.size() - 1);
    // The same plain decimals as a fraction: SimpleAtod alone would also
    // take "1e1" and blanks ("5 %"), which the fraction form rejects.
    if (number.empty() || number.find_first_not_of("0123456789.") != absl::string_view::npos ||
        !(number[0] >= '0' && number[0] <= '9') || !absl::SimpleAtod(number, &percent) ||
        !std::isfinite(percent)) {
      return invalid();
    }
    if (percent < 0 || percent > 100) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(var), ": \"", ToAbsl(value),
                                                     "\" is not in [0%, 100%]; ", ToAbsl(kAccepted)));
    }
    fraction = percent / 100.0;
  } else {
    // Only plain decimals: "0.25", ".5" and "1.0"; no hex, inf, nan or exponents.
    if (v.find_first_not_of("0123456789.") != std::string::npos || !absl::SimpleAtod(v, &fraction)) {
      return invalid();
    }
    if (fraction < 0 || fraction > 1) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(var), ": \"", ToAbsl(value),
                                                     "\" is not in [0, 1]; ", ToAbsl(kAccepted)));
    }
  }
  if (fraction == 0.0) {
    out.state = State::kOff;
  } else {
    out.state = State::kOn;
    if (fraction < 1.0) out.allow = fraction;
  }
  return out;
}

}  // namespace degrade
