// Process and allocation probes for degrade's gtest suites (namespace
// degrade::test_util; tests/test_util.h says how the test helpers are
// organised): how many threads this process runs, how many allocations code
// makes.
//
//   ThreadCount()                        threads of this process now
//   StableThreadCount()                  the count once it has not changed for
//                                        200 ms (at most 10 s): pthread_join
//                                        returns before the kernel drops the
//                                        task from /proc/self/task
//   CountAllocations(n, fn)              how many operator new calls n runs of
//   AllocationCount()                    fn made / made so far. Only in binaries
//                                        that link tests/alloc_counting.cc (it
//                                        replaces the global operator new; list
//                                        the test in `alloc_counting_tests` in
//                                        tests/meson.build)
//   FailAllocationsOnThisThread(fail)    while true, operator new on this
//                                        thread fails (same binaries only)
#ifndef DEGRADE_TESTS_TEST_PROBES_H_
#define DEGRADE_TESTS_TEST_PROBES_H_

#include <chrono>
#include <filesystem>

#include "test_wait.h"

namespace degrade::test_util {

// ------------------------------------------------------------------ allocations

// Defined in tests/alloc_counting.cc (with the replacement operator new).
long AllocationCount();
// While true, every operator new on the calling thread fails (throws
// std::bad_alloc, or returns null for the nothrow forms): out of memory, as
// far as the code under test can tell.
void FailAllocationsOnThisThread(bool fail);

template <typename Fn>
long CountAllocations(int n, Fn fn) {
  const long before = AllocationCount();
  for (int i = 0; i < n; ++i) fn();
  return AllocationCount() - before;
}

// ------------------------------------------------------------------ threads

inline int ThreadCount() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

inline int StableThreadCount() {
  using SteadyClock = std::chrono::steady_clock;
  int last = ThreadCount();
  auto since = SteadyClock::now();
  Eventually(
      [&] {
        const int n = ThreadCount();
        if (n != last) {
          last = n;
          since = SteadyClock::now();
        }
        return SteadyClock::now() - since >= std::chrono::milliseconds(200);
      },
      std::chrono::seconds(10));
  return last;
}

}  // namespace degrade::test_util

#endif  // DEGRADE_TESTS_TEST_PROBES_H_
