// How snapshot messages show values, paths and names (core/snapshot_rules.h).
#include "core/snapshot_rules.h"

#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace degrade::internal::snapshot {

namespace {

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

}  // namespace

bool InTimeRange(absl::Time time) {
  static const absl::Time kFirst =
      absl::FromCivil(absl::CivilSecond(1000, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  static const absl::Time kEnd =
      absl::FromCivil(absl::CivilSecond(10000, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  return time >= kFirst && time < kEnd;
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

namespace {

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

}  // namespace

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

}  // namespace degrade::internal::snapshot
