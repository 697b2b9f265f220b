// String glue shared by the library's sources. Not installed.
#ifndef DEGRADE_LIB_STR_UTIL_H_
#define DEGRADE_LIB_STR_UTIL_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace degrade::internal {

// Debian's Abseil has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW=0):
// the public API speaks std::string_view and converts here, explicitly.
inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_STR_UTIL_H_
