// Helpers shared by the fuzz targets.
#ifndef DEGRADE_FUZZ_FUZZ_UTIL_H_
#define DEGRADE_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "degrade/log.h"
#include "degrade/registry.h"
#include "degrade/testing.h"

namespace degrade::fuzz {

// A fixed time for every target: results must not depend on when they run.
inline testing::FakeClock& FuzzClock() {
  static auto* clock = new testing::FakeClock();  // never destroyed: registries outlive tests
  return *clock;
}

// A registry with a fake clock (no expiry or breaker threads), an empty
// environment unless `getenv` says otherwise, and a log sink that drops
// messages (a million executions must not print a million lines).
inline Registry::Options QuietRegistryOptions(
    std::function<std::optional<std::string>(std::string_view)> getenv = nullptr) {
  Registry::Options options;
  options.clock = &FuzzClock();
  options.getenv = getenv ? std::move(getenv)
                          : [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
  options.log_sink = [](LogLevel, std::string_view) {};
  options.timer_threads = false;
  return options;
}

// Strict UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
inline bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    size_t length = 0;
    char32_t cp = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    if ((lead & 0xE0) == 0xC0) {
      length = 2;
      cp = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      cp = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      cp = lead & 0x07;
    } else {
      return false;
    }
    if (s.size() - i < length) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (next & 0x3F);
    }
    constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

}  // namespace degrade::fuzz

#endif  // DEGRADE_FUZZ_FUZZ_UTIL_H_
