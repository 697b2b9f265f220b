// Zero allocation on the hot path, proved by counting every operator new.
//
// tests/alloc_counting.cc replaces the global allocation functions for this
// binary, so the count sees allocations made inside libdegrade too.
#include <atomic>
#include <cstdlib>
#include <new>
#include <string_view>
#include <thread>

#include "degrade/call.h"
#include "degrade/registry.h"
#include "degrade/switch.h"
#include "gtest/gtest.h"
#include "test_probes.h"

DEGRADE_SWITCH(kAllocOn, "alloc.on", "stays on");
DEGRADE_SWITCH(kAllocOff, "alloc.off", "turned off by the test");
DEGRADE_SWITCH(kAllocDimmed, "alloc.dimmed", "allow 0.5");

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

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

TEST_F(AllocTest, EnabledWithAKeyNeverAllocates) {
  // Keys of every length class of the hash (a tail, whole blocks, both),
  // each let through or not by its own fixed point.
  const std::string_view keys[] = {"u", "user-0042", "5f0c2a9e-8a47-4b4e-9d0e-3c1f6a2b7d11",
                                   "tenant-7/session-0123456789"};
  long sink = 0;
  EXPECT_EQ(CountAllocations(100'000,
                             [&] {
                               for (std::string_view k : keys) {
                                 sink += kAllocDimmed.enabled(k) + kAllocOn.enabled(k) +
                                         kAllocOff.enabled(k);
                               }
                             }),
            0);
  EXPECT_GE(sink, 4 * 100'000);
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

TEST_F(AllocTest, KeyedCallNeverAllocatesAfterTheThreadsFirstCall) {
  Call(kAllocDimmed, "user-1", [] { return 1; }, [] { return 0; });
  long sink = 0;
  EXPECT_EQ(CountAllocations(100'000,
                             [&] {
                               sink += Call(kAllocDimmed, "user-0042", [] { return 1; },
                                            [] { return 0; }) +
                                       Call(kAllocOn, "user-0042", [] { return 1; },
                                            [] { return 0; });
                             }),
            0);
  EXPECT_GE(sink, 100'000);
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
    FailAllocationsOnThisThread(true);
    result = Call(
        kAllocOn, [&] { primary_ran = true; return 7; }, [] { return -1; });
    FailAllocationsOnThisThread(false);
  });
  t.join();
  EXPECT_TRUE(primary_ran);
  EXPECT_EQ(result, 7);
}

}  // namespace
}  // namespace degrade
