// String glue shared by the library's sources. Not installed.
#ifndef DEGRADE_LIB_STR_UTIL_H_
#define DEGRADE_LIB_STR_UTIL_H_

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>

#include "absl/strings/string_view.h"

namespace degrade::internal {

// Debian's Abseil has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW=0):
// the public API speaks std::string_view and converts here, explicitly.
inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
// And back: Abseil's messages (absl::Status::message()) as std::string.
inline std::string ToStd(absl::string_view s) { return std::string(s.data(), s.size()); }

// Shortest text that reads back to the same double: "0.25", "1", never
// "0.250000" and never rounded to a misleading "1" for 0.9999999.
inline std::string FormatNumber(double value) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (ec != std::errc()) return "?";
  return std::string(buffer, end);
}

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_STR_UTIL_H_
