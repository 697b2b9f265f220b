// The real clock.
#include "degrade/clock.h"

namespace degrade {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace

Clock& Clock::Real() {
  static RealClock* clock = new RealClock;  // never destroyed: used at exit
  return *clock;
}

}  // namespace degrade
