// Hashing and comparing names as their environment variables see them
// (core/env_name.h).
#include "core/env_name.h"

#include <cstdint>
#include <cstring>

#include "core/fmix64.h"

namespace degrade::internal {
namespace {

// The character DEGRADE_<NAME> has for a name's character (before upper
// casing: valid names are lower case).
constexpr char EnvChar(char c) noexcept { return c == '.' || c == '-' ? '_' : c; }

// Eight bytes of a name as its variable has them, for hashing: bytes below
// '0' ('.' and '-' in valid names) become '_', eight at a time. Adding 0x50
// sets a byte's top bit when it is at least 0x30 (for ASCII; other bytes and
// their carries give some other value, but the same one for inputs that
// EnvNameEq finds equal, which is all a hash needs: where two such names
// differ, both bytes are '.', '-' or '_', none carries, and all three
// come out as '_').
uint64_t EnvWord(uint64_t w) noexcept {
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  const uint64_t low = ~(w + 0x5050505050505050ull) & kHigh;  // bytes below 0x30
  const uint64_t mask = (low >> 7) * 0xFF;
  return (w & ~mask) | (0x5F5F5F5F5F5F5F5Full & mask);
}

}  // namespace

size_t EnvNameHash::operator()(std::string_view name) const noexcept {
  const char* p = name.data();
  size_t n = name.size();
  uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
  auto load = [](const char* at) {
    uint64_t w;
    std::memcpy(&w, at, 8);
    return w;
  };
  for (; n >= 8; p += 8, n -= 8) {
    h = (h ^ EnvWord(load(p))) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  if (n > 0) {
    // The last n bytes in the low end of a word, zeros above: from a load
    // ending at the name's end when the name is long enough (little endian:
    // the shift drops the bytes already hashed; big endian would keep other
    // bytes of the name, as consistently), else byte by byte.
    uint64_t w = 0;
    if (name.size() >= 8) {
      w = load(name.data() + name.size() - 8) >> (8 * (8 - n));
    } else {
      for (size_t i = 0; i < n; ++i) w |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
    }
    h = (h ^ EnvWord(w)) * 0x100000001b3ull;
  }
  return static_cast<size_t>(Fmix64(h));
}

bool EnvNameEq::Same(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a == b) return true;  // the common case: a switch found by its own name
  for (size_t i = 0; i < a.size(); ++i) {
    if (EnvChar(a[i]) != EnvChar(b[i])) return false;
  }
  return true;
}

}  // namespace degrade::internal
