// Debian's Abseil has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW=0,
// see TOOLCHAIN.md): degradectl speaks std::string_view and converts here,
// explicitly, at Abseil calls.
#ifndef DEGRADE_TOOLS_CTL_STRINGS_H_
#define DEGRADE_TOOLS_CTL_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace degrade::ctl {

inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view SV(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace degrade::ctl

#endif  // DEGRADE_TOOLS_CTL_STRINGS_H_
