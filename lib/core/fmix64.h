// murmur3's 64-bit finalizer: spreads every input bit over every output bit.
// Shared by the env-name hash (env_name.cc) and the sticky-dimming hash
// (sticky_hash.cc, whose output is part of the contract: do not change it).
#ifndef DEGRADE_LIB_CORE_FMIX64_H_
#define DEGRADE_LIB_CORE_FMIX64_H_

#include <cstdint>

namespace degrade::internal {

constexpr uint64_t Fmix64(uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CORE_FMIX64_H_
