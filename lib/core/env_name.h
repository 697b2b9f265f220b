// Switch and group names as their environment variables see them. Not
// installed.
#ifndef DEGRADE_LIB_CORE_ENV_NAME_H_
#define DEGRADE_LIB_CORE_ENV_NAME_H_

#include <cstddef>
#include <string_view>

#include "core/switch_data.h"
#include "degrade/switch.h"

namespace degrade::internal {

// Names as their environment variables see them: '.' and '-' count as '_'
// (valid names are lower case), so two names that would share DEGRADE_<NAME>
// (or DEGRADE_GROUP_<NAME>) are equal here. One set of switches keyed this
// way both finds a switch by name (FindLocked then compares exactly) and
// finds the switch already owning a variable, with 8 bytes per switch.
struct EnvNameHash {
  using is_transparent = void;
  size_t operator()(std::string_view name) const noexcept;
  size_t operator()(const Switch* sw) const noexcept { return (*this)(RegistryAccess::Data(*sw).name); }
};
struct EnvNameEq {
  using is_transparent = void;
  static bool Same(std::string_view a, std::string_view b) noexcept;
  static std::string_view Key(std::string_view name) noexcept { return name; }
  static std::string_view Key(const Switch* sw) noexcept { return RegistryAccess::Data(*sw).name; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const noexcept {
    return Same(Key(a), Key(b));
  }
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CORE_ENV_NAME_H_
