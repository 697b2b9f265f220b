// Zero allocation on the hot path, proved by counting every operator new.
//
// The counting replaces the global allocation functions for this binary, so
// it sees allocations made inside libdegrade too.
#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>

#include "degrade/call.h"
#include "degrade/registry.h"
#include "degrade/switch.h"
#include "gtest/gtest.h"

namespace {
std::atomic<long> g_allocations{0};
// While set, this thread's allocations fail (out of memory, for real as far
// as the code under test can tell).
thread_local bool t_fail_allocations = false;
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = t_fail_allocations ? nullptr : std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return t_fail_allocations ? nullptr : std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
// Not inlined: gcc 12 would otherwise pair the free() inside with the
// operator new above and report a (false) -Wmismatched-new-delete.
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

DEGRADE_SWITCH(kAllocOn, "alloc.on", "stays on");
DEGRADE_SWITCH(kAllocOff, "alloc.off", "turned off by the test");
DEGRADE_SWITCH(kAllocDimmed, "alloc.dimmed", "allow 0.5");

namespace degrade {
namespace {

class AllocTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SwitchValue off;
    off.state = State::kOff;
    ASSERT_TRUE(Registry::Global().SetOverride("alloc.off", off).ok());
    SwitchValue dimmed;
    dimmed.allow = 0.5;
    ASSERT_TRUE(Registry::Global().SetOverride("alloc.dimmed", dimmed).ok());
  }
};

// Runs `fn` n times and returns how many allocations it made.
template <typename Fn>
long CountAllocations(int n, Fn fn) {
  const long before = g_allocations.load();
  for (int i = 0; i < n; ++i) fn();
  return g_allocations.load() - before;
}

TEST_F(AllocTest, CountingSeesAllocations) {
  // The harness itself must be able to fail.
  // Through a volatile pointer, so the compiler cannot elide the pair.
  static int* volatile p = nullptr;
  EXPECT_EQ(CountAllocations(3, [] {
              p = new int(1);
              delete p;
            }),
            3);
}

TEST_F(AllocTest, EnabledOnNeverAllocates) {
  long sink = 0;
  EXPECT_EQ(CountAllocations(100'000, [&] { sink += kAllocOn.enabled(); }), 0);
  EXPECT_EQ(sink, 100'000);
}

TEST_F(AllocTest, EnabledOffNeverAllocates) {
  long sink = 0;
  EXPECT_EQ(CountAllocations(100'000, [&] { sink += kAllocOff.enabled(); }), 0);
  EXPECT_EQ(sink, 0);
}

TEST_F(AllocTest, EnabledFractionalNeverAllocates) {
  long sink = 0;
  EXPECT_EQ(CountAllocations(100'000, [&] { sink += kAllocDimmed.enabled(); }), 0);
  EXPECT_GT(sink, 0);
  EXPECT_LT(sink, 100'000);
}

TEST_F(AllocTest, EnabledNeverAllocatesOnAFreshThread) {
  long allocations = -1;
  std::thread t([&] {
    long sink = 0;
    allocations = CountAllocations(1000, [&] {
      sink += kAllocOn.enabled() + kAllocOff.enabled() + kAllocDimmed.enabled();
    });
  });
  t.join();
  EXPECT_EQ(allocations, 0);
}

TEST_F(AllocTest, CallSkipPathNeverAllocatesAfterTheThreadsFirstCall) {
  // The first Call on a thread allocates its counter block, once.
  Call(kAllocOff, [] { return 1; }, [] { return 0; });
  long sink = 0;
  EXPECT_EQ(CountAllocations(100'000, [&] { sink += Call(kAllocOff, [] { return 1; }, [] { return 0; }); }),
            0);
  EXPECT_EQ(sink, 0);
}

TEST_F(AllocTest, CallPrimaryPathNeverAllocatesAfterTheThreadsFirstCall) {
  Call(kAllocOn, [] { return 1; }, [] { return 0; });
  long sink = 0;
  EXPECT_EQ(CountAllocations(100'000, [&] { sink += Call(kAllocOn, [] { return 1; }, [] { return 0; }); }),
            0);
  EXPECT_EQ(sink, 100'000);
}

TEST_F(AllocTest, CallDimmedPathNeverAllocatesAfterTheThreadsFirstCall) {
  Call(kAllocDimmed, [] { return 1; }, [] { return 0; });
  EXPECT_EQ(CountAllocations(100'000, [] { Call(kAllocDimmed, [] { return 1; }, [] { return 0; }); }), 0);
}

TEST_F(AllocTest, FirstCallOnAThreadAllocatesOnlyItsCounterBlock) {
  long first = -1, later = -1;
  std::thread t([&] {
    first = CountAllocations(1, [] { Call(kAllocOff, [] { return 1; }, [] { return 0; }); });
    later = CountAllocations(1000, [] { Call(kAllocOff, [] { return 1; }, [] { return 0; }); });
  });
  t.join();
  // Directory + one 64-switch chunk (+ the thread-exit hook glibc may allocate).
  EXPECT_GE(first, 2);
  EXPECT_LE(first, 3);
  EXPECT_EQ(later, 0);
}

// The first Call on a thread allocates that thread's counters. Found by
// clang-tidy (bugprone-unhandled-exception-at-new): that allocation was a
// throwing new inside a noexcept function, so running out of memory there
// ended the process. Now the call goes through and its counts are dropped.
TEST_F(AllocTest, CallOnAThreadThatCannotAllocateStillRuns) {
  int result = 0;
  bool primary_ran = false;
  std::thread t([&] {
    t_fail_allocations = true;
    result = Call(
        kAllocOn, [&] { primary_ran = true; return 7; }, [] { return -1; });
    t_fail_allocations = false;
  });
  t.join();
  EXPECT_TRUE(primary_ran);
  EXPECT_EQ(result, 7);
}

}  // namespace
}  // namespace degrade
