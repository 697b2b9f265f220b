// degrade/internal/word.h: how a switch's effective state is packed into the
// one 64-bit word the hot path loads. Not part of the public API.
//
//   word > 0   on. Bit 0 is always set; bit 1 = a fault is configured, bit 2 =
//              outcomes must be observed (a breaker is attached). Plain on,
//              the common case, is exactly 1.
//   word == 0  off.
//   word < 0   on with a fractional allow ("dimmed"): bits 0-31 hold the
//              threshold allow * 2^32, bits 33-34 the same flags as above.
//
// The sign test splits the three cases with one `test` instruction, so
// enabled() is a load, a test and one or two predictable jumps.
#ifndef DEGRADE_INTERNAL_WORD_H_
#define DEGRADE_INTERNAL_WORD_H_

#include <cstdint>

namespace degrade::internal {

inline constexpr int64_t kWordOff = 0;
inline constexpr int64_t kWordOn = 1;
inline constexpr int64_t kFlagFault = 2;
inline constexpr int64_t kFlagObserve = 4;
inline constexpr int kDimmedFlagShift = 32;
inline constexpr uint64_t kDimmedBit = uint64_t{1} << 63;
inline constexpr uint64_t kThresholdMask = 0xFFFF'FFFFu;

// Flags (kFlagFault | kFlagObserve) of any word.
constexpr int64_t WordFlags(int64_t word) noexcept {
  if (word > 0) return word & (kFlagFault | kFlagObserve);
  if (word == 0) return 0;
  return static_cast<int64_t>((static_cast<uint64_t>(word) >> kDimmedFlagShift) &
                              (kFlagFault | kFlagObserve));
}

// The word for "on with allow = threshold / 2^32". Threshold 2^32 (allow 1)
// is plain on and must be encoded with MakeOnWord instead.
constexpr int64_t MakeDimmedWord(uint32_t threshold, int64_t flags) noexcept {
  return static_cast<int64_t>(kDimmedBit | (static_cast<uint64_t>(flags) << kDimmedFlagShift) |
                              threshold);
}
constexpr int64_t MakeOnWord(int64_t flags) noexcept { return kWordOn | flags; }

constexpr uint32_t WordThreshold(int64_t word) noexcept {
  return static_cast<uint32_t>(static_cast<uint64_t>(word) & kThresholdMask);
}

// A configured fault, packed into Switch::fault_ (read only by Call's slow
// path): 0 = no fault; otherwise bits 0-32 hold the rate threshold
// (rate * 2^32, so rate 1 is 2^32 and always hits), bits 33-34 the kind
// (1 = error, 2 = delay), bits 35-54 delay_ms.
inline constexpr uint64_t kFaultThresholdMask = (uint64_t{1} << 33) - 1;
inline constexpr int kFaultKindShift = 33;
inline constexpr int kFaultDelayShift = 35;
inline constexpr uint64_t kFaultKindError = 1;
inline constexpr uint64_t kFaultKindDelay = 2;

constexpr uint64_t MakeFaultWord(uint64_t kind, uint64_t threshold, uint32_t delay_ms) noexcept {
  return (threshold & kFaultThresholdMask) | (kind << kFaultKindShift) |
         (static_cast<uint64_t>(delay_ms & 0xFFFFF) << kFaultDelayShift);
}
constexpr uint64_t FaultWordKind(uint64_t w) noexcept { return (w >> kFaultKindShift) & 3; }
constexpr uint64_t FaultWordThreshold(uint64_t w) noexcept { return w & kFaultThresholdMask; }
constexpr uint32_t FaultWordDelayMs(uint64_t w) noexcept {
  return static_cast<uint32_t>((w >> kFaultDelayShift) & 0xFFFFF);
}

}  // namespace degrade::internal

#endif  // DEGRADE_INTERNAL_WORD_H_
