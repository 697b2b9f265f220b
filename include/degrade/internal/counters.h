// degrade/internal/counters.h: per-thread call counters. Not public API.
//
// Every thread that calls degrade::Call owns a directory of counter chunks;
// only that thread writes them, with a relaxed load and store (no locked
// instruction, no shared cache line), and readers sum all threads' chunks.
// A thread allocates its directory and a 64-switch chunk the first time it
// counts for a switch in that chunk; every later count allocates nothing. On
// thread exit its counts fold into per-switch totals, so nothing is lost.
#ifndef DEGRADE_INTERNAL_COUNTERS_H_
#define DEGRADE_INTERNAL_COUNTERS_H_

#include <atomic>
#include <cstdint>

#include "absl/base/optimization.h"
#include "degrade/export.h"

namespace degrade::internal {

// Stored outcomes. Calls, fallbacks and injected faults are derived from
// these, so one Call increments exactly one counter (two for a delay fault).
enum Outcome : uint32_t {
  kOutcomeOk = 0,          // primary ran and succeeded
  kOutcomeFailed = 1,      // primary returned an error or threw
  kOutcomeSkipped = 2,     // switch off (or not allowed by the dimmer)
  kOutcomeFaultError = 3,  // injected error: primary did not run
  kOutcomeFaultDelay = 4,  // injected delay: primary ran afterwards
  kOutcomeCount = 5,
};

inline constexpr uint32_t kChunkShift = 6;  // 64 switches per chunk
inline constexpr uint32_t kChunkSize = 1u << kChunkShift;
inline constexpr uint32_t kChunkMask = kChunkSize - 1;
inline constexpr uint32_t kMaxChunks = 1024;
inline constexpr uint32_t kMaxSwitchIds = kMaxChunks * kChunkSize;  // 65,536

using Counter = std::atomic<uint64_t>;
static_assert(Counter::is_always_lock_free);

struct CounterDirectory {
  // chunks[i] holds kChunkSize * kOutcomeCount counters, or is null.
  // Written only by the owning thread, under the counters lock. The extra
  // last chunk absorbs the id kMaxSwitchIds, given to switches defined past
  // the limit (they are detached and reported; their counts are not kept).
  Counter* chunks[kMaxChunks + 1];
};

// The calling thread's directory (null until its first count). Initial-exec
// TLS: one %fs-relative load even from code in another shared object (the
// Python module), instead of a __tls_get_addr call per Call.
#define DEGRADE_TLS_INITIAL_EXEC __attribute__((tls_model("initial-exec")))
extern DEGRADE_EXPORT __thread CounterDirectory* t_counter_directory DEGRADE_TLS_INITIAL_EXEC;

// Slow path: creates the directory and/or chunk for `id`. Allocates.
DEGRADE_EXPORT Counter* CounterChunkSlow(uint32_t id) noexcept;

inline void CountOutcome(uint32_t id, Outcome outcome) noexcept {
  CounterDirectory* dir = t_counter_directory;
  Counter* chunk;
  if (ABSL_PREDICT_FALSE(dir == nullptr ||
                         (chunk = dir->chunks[id >> kChunkShift]) == nullptr)) {
    chunk = CounterChunkSlow(id);
  }
  Counter& c = chunk[(id & kChunkMask) * kOutcomeCount + outcome];
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Sums every thread's counts (and exited threads') for `id`.
struct OutcomeTotals {
  uint64_t by_outcome[kOutcomeCount] = {};
};
OutcomeTotals ReadOutcomes(uint32_t id) noexcept;

// Switch ids: dense, reused after release. Acquire returns kMaxSwitchIds when
// all are in use. Release zeroes the id's counters everywhere.
uint32_t AcquireSwitchId() noexcept;
void ReleaseSwitchId(uint32_t id) noexcept;

}  // namespace degrade::internal

#endif  // DEGRADE_INTERNAL_COUNTERS_H_
