// A switch's effective state written into its atomic words (the encoding is
// degrade/internal/word.h's; readers are the hot path in degrade/switch.h).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/switch_data.h"
#include "degrade/internal/word.h"

namespace degrade::internal {

void RegistryAccess::Publish(Switch& sw, const EffectiveState& e, bool observe) {
  uint64_t fault_word = 0;
  int64_t flags = observe ? kFlagObserve : 0;
  if (e.fault.has_value() && e.fault->rate > 0.0) {
    const double t = std::ldexp(std::clamp(e.fault->rate, 0.0, 1.0), 32);
    fault_word = MakeFaultWord(
        e.fault->kind == Fault::Kind::kError ? kFaultKindError : kFaultKindDelay,
        static_cast<uint64_t>(t), e.fault->delay_ms);
    flags |= kFlagFault;
  }
  int64_t word;
  if (e.state == State::kOff) {
    word = kWordOff;
  } else if (e.allow >= 1.0) {
    word = MakeOnWord(flags);
  } else {
    const double t = std::ldexp(std::clamp(e.allow, 0.0, 1.0), 32);
    const uint64_t threshold = static_cast<uint64_t>(t);
    word = threshold > kThresholdMask ? MakeOnWord(flags)
                                      : MakeDimmedWord(static_cast<uint32_t>(threshold), flags);
  }
  // Unchanged words are not written: re-resolving every switch of a big
  // layer then leaves the cache lines that enabled() reads alone. (Writers
  // never race: the registry writes under its mutex, and a detached switch
  // only in its constructor.)
  if (sw.fault_.load(std::memory_order_relaxed) == fault_word &&
      sw.word_.load(std::memory_order_relaxed) == word) {
    return;
  }
  // The fault word first: a Call that sees the new flags finds the new fault.
  sw.fault_.store(fault_word, std::memory_order_relaxed);
  sw.word_.store(word, std::memory_order_release);
}

}  // namespace degrade::internal
