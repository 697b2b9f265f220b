// ValidateName and ValidateSwitchValue (see degrade/snapshot.h): the checks
// for names and values built in code. Parsed ones were checked by the parser.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/snapshot_internal.h"
#include "core/snapshot_rules.h"
#include "degrade/breaker.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"

namespace degrade {

using namespace internal::snapshot;  // NOLINT(google-build-using-namespace): the format's rules

absl::Status ValidateName(std::string_view name, std::string_view what) {
  std::optional<std::string> problem = NameProblem(name);
  if (!problem) return absl::OkStatus();
  return absl::InvalidArgumentError(
      Cat(what, " ", RenderString(name), ": ", *problem, "; accepted: ", kNameRule));
}

namespace internal {
namespace {

// reason, actor (at most kMaxReasonLength bytes of UTF-8; empty is valid:
// most entries have no reason or actor) and expires_at (finite, years 1000
// to 9999): the fields of every entry that has an author.
absl::Status CheckAuthorFields(const std::string& reason, const std::string& actor,
                               const std::optional<absl::Time>& expires_at,
                               absl::FunctionRef<std::string()> path) {
  auto error = [](std::string_view field_path, std::string_view message) {
    return absl::InvalidArgumentError(Cat(field_path, ": ", message));
  };
  auto field = [&](std::string_view name) { return Child(path(), name); };
  auto check_text = [&](std::string_view name, const std::string& text) {
    if (text.size() > kMaxReasonLength) {
      return error(field(name), Cat(RenderString(text), " is ", std::to_string(text.size()),
                                    " bytes long; accepted: ", kAcceptedText));
    }
    if (!IsValidUtf8(text)) {
      return error(field(name),
                   Cat(RenderString(text), " is not valid UTF-8; accepted: ", kAcceptedText));
    }
    return absl::OkStatus();
  };
  if (!reason.empty()) {
    if (absl::Status status = check_text("reason", reason); !status.ok()) return status;
  }
  if (!actor.empty()) {
    if (absl::Status status = check_text("actor", actor); !status.ok()) return status;
  }
  if (expires_at && (*expires_at == absl::InfiniteFuture() || *expires_at == absl::InfinitePast())) {
    return error(field("expires_at"), Cat(absl::FormatTime(*expires_at),
                                          " is not a finite time; accepted: ", kAcceptedTime));
  }
  if (expires_at && !InTimeRange(*expires_at)) {
    return error(field("expires_at"),
                 Cat(absl::FormatTime(absl::RFC3339_full, *expires_at, absl::UTCTimeZone()), " ",
                     kTimeRangeProblem, "; accepted: ", kAcceptedTimeRange));
  }
  return absl::OkStatus();
}

}  // namespace

// The path is only built for a message: a valid value (the common case, and
// 10,000 of them in a big snapshot) costs no string work.
absl::Status ValidateSwitchValueAt(const SwitchValue& value,
                                   absl::FunctionRef<std::string()> path) {
  auto error = [](std::string_view field_path, std::string_view message) {
    return absl::InvalidArgumentError(Cat(field_path, ": ", message));
  };
  auto field = [&](std::string_view name) { return Child(path(), name); };
  if (value.state && *value.state != State::kOn && *value.state != State::kOff) {
    return error(field("state"), Cat(std::to_string(static_cast<int>(*value.state)),
                                     " is not a state; accepted: ", kAcceptedState));
  }
  if (value.allow) {
    if (!InUnitInterval(*value.allow)) {
      return error(field("allow"), Cat(FormatNumber(*value.allow), " is not in [0, 1]"));
    }
    if (value.state == State::kOff) {
      return error(field("allow"),
                   Cat(FormatNumber(*value.allow),
                       R"( given with state "off"; allow is only meaningful with state on)"));
    }
  }
  if (value.fault) {
    const Fault& fault = *value.fault;
    auto fault_path = [&] { return field("fault"); };
    if (fault.kind != Fault::Kind::kError && fault.kind != Fault::Kind::kDelay) {
      return error(Child(fault_path(), "kind"),
                   Cat(std::to_string(static_cast<int>(fault.kind)),
                       " is not a fault kind; accepted: ", kAcceptedKind));
    }
    if (!InUnitInterval(fault.rate)) {
      return error(Child(fault_path(), "rate"), Cat(FormatNumber(fault.rate), " is not in [0, 1]"));
    }
    if (fault.delay_ms > kMaxFaultDelayMs) {
      return error(Child(fault_path(), "delay_ms"),
                   Cat(std::to_string(fault.delay_ms),
                       " is not in [0, 600000]; accepted: ", kAcceptedDelay));
    }
    if (fault.kind == Fault::Kind::kDelay && fault.delay_ms == 0) {
      return error(Child(fault_path(), "delay_ms"),
                   Cat("0 is too small; accepted: ", kAcceptedDelayForDelayFault));
    }
    if (value.fault_cleared) {
      return error(fault_path(), "both a fault and fault_cleared given; accepted: one of them");
    }
  }
  if (value.breaker) {
    const BreakerPolicy& p = *value.breaker;
    auto breaker_path = [&] { return field("breaker"); };
    const bool time = p.window == BreakerPolicy::Window::kTime;
    if (p.window != BreakerPolicy::Window::kTime && p.window != BreakerPolicy::Window::kCount) {
      return error(Child(breaker_path(), "window"),
                   Cat(std::to_string(static_cast<int>(p.window)),
                       " is not a window kind; accepted: ", kAcceptedWindow));
    }
    auto check_integer = [&](std::string_view name, uint32_t v, uint32_t min, uint32_t max,
                             std::string_view accepted) {
      if (v >= min && v <= max) return absl::OkStatus();
      return error(Child(breaker_path(), name),
                   Cat(std::to_string(v), " is not in [", std::to_string(min), ", ",
                       std::to_string(max), "]; accepted: ", accepted));
    };
    auto check_ratio = [&](std::string_view name, double v) {
      if (InRatioRange(v)) return absl::OkStatus();
      return error(Child(breaker_path(), name),
                   Cat(FormatNumber(v), " is not in (0, 1]; accepted: ", kAcceptedRatio));
    };
    for (absl::Status status : {
             check_integer("window_size", p.window_size, 1,
                           time ? kMaxBreakerWindowSeconds : kMaxBreakerWindowCalls,
                           time ? kAcceptedWindowSeconds : kAcceptedWindowCalls),
             check_integer("min_calls", p.min_calls, 1, kMaxBreakerMinCalls, kAcceptedMinCalls),
             check_ratio("failure_ratio", p.failure_ratio),
             check_integer("slow_call_ms", p.slow_call_ms, 0, kMaxBreakerSlowCallMs,
                           kAcceptedSlowCallMs),
             check_ratio("slow_call_ratio", p.slow_call_ratio),
         }) {
      if (!status.ok()) return status;
    }
    if (!std::isfinite(p.open_s) || p.open_s <= 0 || p.open_s > kMaxBreakerOpenSeconds) {
      return error(Child(breaker_path(), "open_s"), Cat(FormatNumber(p.open_s),
                                                      " is not in (0, 86400]; accepted: ",
                                                      kAcceptedOpenSeconds));
    }
    if (absl::Status status = check_integer("half_open_calls", p.half_open_calls, 1,
                                            kMaxBreakerHalfOpenCalls, kAcceptedHalfOpenCalls);
        !status.ok()) {
      return status;
    }
    if (value.breaker_cleared) {
      return error(breaker_path(),
                   "both a breaker policy and breaker_cleared given; accepted: one of them");
    }
  }
  return CheckAuthorFields(value.reason, value.actor, value.expires_at, path);
}

}  // namespace internal

absl::Status ValidateSwitchValue(const SwitchValue& value, std::string_view path) {
  return internal::ValidateSwitchValueAt(value, [path] { return std::string(path); });
}

absl::Status ValidateShed(const Shed& shed, std::string_view path) {
  if (shed.level < 1 || shed.level > kMaxShedLevel) {
    return absl::InvalidArgumentError(
        Cat(Child(path, "level"), ": ", std::to_string(shed.level),
            " is not in [1, 9]; accepted: an integer in [1, 9] (a shed of level 0 is no shed)"));
  }
  return internal::CheckAuthorFields(shed.reason, shed.actor, shed.expires_at,
                                     [path] { return std::string(path); });
}

absl::Status ValidateGovernorSetting(const GovernorSetting& setting, std::string_view path) {
  if (setting.cap && (*setting.cap < 1 || *setting.cap > kMaxShedLevel)) {
    return absl::InvalidArgumentError(Cat(Child(path, "cap"), ": ", std::to_string(*setting.cap),
                                          " is not in [1, 9]; accepted: ", kAcceptedGovernorCap));
  }
  return internal::CheckAuthorFields(setting.reason, setting.actor, setting.expires_at,
                                     [path] { return std::string(path); });
}

}  // namespace degrade
