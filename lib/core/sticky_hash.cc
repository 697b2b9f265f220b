// The sticky-dimming hash (see sticky_hash.h and docs/dimming.md).
//
// H(seed, bytes): h = seed ^ (len * K1); for each 8-byte block b of the bytes,
// read little-endian whatever the host's byte order, h = rotl64((h ^ b) * K2,
// 29); the last 0-7 bytes, little-endian and zero-padded, are one more block
// when there are any; the result is Fmix64(h), murmur3's 64-bit finalizer.
// seed(name) = H(kBasis, name); point(name, key) = H(seed(name), key) >> 32.
// A block step is a multiply and a rotate, so a 36-byte key costs a few
// nanoseconds; the finalizer spreads every input bit over the point's bits.
#include "core/sticky_hash.h"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/fmix64.h"

namespace degrade::internal {
namespace {

constexpr uint64_t kBasis = 0x6465677261646531ull;  // "degrade1"
constexpr uint64_t kK1 = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kK2 = 0xC2B2AE3D27D4EB4Full;

constexpr uint64_t Rotl(uint64_t x, int r) noexcept { return (x << r) | (x >> (64 - r)); }

// n <= 8 bytes as a little-endian number on every host (zero-padded).
inline uint64_t LoadLe(const unsigned char* p, size_t n) noexcept {
  uint64_t v = 0;
  std::memcpy(&v, p, n);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v) >> (64 - 8 * n);
  return v;
}

uint64_t Hash(uint64_t seed, std::string_view bytes) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  uint64_t h = seed ^ (static_cast<uint64_t>(n) * kK1);
  for (; n >= 8; n -= 8, p += 8) h = Rotl((h ^ LoadLe(p, 8)) * kK2, 29);
  if (n > 0) h = Rotl((h ^ LoadLe(p, n)) * kK2, 29);
  return Fmix64(h);
}

}  // namespace

uint64_t StickySeed(std::string_view switch_name) noexcept { return Hash(kBasis, switch_name); }

uint32_t StickyPointFromSeed(uint64_t seed, std::string_view key) noexcept {
  return static_cast<uint32_t>(Hash(seed, key) >> 32);
}

}  // namespace degrade::internal
