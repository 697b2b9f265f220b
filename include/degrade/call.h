// degrade/call.h: run a dependency call through a switch, with a fallback.
//
//   auto items = degrade::Call(kRecs,
//       [&] { return recs.Fetch(user); },   // T, absl::StatusOr<T> or absl::Status
//       [&] { return Items{}; });           // the fallback
//
// What happens:
//   switch off, or the dimmer does not let this call through
//                                   -> fallback()                  (skipped)
//   an injected `error` fault hits  -> fallback()                  (fault)
//   an injected `delay` fault hits  -> sleep delay_ms, then as below
//   primary() returns a value       -> that value                  (ok)
//   primary() returns a non-OK absl::Status/StatusOr, or throws
//                                   -> fallback()                  (failed)
//
// The result type is the fallback's. The primary may return:
//   - the same type R;
//   - absl::StatusOr<U> with U convertible to R (R may itself be a StatusOr);
//   - absl::Status or void, when R is absl::Status or void.
// Exceptions thrown by the fallback propagate; Call itself never throws.
//
// Cost: when the switch is off, one atomic load, one per-thread counter
// increment and the fallback: no lock, no allocation (after the calling
// thread's first Call, which allocates its counter block once). When on,
// the same plus the primary. Faults, dimmers and breakers go through an
// out-of-line slow path that costs nothing while they are not configured.
// With a breaker (degrade/breaker.h), closed: one out-of-line call that asks
// it, about 7 ns more, still no lock or allocation. When the breaker wants a
// call's duration (slow_call_ms) or outcome (a half-open probe), the primary
// runs in an out-of-line copy of this function that reports to it. A
// breaker in half-open may refuse a call: fallback, counted as skipped.
//
// Counters (Registry::List): calls, primary ok, skipped, primary failures,
// injected faults, fallbacks.
#ifndef DEGRADE_CALL_H_
#define DEGRADE_CALL_H_

#include <atomic>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "degrade/export.h"
#include "degrade/internal/counters.h"
#include "degrade/switch.h"

namespace degrade {

namespace internal {

enum class Decision : uint8_t {
  kRun,         // call the primary
  kSkip,        // dimmer or half-open breaker said no: fallback, counted as skipped
  kFaultError,  // injected error: fallback, counted as fault
};

// Slow path for any word other than plain on / off: rolls the dimmer, asks
// the breaker (when the word is observed) whether this call may run, rolls
// and applies the fault (sleeping for a delay), counts what it decided.
struct SlowVerdict {
  Decision decision;
  // Non-zero when the breaker wants this call's outcome (a half-open probe)
  // or duration: hand it to ObserveOutcome. Zero for most calls, even on a
  // switch with a breaker: calls and failures are read from the counters.
  int64_t observe_start;
};
DEGRADE_EXPORT SlowVerdict DecideSlow(const Switch& sw, int64_t word, uint32_t id,
                                      uint64_t fault_word) noexcept;
// The same for the sticky form: the dimmer is decided by the key's point.
DEGRADE_EXPORT SlowVerdict DecideSlowKeyed(const Switch& sw, int64_t word, uint32_t id,
                                           uint64_t fault_word, std::string_view key) noexcept;

// Reports a call's outcome to the switch's breaker (`start`: the verdict's
// non-zero observe_start).
DEGRADE_EXPORT void ObserveOutcome(const Switch& sw, bool ok, int64_t start) noexcept;

template <typename T>
struct IsStatusOr : std::false_type {};
template <typename T>
struct IsStatusOr<absl::StatusOr<T>> : std::true_type {};

// Runs the primary, counts and (when kObserved) reports its outcome, and
// falls back on failure. Written once for every result shape.
template <typename R, bool kObserved, typename Primary, typename Fallback>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline R RunPrimary(const Switch& sw, uint32_t id,
                                                 int64_t observe_start, Primary& primary,
                                                 Fallback& fallback) {
  using P = std::invoke_result_t<Primary&>;
  constexpr bool kSameType = std::is_same_v<P, R>;
  constexpr bool kStatusOrOf = IsStatusOr<P>::value;
  auto finish = [&](bool ok) {
    CountOutcome(id, ok ? kOutcomeOk : kOutcomeFailed);
    if constexpr (kObserved) {
      ObserveOutcome(sw, ok, observe_start);
    } else {
      (void)sw;
      (void)observe_start;
    }
  };

#if defined(__cpp_exceptions)
  try {
#endif
    if constexpr (std::is_void_v<P>) {
      primary();
      finish(true);
      if constexpr (std::is_void_v<R>) {
        return;
      } else {
        return R(absl::OkStatus());
      }
    } else if constexpr (kSameType && !kStatusOrOf && !std::is_same_v<P, absl::Status>) {
      R result = primary();
      finish(true);
      return result;
    } else if constexpr (std::is_same_v<P, absl::Status>) {
      absl::Status status = primary();
      if (status.ok()) {
        finish(true);
        if constexpr (std::is_void_v<R>) {
          return;
        } else {
          return R(std::move(status));
        }
      }
      finish(false);
    } else {  // StatusOr<U>
      P result = primary();
      if (result.ok()) {
        finish(true);
        if constexpr (kSameType) {
          return result;
        } else {
          return R(*std::move(result));
        }
      }
      finish(false);
    }
#if defined(__cpp_exceptions)
  } catch (...) {
    finish(false);
  }
#endif
  return fallback();
}

// The observed variant, out of line so that Call's inlined body stays the
// size it is without a breaker.
template <typename R, typename Primary, typename Fallback>
ABSL_ATTRIBUTE_NOINLINE R RunObserved(const Switch& sw, uint32_t id, int64_t observe_start,
                                      Primary& primary, Fallback& fallback) {
  return RunPrimary<R, /*kObserved=*/true>(sw, id, observe_start, primary, fallback);
}

}  // namespace internal

namespace internal {

// Call's body, for both forms: `key` is null for Call(sw, primary, fallback)
// (a dimmer draws per call) and the key for the sticky form.
template <typename Primary, typename Fallback>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline auto CallWith(const Switch& sw, uint32_t id, int64_t word,
                                                  const std::atomic<uint64_t>& fault,
                                                  const std::string_view* key, Primary& primary,
                                                  Fallback& fallback) {
  using R = std::invoke_result_t<Fallback&>;
  using P = std::invoke_result_t<Primary&>;
  constexpr bool kSameType = std::is_same_v<P, R>;
  constexpr bool kStatusOrOf = IsStatusOr<P>::value;
  constexpr bool kStatusLike = std::is_same_v<P, absl::Status> || std::is_void_v<P>;
  static_assert(!std::is_reference_v<R>, "degrade::Call: the fallback must return by value");
  static_assert(kSameType || kStatusOrOf || kStatusLike,
                "degrade::Call: the primary must return the fallback's type, "
                "absl::StatusOr<U>, absl::Status or void");
  if constexpr (kStatusLike && !kSameType) {
    static_assert(std::is_same_v<R, absl::Status> || std::is_void_v<R>,
                  "degrade::Call: a primary returning absl::Status or void needs a "
                  "fallback returning absl::Status or void");
  }

  if (ABSL_PREDICT_FALSE(word == kWordOff)) {
    CountOutcome(id, kOutcomeSkipped);
    return fallback();
  }
  if (ABSL_PREDICT_FALSE(word != kWordOn)) {
    const uint64_t fault_word = fault.load(std::memory_order_relaxed);
    const SlowVerdict verdict = key == nullptr
                                    ? DecideSlow(sw, word, id, fault_word)
                                    : DecideSlowKeyed(sw, word, id, fault_word, *key);
    switch (verdict.decision) {
      case Decision::kRun:
        break;
      case Decision::kSkip:
        return fallback();
      case Decision::kFaultError:
        if (verdict.observe_start != 0) ObserveOutcome(sw, false, verdict.observe_start);
        return fallback();
    }
    // The breaker wants to hear how this call went: run the primary out of
    // line, reporting.
    if (verdict.observe_start != 0) {
      return RunObserved<R>(sw, id, verdict.observe_start, primary, fallback);
    }
  }
  return RunPrimary<R, /*kObserved=*/false>(sw, id, 0, primary, fallback);
}

}  // namespace internal

template <typename Primary, typename Fallback>
auto Call(const Switch& sw, Primary&& primary, Fallback&& fallback) {
  return internal::CallWith(sw, sw.id_, sw.word_.load(std::memory_order_relaxed), sw.fault_,
                            nullptr, primary, fallback);
}

// Sticky dimming: as above, but a fractional allow lets the call through
// exactly when sw.enabled(key) would (the same answer for the same key in
// every thread and process; see Switch::enabled(key)). Faults are still
// drawn per call at their rate, and breakers decide as for any call. The
// key is only read during the call; no allocation.
//   auto recs = degrade::Call(kRecs, user.id(),
//       [&] { return recs.Fetch(user); }, [&] { return Items{}; });
template <typename Primary, typename Fallback>
auto Call(const Switch& sw, std::string_view key, Primary&& primary, Fallback&& fallback) {
  return internal::CallWith(sw, sw.id_, sw.word_.load(std::memory_order_relaxed), sw.fault_,
                            &key, primary, fallback);
}

}  // namespace degrade

#endif  // DEGRADE_CALL_H_
