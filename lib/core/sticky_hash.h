// The fixed hash behind sticky dimming (Switch::enabled(key)): where a key
// falls for a switch, the same in every thread, process, restart and host.
// Never seeded per process; changing it moves users between "in" and "out",
// so it is pinned by tests (sticky_test.cc) and described in docs/dimming.md.
#ifndef DEGRADE_LIB_CORE_STICKY_HASH_H_
#define DEGRADE_LIB_CORE_STICKY_HASH_H_

#include <cstdint>
#include <string_view>

namespace degrade::internal {

// The switch's part of the hash: computed once per switch, from its name.
uint64_t StickySeed(std::string_view switch_name) noexcept;

// The key's point in [0, 2^32) for a switch of this seed: the key is let
// through while point < allow * 2^32, so it stays in as allow grows.
uint32_t StickyPointFromSeed(uint64_t seed, std::string_view key) noexcept;

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CORE_STICKY_HASH_H_
