// Per-switch rates over the last minute, for the admin listing and the
// console: the cumulative counters ("941 calls") cannot tell whether a
// dependency fails now. Not installed.
//
// A sampler copies every defined switch's counters (calls, fallbacks,
// primary failures) into a fixed ring per switch every `interval`, stamped
// with the registry's clock. A rate compares the counters being answered
// with the oldest sample inside the last `window` and scales the difference
// to one minute over the time that sample really covers:
//
//   "rate_1m": {"calls": 118, "fallbacks": 12, "failures": 12, "window_s": 55.0}
//
// so a page opened a few seconds after start shows a rate over those
// seconds (window_s says how many), and a page opened later a rate over
// 55-60 s. `failures` are primary failures (the dependency returned an
// error), not injected faults. rate_1m is null for names this process does
// not define and while no sample is at least a second old and inside the
// window (just after start; after the clock jumped more than `window`
// forward). Samples stamped later than now (the wall clock stepped back)
// are not used.
//
// Cost: nothing on the hot path (it reads the counters Call already keeps).
// Each sample is one Registry::List (the registry's lock for about what a
// listing GET spends before its JSON) every `interval`. Memory: window /
// interval + 1 samples of 40 bytes per defined switch; the ring of a name no
// longer listed is dropped.
//
// Thread safety: every member may be called from any thread.
#ifndef DEGRADE_LIB_ADMIN_RATE_WINDOW_H_
#define DEGRADE_LIB_ADMIN_RATE_WINDOW_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "core/mutex.h"
#include "degrade/registry.h"
#include "nlohmann/json.hpp"

namespace degrade::internal {

class RateWindow {
 public:
  struct Options {
    // How often the counters are sampled. Default: 5 s.
    absl::Duration interval = absl::Seconds(5);
    // How far back a rate looks. Default: 1 minute.
    absl::Duration window = absl::Minutes(1);
    // True: a thread samples every `interval` (of real time; the samples
    // are stamped with the registry's clock). False: nothing samples but
    // the caller's Sample() (tests with a testing::FakeClock). Default: true.
    bool thread = true;
  };

  // One rate as the listing shows it.
  struct Rate {
    uint64_t calls_per_min = 0;
    uint64_t fallbacks_per_min = 0;
    uint64_t failures_per_min = 0;
    absl::Duration covered;  // the time the rate is computed over
  };

  // Takes the first sample at once. `registry` outlives this object.
  // `interval` must be positive and `window` at least `interval` (the
  // defaults are); others are clamped to that.
  RateWindow(const Registry& registry, Options options);
  explicit RateWindow(const Registry& registry) : RateWindow(registry, Options()) {}
  // Stops and joins the sampling thread.
  ~RateWindow();

  RateWindow(const RateWindow&) = delete;
  RateWindow& operator=(const RateWindow&) = delete;

  // Samples every defined switch's counters now (the registry's clock).
  void Sample();

  // The rate of `name` whose counters now read `counters`, at the
  // registry's clock now. nullopt: no usable sample (see above).
  std::optional<Rate> RateOf(const std::string& name, const Counters& counters) const;

  // Sets "rate_1m" on a switch object of the listing (SwitchInfoJson form):
  // the object above, or null. Reads its "name", "defined" and "counters".
  void AddTo(nlohmann::json& switch_json) const;
  // AddTo on every object of listing["switches"] (ListingJson form).
  void AddToListing(nlohmann::json& listing) const;

 private:
  struct Point {
    absl::Time time;
    uint64_t calls = 0;
    uint64_t fallbacks = 0;
    uint64_t failures = 0;
  };
  // A fixed ring: `next` is where the next sample goes; `size` how many of
  // `points` hold one.
  struct Ring {
    std::vector<Point> points;
    size_t next = 0;
    size_t size = 0;
  };

  void Run();

  const Registry& registry_;
  const Options options_;
  const size_t capacity_;

  mutable Mutex mu_;
  std::map<std::string, Ring, std::less<>> rings_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  CondVar wake_;
  std::thread thread_;
};

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_RATE_WINDOW_H_
