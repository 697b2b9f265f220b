// degrade/clock.h: the time source behind TTLs, expiry and health records.
//
// Production code uses Clock::Real(). Tests inject degrade::testing::FakeClock
// (degrade/testing.h) to move time without sleeping.
#ifndef DEGRADE_CLOCK_H_
#define DEGRADE_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "degrade/export.h"

namespace degrade {

class DEGRADE_EXPORT Clock {
 public:
  virtual ~Clock() = default;
  // The current time. Must be safe to call from any thread.
  virtual absl::Time Now() const = 0;
  // The system clock (absl::Now()). Never destroyed.
  static Clock& Real();
};

}  // namespace degrade

#endif  // DEGRADE_CLOCK_H_
