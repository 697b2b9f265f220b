#include "degrade/snapshot.h"

#include <array>
#include <charconv>
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
#include "absl/functional/function_ref.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "degrade/breaker.h"
#include "degrade/state.h"
#include "nlohmann/json.hpp"
#include "core/snapshot_internal.h"

namespace degrade {
namespace {

using Json = nlohmann::json;

// Values and keys echoed in messages are cut to this many bytes, so a hostile
// payload cannot make an error message (or a log line) huge.
constexpr size_t kMaxRenderedLength = 64;
// Parser messages quote the input they choked on; keep them bounded too.
constexpr size_t kMaxParseErrorLength = 256;
// The format needs 4 levels; the margin is for unknown fields. The bound keeps
// recursive code (dump, destructors of nested values) off a deep stack.
constexpr int kMaxJsonDepth = 64;
constexpr size_t kMaxNameLength = 128;
constexpr double kMaxTtlSeconds = 30.0 * 24 * 60 * 60;

constexpr std::string_view kAcceptedValue =
    R"("on", "off" or an object with state, allow, fault, reason, actor, expires_at, ttl_s, breaker)";
constexpr std::string_view kAcceptedState = R"("on" or "off")";
constexpr std::string_view kAcceptedFraction = "a number in [0, 1]";
constexpr std::string_view kAcceptedFault =
    R"("off" or an object with kind ("error" or "delay"), rate, delay_ms)";
constexpr std::string_view kAcceptedKind = R"("error" or "delay")";
constexpr std::string_view kAcceptedDelay = "an integer number of milliseconds in [0, 600000]";
constexpr std::string_view kAcceptedDelayForDelayFault =
    R"(an integer number of milliseconds in [1, 600000] for a "delay" fault)";
constexpr std::string_view kAcceptedText = "a string of at most 1024 bytes of UTF-8";
constexpr std::string_view kAcceptedTime = R"(an RFC 3339 time such as "2026-11-21T12:00:00Z")";
constexpr std::string_view kAcceptedTtl = "a number of seconds in (0, 2592000] (30 days)";
constexpr std::string_view kAcceptedBreaker =
    R"("off" or an object with window, window_size, min_calls, failure_ratio, slow_call_ms, slow_call_ratio, open_s, half_open_calls)";
constexpr std::string_view kAcceptedWindow = R"("count" or "time")";
constexpr std::string_view kAcceptedWindowSeconds =
    R"(an integer number of seconds in [1, 3600] for a "time" window)";
constexpr std::string_view kAcceptedWindowCalls =
    R"(an integer number of calls in [1, 10000] for a "count" window)";
constexpr std::string_view kAcceptedMinCalls = "an integer in [1, 1000000]";
constexpr std::string_view kAcceptedRatio = "a number in (0, 1]";
constexpr std::string_view kAcceptedSlowCallMs =
    "an integer number of milliseconds in [0, 600000] (0: calls are not timed)";
constexpr std::string_view kAcceptedOpenSeconds = "a number of seconds in (0, 86400]";
constexpr std::string_view kAcceptedHalfOpenCalls = "an integer in [1, 1000]";
constexpr std::string_view kNameRule =
    "1-128 characters of [a-z0-9._-], starting with a letter or digit";

static_assert(kMaxFaultDelayMs == 600'000, "update kAcceptedDelay");
static_assert(kMaxReasonLength == 1024, "update kAcceptedText");
static_assert(kMaxBreakerWindowSeconds == 3600 && kMaxBreakerWindowCalls == 10'000 &&
                  kMaxBreakerMinCalls == 1'000'000 && kMaxBreakerSlowCallMs == 600'000 &&
                  kMaxBreakerOpenSeconds == 86'400.0 && kMaxBreakerHalfOpenCalls == 1000,
              "update the kAccepted* breaker texts");

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// absl::StrCat takes absl::string_view, which here is not std::string_view.
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (out.append(std::string_view(parts)), ...);
  return out;
}

std::string FormatNumber(double value) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (ec != std::errc()) return "?";
  return std::string(buffer, end);
}

// Length of the well-formed UTF-8 sequence at s[i], or 0 if there is none.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  if (lead < 0x80) return 1;
  size_t length;
  char32_t code_point;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code_point = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code_point = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (s.size() - i < length) return 0;
  for (size_t k = 1; k < length; ++k) {
    const auto next = static_cast<unsigned char>(s[i + k]);
    if ((next & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (next & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  constexpr char32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kMinForLength[length] || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return 0;
  }
  return length;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t length = Utf8SequenceLength(s, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

// Callers put messages into JSON error bodies, which must be valid UTF-8.
std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t length = Utf8SequenceLength(s, i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(s.substr(i, length));
      i += length;
    }
  }
  return out;
}

// `s` must be valid UTF-8; the cut never splits a character.
std::string Truncate(std::string s, size_t max_length) {
  if (s.size() <= max_length) return s;
  size_t cut = max_length - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  s += "...";
  return s;
}

// Compact JSON, as the user would have written it.
std::string Render(const Json& value) {
  // dump() would print a non-finite number as null, which would mislead.
  if (const auto* number = value.get_ptr<const Json::number_float_t*>();
      number != nullptr && !std::isfinite(*number)) {
    return FormatNumber(*number);
  }
  return Truncate(value.dump(-1, ' ', false, Json::error_handler_t::replace), kMaxRenderedLength);
}

std::string RenderString(std::string_view s) { return Render(Json(std::string(s))); }

// A path component: plain when it is an identifier, else a quoted JSON string.
std::string PathKey(std::string_view key) {
  bool plain = !key.empty();
  for (const char c : key) {
    const bool word =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!word) plain = false;
  }
  return plain ? Truncate(std::string(key), kMaxRenderedLength) : RenderString(key);
}

std::string Child(std::string_view path, std::string_view key) {
  return path.empty() ? PathKey(key) : Cat(path, ".", PathKey(key));
}

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

bool InUnitInterval(double value) { return std::isfinite(value) && value >= 0.0 && value <= 1.0; }

constexpr bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

// The common case, checked without building anything: 1-128 name
// characters starting with [a-z0-9]. A table, not five compares per byte:
// ApplySnapshot checks every name of a snapshot.
constexpr std::array<bool, 256> kNameChars = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = IsNameChar(static_cast<char>(c));
  return table;
}();

bool IsValidName(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  const char first = name[0];
  if (!((first >= 'a' && first <= 'z') || (first >= '0' && first <= '9'))) return false;
  bool ok = true;
  for (const char c : name) ok &= kNameChars[static_cast<unsigned char>(c)];
  return ok;
}

// What is wrong with a switch or group name, if anything.
std::optional<std::string> NameProblem(std::string_view name) {
  if (IsValidName(name)) return std::nullopt;
  if (name.empty()) return "is empty";
  if (name.size() > kMaxNameLength) {
    return Cat("is ", std::to_string(name.size()), " characters long");
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (IsNameChar(c)) continue;
    const auto byte = static_cast<unsigned char>(c);
    std::string shown;
    if (byte >= 0x20 && byte < 0x7F) {
      shown = Cat("'", std::string_view(&c, 1), "'");
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      shown = Cat("byte 0x", std::string_view(&kHex[byte >> 4], 1),
                  std::string_view(&kHex[byte & 0xF], 1));
    }
    return Cat("has ", shown, " at position ", std::to_string(i),
               (c >= 'A' && c <= 'Z') ? " (names are lower case)" : "");
  }
  if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9'))) {
    return Cat("starts with '", name.substr(0, 1), "'");
  }
  return std::nullopt;
}

// Forwards to nlohmann's DOM builder (exceptions off), and keeps the parse
// error's text, which has the line and column the DOM builder drops.
class DomBuilder {
 public:
  explicit DomBuilder(Json& root) : dom_(root, /*allow_exceptions=*/false) {}

  bool null() { return dom_.null(); }
  bool boolean(bool value) { return dom_.boolean(value); }
  bool number_integer(Json::number_integer_t value) { return dom_.number_integer(value); }
  bool number_unsigned(Json::number_unsigned_t value) { return dom_.number_unsigned(value); }
  bool number_float(Json::number_float_t value, const std::string& text) {
    return dom_.number_float(value, text);
  }
  bool string(std::string& value) { return dom_.string(value); }
  bool binary(Json::binary_t& value) { return dom_.binary(value); }
  bool start_object(std::size_t size) { return Enter() && dom_.start_object(size); }
  bool key(std::string& value) { return dom_.key(value); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t size) { return Enter() && dom_.start_array(size); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception& error) {
    error_ = error.what();
    return dom_.parse_error(position, last_token, error);
  }

  // Why parsing failed, without nlohmann's "[json.exception...] " tag.
  std::string error() const {
    std::string_view text = error_;
    if (text.starts_with("[json.exception.")) {
      const size_t end = text.find("] ");
      if (end != std::string_view::npos) text.remove_prefix(end + 2);
    }
    if (text.empty()) return "unreadable input";
    return Truncate(SanitizeUtf8(text), kMaxParseErrorLength);
  }

 private:
  bool Enter() {
    if (++depth_ <= kMaxJsonDepth) return true;
    error_ = Cat("nested deeper than ", std::to_string(kMaxJsonDepth), " levels");
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  int depth_ = 0;
  std::string error_;
};

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

absl::StatusOr<Json> ParseJson(const Context& context, std::string_view path,
                               std::string_view text) {
  Json root;
  DomBuilder builder(root);
  const bool ok = Json::sax_parse(text.data(), text.data() + text.size(), &builder);
  if (!ok) return context.Error(path, Cat("invalid JSON: ", builder.error()));
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

bool InRatioRange(double value) { return std::isfinite(value) && value > 0.0 && value <= 1.0; }

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
    } else if (key == "reason" || key == "actor") {
      absl::StatusOr<std::string> text = ParseText(context, field_path, field);
      if (!text.ok()) return text.status();
      (key == "reason" ? out.reason : out.actor) = *std::move(text);
    } else if (key == "expires_at") {
      const auto* text = field.get_ptr<const std::string*>();
      if (text == nullptr)
        return context.BadValue(field_path, field, "is not a string", kAcceptedTime);
      absl::Time time;
      std::string ignored;
      // ParseTime also takes "infinite-future", which is not RFC 3339.
      if (!absl::ParseTime(absl::RFC3339_full, AbslView(*text), &time, &ignored) ||
          time == absl::InfiniteFuture() || time == absl::InfinitePast()) {
        return context.BadValue(field_path, field, "is not an RFC 3339 time", kAcceptedTime);
      }
      out.expires_at = time;
    } else if (key == "ttl_s") {
      const std::optional<double> number = AsNumber(field);
      if (!number) return context.BadValue(field_path, field, "is not a number", kAcceptedTtl);
      if (!std::isfinite(*number) || *number <= 0 || *number > kMaxTtlSeconds) {
        return context.BadValue(field_path, field, "is not in (0, 2592000]", kAcceptedTtl);
      }
      ttl_s = *number;
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
  if (ttl_s) {
    if (out.expires_at) {
      return context.Error(path, "both expires_at and ttl_s given; accepted: one of them");
    }
    out.expires_at = context.now + absl::Seconds(*ttl_s);
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

Json ValueToJson(const SwitchValue& value) {
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
    const BreakerPolicy& p = *value.breaker;
    Json breaker = Json::object();
    breaker["window"] = std::string(BreakerWindowName(p.window));
    breaker["window_size"] = p.window_size;
    breaker["min_calls"] = p.min_calls;
    breaker["failure_ratio"] = p.failure_ratio;
    breaker["slow_call_ms"] = p.slow_call_ms;
    breaker["slow_call_ratio"] = p.slow_call_ratio;
    breaker["open_s"] = p.open_s;
    breaker["half_open_calls"] = p.half_open_calls;
    out["breaker"] = std::move(breaker);
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

std::string Dump(const Json& json) {
  // replace: a string built in code may not be UTF-8, and strict would throw.
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
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
                            "an object with switches, groups, all");
  }

  const Json::object_t* switches = nullptr;
  const Json::object_t* groups = nullptr;
  const Json* all = nullptr;
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

std::string SnapshotToJson(const Snapshot& snapshot) {
  Json out = Json::object();
  if (!snapshot.switches.empty()) {
    Json& switches = out["switches"] = Json::object();
    for (const auto& [name, value] : snapshot.switches) switches[name] = ValueToJson(value);
  }
  if (!snapshot.groups.empty()) {
    Json& groups = out["groups"] = Json::object();
    for (const auto& [name, value] : snapshot.groups) groups[name] = ValueToJson(value);
  }
  if (snapshot.all) out["all"] = ValueToJson(*snapshot.all);
  return Dump(out);
}

std::string SwitchValueToJson(const SwitchValue& value) { return Dump(ValueToJson(value)); }

absl::Status ValidateName(std::string_view name, std::string_view what) {
  std::optional<std::string> problem = NameProblem(name);
  if (!problem) return absl::OkStatus();
  return absl::InvalidArgumentError(
      Cat(what, " ", RenderString(name), ": ", *problem, "; accepted: ", kNameRule));
}

namespace internal {

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
  // An empty text is valid: most entries have no reason or actor.
  if (!value.reason.empty()) {
    if (absl::Status status = check_text("reason", value.reason); !status.ok()) return status;
  }
  if (!value.actor.empty()) {
    if (absl::Status status = check_text("actor", value.actor); !status.ok()) return status;
  }
  if (value.expires_at &&
      (*value.expires_at == absl::InfiniteFuture() || *value.expires_at == absl::InfinitePast())) {
    return error(field("expires_at"),
                 Cat(absl::FormatTime(*value.expires_at),
                     " is not a finite time; accepted: ", kAcceptedTime));
  }
  return absl::OkStatus();
}

}  // namespace internal

absl::Status ValidateSwitchValue(const SwitchValue& value, std::string_view path) {
  return internal::ValidateSwitchValueAt(value, [path] { return std::string(path); });
}

}  // namespace degrade
