// Per-thread call counters (see degrade/internal/counters.h).
//
// Writers never lock: each thread owns its directory and chunks and bumps
// them with a relaxed load + store. The lock below only orders the rare
// events: a thread allocating a chunk, a reader summing, a thread exiting, an
// id being released. Directories are plain pointers read by their owner
// without the lock; only the owner writes them, and only under the lock, so
// readers under the lock never race with a write.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "degrade/internal/counters.h"

namespace degrade::internal {

__thread CounterDirectory* t_counter_directory DEGRADE_TLS_INITIAL_EXEC = nullptr;

namespace {

constexpr size_t kChunkCounters = size_t{kChunkSize} * kOutcomeCount;

struct CounterState {
  std::mutex mu;
  std::vector<CounterDirectory*> live;  // every thread's directory
  // Counts of exited threads, per id (grown on demand).
  std::vector<std::array<uint64_t, kOutcomeCount>> retired;
  std::vector<uint32_t> free_ids;
  uint32_t next_id = 0;
};

// Never destroyed: threads may exit (and fold their counts) during or after
// static destruction.
CounterState& Counters() {
  static CounterState* state = new CounterState;
  return *state;
}

// Folds the exiting thread's counts into `retired` and frees its memory.
struct DirectoryReaper {
  CounterDirectory* dir = nullptr;
  ~DirectoryReaper() {
    if (dir == nullptr) return;
    CounterState& st = Counters();
    {
      std::lock_guard<std::mutex> lock(st.mu);
      for (uint32_t c = 0; c <= kMaxChunks; ++c) {
        Counter* chunk = dir->chunks[c];
        if (chunk == nullptr) continue;
        for (uint32_t i = 0; i < kChunkSize; ++i) {
          const uint32_t id = c * kChunkSize + i;
          if (id >= st.retired.size()) st.retired.resize(id + 1);
          for (uint32_t o = 0; o < kOutcomeCount; ++o) {
            st.retired[id][o] += chunk[i * kOutcomeCount + o].load(std::memory_order_relaxed);
          }
        }
        delete[] chunk;
        dir->chunks[c] = nullptr;
      }
      std::erase(st.live, dir);
    }
    t_counter_directory = nullptr;
    delete dir;
  }
};
thread_local DirectoryReaper t_reaper;

}  // namespace

// Where a thread counts while memory for its own counters cannot be had:
// its counts are lost (and shared with other such threads) rather than
// ending the process, since this runs inside degrade::Call.
Counter* DiscardChunk() noexcept {
  static Counter discard[kChunkCounters] = {};
  return discard;
}

Counter* CounterChunkSlow(uint32_t id) noexcept {
  CounterState& st = Counters();
  const uint32_t c = id >> kChunkShift;
  std::lock_guard<std::mutex> lock(st.mu);
  CounterDirectory* dir = t_counter_directory;
  if (dir == nullptr) {
    dir = new (std::nothrow) CounterDirectory{};
    if (dir == nullptr) return DiscardChunk();
    try {
      st.live.push_back(dir);
    } catch (const std::bad_alloc&) {
      delete dir;
      return DiscardChunk();
    }
    t_reaper.dir = dir;  // registers the exit hook on first use
    t_counter_directory = dir;
  }
  if (dir->chunks[c] == nullptr) {
    Counter* chunk = new (std::nothrow) Counter[kChunkCounters];
    if (chunk == nullptr) return DiscardChunk();
    for (size_t i = 0; i < kChunkCounters; ++i) chunk[i].store(0, std::memory_order_relaxed);
    dir->chunks[c] = chunk;
  }
  return dir->chunks[c];
}

OutcomeTotals ReadOutcomes(uint32_t id) noexcept {
  OutcomeTotals totals;
  if (id >= kMaxSwitchIds) return totals;
  CounterState& st = Counters();
  const uint32_t c = id >> kChunkShift;
  const uint32_t base = (id & kChunkMask) * kOutcomeCount;
  std::lock_guard<std::mutex> lock(st.mu);
  if (id < st.retired.size()) {
    for (uint32_t o = 0; o < kOutcomeCount; ++o) totals.by_outcome[o] = st.retired[id][o];
  }
  for (CounterDirectory* dir : st.live) {
    Counter* chunk = dir->chunks[c];
    if (chunk == nullptr) continue;
    for (uint32_t o = 0; o < kOutcomeCount; ++o) {
      totals.by_outcome[o] += chunk[base + o].load(std::memory_order_relaxed);
    }
  }
  return totals;
}

uint32_t AcquireSwitchId() noexcept {
  static_assert(sizeof(CounterDirectory::chunks) / sizeof(Counter*) == kMaxChunks + 1);
  CounterState& st = Counters();
  std::lock_guard<std::mutex> lock(st.mu);
  if (!st.free_ids.empty()) {
    const uint32_t id = st.free_ids.back();
    st.free_ids.pop_back();
    return id;
  }
  if (st.next_id >= kMaxSwitchIds) return kMaxSwitchIds;
  return st.next_id++;
}

void ReleaseSwitchId(uint32_t id) noexcept {
  if (id >= kMaxSwitchIds) return;
  CounterState& st = Counters();
  const uint32_t c = id >> kChunkShift;
  const uint32_t base = (id & kChunkMask) * kOutcomeCount;
  std::lock_guard<std::mutex> lock(st.mu);
  // The id's next owner starts from zero. Threads still counting for the
  // released switch would be using a destroyed object, so no writer races.
  if (id < st.retired.size()) st.retired[id] = {};
  for (CounterDirectory* dir : st.live) {
    Counter* chunk = dir->chunks[c];
    if (chunk == nullptr) continue;
    for (uint32_t o = 0; o < kOutcomeCount; ++o) {
      chunk[base + o].store(0, std::memory_order_relaxed);
    }
  }
  st.free_ids.push_back(id);
}

}  // namespace degrade::internal
