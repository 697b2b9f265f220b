// The snapshot format's rules as messages state them: limits, what each
// field accepts, names, and how a bad value is shown. Shared by the parser
// (snapshot_parse.cc) and the validator (snapshot_validate.cc), so both say
// the same thing the same way. Not installed.
#ifndef DEGRADE_LIB_CORE_SNAPSHOT_RULES_H_
#define DEGRADE_LIB_CORE_SNAPSHOT_RULES_H_

#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "degrade/breaker.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "core/str_util.h"
#include "nlohmann/json.hpp"

namespace degrade::internal::snapshot {

using Json = nlohmann::json;

// Values and keys echoed in messages are cut to this many bytes, so a hostile
// payload cannot make an error message (or a log line) huge.
inline constexpr size_t kMaxRenderedLength = 64;
inline constexpr size_t kMaxNameLength = 128;
inline constexpr double kMaxTtlSeconds = 30.0 * 24 * 60 * 60;

inline constexpr std::string_view kAcceptedValue =
    R"("on", "off" or an object with state, allow, fault, reason, actor, expires_at, ttl_s, breaker)";
inline constexpr std::string_view kAcceptedState = R"("on" or "off")";
inline constexpr std::string_view kAcceptedFraction = "a number in [0, 1]";
inline constexpr std::string_view kAcceptedFault =
    R"("off" or an object with kind ("error" or "delay"), rate, delay_ms)";
inline constexpr std::string_view kAcceptedKind = R"("error" or "delay")";
inline constexpr std::string_view kAcceptedDelay = "an integer number of milliseconds in [0, 600000]";
inline constexpr std::string_view kAcceptedDelayForDelayFault =
    R"(an integer number of milliseconds in [1, 600000] for a "delay" fault)";
inline constexpr std::string_view kAcceptedText = "a string of at most 1024 bytes of UTF-8";
inline constexpr std::string_view kAcceptedTime = R"(an RFC 3339 time such as "2026-11-21T12:00:00Z")";
// Times are written back as RFC 3339 in UTC, and absl::FormatTime writes
// years as they are: "10000-01-01" (five digits) and "999-01-01" (three) are
// not RFC 3339. So an expiry must fall in years 1000 to 9999, UTC.
inline constexpr std::string_view kTimeRangeProblem = "is outside years 1000 to 9999 (UTC)";
inline constexpr std::string_view kAcceptedTimeRange =
    R"(an RFC 3339 time from "1000-01-01T00:00:00Z" to "9999-12-31T23:59:59Z")";
inline constexpr std::string_view kAcceptedTtl = "a number of seconds in (0, 2592000] (30 days)";
inline constexpr std::string_view kAcceptedBreaker =
    R"("off" or an object with window, window_size, min_calls, failure_ratio, slow_call_ms, slow_call_ratio, open_s, half_open_calls)";
inline constexpr std::string_view kAcceptedWindow = R"("count" or "time")";
inline constexpr std::string_view kAcceptedWindowSeconds =
    R"(an integer number of seconds in [1, 3600] for a "time" window)";
inline constexpr std::string_view kAcceptedWindowCalls =
    R"(an integer number of calls in [1, 10000] for a "count" window)";
inline constexpr std::string_view kAcceptedMinCalls = "an integer in [1, 1000000]";
inline constexpr std::string_view kAcceptedRatio = "a number in (0, 1]";
inline constexpr std::string_view kAcceptedSlowCallMs =
    "an integer number of milliseconds in [0, 600000] (0: calls are not timed)";
inline constexpr std::string_view kAcceptedOpenSeconds = "a number of seconds in (0, 86400]";
inline constexpr std::string_view kAcceptedHalfOpenCalls = "an integer in [1, 1000]";
inline constexpr std::string_view kAcceptedShedLevel = "an integer in [0, 9] (0: no shed)";
inline constexpr std::string_view kAcceptedShed =
    "an integer in [0, 9] (0: no shed) or an object with level, reason, actor, expires_at, ttl_s";
inline constexpr std::string_view kAcceptedGovernor =
    R"("on", "off" or an object with enabled, cap, reason, actor, expires_at, ttl_s)";
inline constexpr std::string_view kAcceptedGovernorCap = "an integer tier in [1, 9]";
inline constexpr std::string_view kNameRule =
    "1-128 characters of [a-z0-9._-], starting with a letter or digit";

static_assert(kMaxFaultDelayMs == 600'000, "update kAcceptedDelay");
static_assert(kMaxReasonLength == 1024, "update kAcceptedText");
static_assert(kMaxShedLevel == 9, "update kAcceptedShedLevel, kAcceptedShed, kAcceptedGovernorCap");
static_assert(kMaxBreakerWindowSeconds == 3600 && kMaxBreakerWindowCalls == 10'000 &&
                  kMaxBreakerMinCalls == 1'000'000 && kMaxBreakerSlowCallMs == 600'000 &&
                  kMaxBreakerOpenSeconds == 86'400.0 && kMaxBreakerHalfOpenCalls == 1000,
              "update the kAccepted* breaker texts");

// absl::StrCat takes absl::string_view, which here is not std::string_view.
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (out.append(std::string_view(parts)), ...);
  return out;
}

// The shortest text that reads back to `value` (core/str_util.h).
using internal::FormatNumber;
bool IsValidUtf8(std::string_view s);
// `s` with every byte that is not part of well-formed UTF-8 as U+FFFD.
std::string SanitizeUtf8(std::string_view s);
// `s` (valid UTF-8) cut to at most `max_length` bytes, "..." marking a cut;
// the cut never splits a character.
std::string Truncate(std::string s, size_t max_length);
// Compact JSON, as the user would have written it, cut to
// kMaxRenderedLength.
std::string Render(const Json& value);
std::string RenderString(std::string_view s);
// A path component: plain when it is an identifier, else a quoted JSON
// string; Child joins it to `path` with '.'.
std::string PathKey(std::string_view key);
std::string Child(std::string_view path, std::string_view key);

// Whether `time` is in years 1000 to 9999 UTC (see kTimeRangeProblem).
bool InTimeRange(absl::Time time);

inline bool InUnitInterval(double value) {
  return std::isfinite(value) && value >= 0.0 && value <= 1.0;
}
inline bool InRatioRange(double value) { return std::isfinite(value) && value > 0.0 && value <= 1.0; }

// What is wrong with a switch or group name, if anything.
std::optional<std::string> NameProblem(std::string_view name);

}  // namespace degrade::internal::snapshot

#endif  // DEGRADE_LIB_CORE_SNAPSHOT_RULES_H_
