// degrade/testing.h: helpers for testing code that uses switches.
//
//   TEST(CheckoutTest, RendersWithoutRecommendations) {
//     degrade::testing::ScopedOverride off(kRecs, degrade::State::kOff);
//     EXPECT_THAT(RenderCheckout(), ...);
//   }  // kRecs is back to what it was
//
// To prove every fallback works, run a whole test binary with every switch
// off: either set DEGRADE_ALL=off in its environment (the env layer), or hold
// a ScopedAllOff for the test's duration (the admin layer, which also beats
// remote and file settings).
#ifndef DEGRADE_TESTING_H_
#define DEGRADE_TESTING_H_

#include <atomic>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "degrade/clock.h"
#include "degrade/export.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/switch.h"

namespace degrade::testing {

// Sets an admin-layer override on a switch for the scope's lifetime, then
// restores the admin entry that was there before (or none). The switch must
// be registered; otherwise the override does nothing and ok() is false.
class DEGRADE_EXPORT ScopedOverride {
 public:
  ScopedOverride(Switch& sw, State state);
  ScopedOverride(Switch& sw, SwitchValue value);
  ~ScopedOverride();
  ScopedOverride(const ScopedOverride&) = delete;
  ScopedOverride& operator=(const ScopedOverride&) = delete;
  bool ok() const noexcept { return ok_; }

 private:
  Registry* registry_ = nullptr;
  std::string name_;
  std::optional<SwitchValue> previous_;
  bool ok_ = false;
};

// Turns every switch of `registry` off through the admin layer (an admin
// `all: off`, with switch- and group-level admin entries set aside) and
// restores the admin layer on scope exit.
class DEGRADE_EXPORT ScopedAllOff {
 public:
  explicit ScopedAllOff(Registry& registry = Registry::Global());
  ~ScopedAllOff();
  ScopedAllOff(const ScopedAllOff&) = delete;
  ScopedAllOff& operator=(const ScopedAllOff&) = delete;

 private:
  Registry& registry_;
  Snapshot previous_;
};

// A clock that only moves when told. Thread-safe.
class DEGRADE_EXPORT FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'800'000'000));
  absl::Time Now() const override;
  void Advance(absl::Duration d);
  void Set(absl::Time t);

 private:
  std::atomic<int64_t> now_ns_;
};

}  // namespace degrade::testing

#endif  // DEGRADE_TESTING_H_
