// Sticky dimming: Switch::enabled(key), the keyed degrade::Call, and
// StickyPoint, the fixed hash under both (docs/dimming.md).
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "degrade/call.h"
#include "degrade/registry.h"
#include "degrade/switch.h"
#include "gtest/gtest.h"
#include "subprocess.h"
#include "test_registry.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

std::string UserKey(int i) { return absl::StrCat("user-", i); }

class StickyTest : public ::testing::Test {
 protected:
  StickyTest() : registry_(QuietOptions()) {
    absl::StatusOr<Switch*> sw = registry_.Define(Spec("sticky.recs"));
    EXPECT_TRUE(sw.ok()) << sw.status();
    sw_ = *sw;
  }

  void SetAllow(double allow) { ASSERT_TRUE(registry_.SetOverride("sticky.recs", Allow(allow)).ok()); }

  // The keys user-0 ... user-(n-1) that enabled(key) lets through.
  std::set<int> Admitted(int n) const {
    std::set<int> in;
    for (int i = 0; i < n; ++i) {
      if (sw_->enabled(UserKey(i))) in.insert(i);
    }
    return in;
  }

  Registry registry_;
  Switch* sw_ = nullptr;
};

// The hash is part of the contract: the same user must get the same answer
// from every version, process and host. These points were computed from the
// description in docs/dimming.md by a separate implementation (not this
// library); a change to the hash fails here.
TEST(StickyPointTest, IsTheDocumentedFixedHash) {
  EXPECT_EQ(StickyPoint("recommendations", "user-42"), 910926303u);
  EXPECT_EQ(StickyPoint("recommendations", "user-43"), 2593860704u);
  EXPECT_EQ(StickyPoint("analytics", "user-42"), 3780386127u);
  EXPECT_EQ(StickyPoint("recommendations", ""), 3073388058u);
  EXPECT_EQ(StickyPoint("recommendations", "5f0c2a9e-8a47-4b4e-9d0e-3c1f6a2b7d11"), 2666315536u);
  // The ones the C and Python binding tests check their answers against.
  EXPECT_EQ(StickyPoint("py.sticky.golden", "bob"), 1158831674u);
  EXPECT_EQ(StickyPoint("py.sticky.golden", "carol"), 3639401422u);
  EXPECT_EQ(StickyPoint("c.sticky", "bob"), 3971999973u);
  EXPECT_EQ(StickyPoint("c.sticky", "carol"), 2005005700u);
}

TEST(StickyPointTest, SpreadsKeysEvenlyOverTheRange) {
  // 10,000 keys in 10 buckets of the point: each within 10% of 1,000.
  int buckets[10] = {};
  for (int i = 0; i < 10'000; ++i) {
    ++buckets[static_cast<uint64_t>(StickyPoint("recommendations", UserKey(i))) * 10 >> 32];
  }
  for (int b = 0; b < 10; ++b) {
    EXPECT_GE(buckets[b], 900) << "bucket " << b;
    EXPECT_LE(buckets[b], 1100) << "bucket " << b;
  }
}

TEST(StickyPointTest, DependsOnTheSwitchName) {
  // The same users are not the ones dimmed on every switch.
  int same = 0;
  for (int i = 0; i < 1000; ++i) {
    const bool a = StickyPoint("recommendations", UserKey(i)) < (uint32_t{1} << 31);
    const bool b = StickyPoint("analytics", UserKey(i)) < (uint32_t{1} << 31);
    same += a == b;
  }
  EXPECT_GT(same, 400);
  EXPECT_LT(same, 600);
}

TEST_F(StickyTest, AKeyIsLetThroughExactlyWhenItsPointIsBelowAllow) {
  SetAllow(0.3);
  const uint32_t threshold = sw_->state().allow * 4294967296.0;
  for (int i = 0; i < 2000; ++i) {
    EXPECT_EQ(sw_->enabled(UserKey(i)), StickyPoint("sticky.recs", UserKey(i)) < threshold)
        << UserKey(i);
  }
}

TEST_F(StickyTest, TheShareLetThroughFollowsAllow) {
  for (double allow : {0.1, 0.25, 0.5, 0.9}) {
    SetAllow(allow);
    const double share = static_cast<double>(Admitted(10'000).size()) / 10'000;
    EXPECT_NEAR(share, allow, 0.02) << "allow " << allow;
  }
}

TEST_F(StickyTest, TheSameKeyGetsTheSameAnswerEveryTime) {
  SetAllow(0.5);
  const std::set<int> first = Admitted(1000);
  for (int round = 0; round < 5; ++round) EXPECT_EQ(Admitted(1000), first);
}

TEST_F(StickyTest, KeysThatAreInStayInAsAllowGrows) {
  std::set<int> before;
  for (double allow : {0.05, 0.2, 0.4, 0.6, 0.8, 0.95}) {
    SetAllow(allow);
    const std::set<int> now = Admitted(5000);
    for (int i : before) ASSERT_TRUE(now.contains(i)) << UserKey(i) << " left at allow " << allow;
    EXPECT_GT(now.size(), before.size());
    before = now;
  }
}

TEST_F(StickyTest, EveryThreadGetsTheSameAnswers) {
  SetAllow(0.5);
  const std::set<int> expected = Admitted(2000);
  std::vector<std::set<int>> seen(4);
  std::vector<std::thread> threads;
  for (auto& s : seen) {
    threads.emplace_back([&] { s = Admitted(2000); });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : seen) EXPECT_EQ(s, expected);
}

TEST_F(StickyTest, AnotherProcessGivesTheSameAnswers) {
  const char* child = std::getenv("STICKY_CHILD");
  ASSERT_NE(child, nullptr) << "STICKY_CHILD (set by tests/meson.build) names sticky_child";
  SetAllow(0.3);
  std::string expected;
  for (int i = 0; i < 3000; ++i) expected.push_back(sw_->enabled(UserKey(i)) ? '1' : '0');
  expected.push_back('\n');
  // Two runs: each process has its own address layout and start time, which
  // a per-process seed would mix in.
  for (int run = 0; run < 2; ++run) {
    testing_util::Subprocess p({child, "3000"}, {"DEGRADE_STICKY_RECS=30%"});
    ASSERT_TRUE(p.started()) << p.error();
    ASSERT_EQ(p.Finish(absl::Seconds(30)), 0) << p.err();
    EXPECT_EQ(p.out(), expected) << "run " << run;
  }
}

TEST_F(StickyTest, PlainlyOnOrOffIgnoresTheKey) {
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(sw_->enabled(UserKey(i)));
  ASSERT_TRUE(registry_.SetOverride("sticky.recs", Off()).ok());
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(sw_->enabled(UserKey(i)));
  SetAllow(0.0);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(sw_->enabled(UserKey(i)));
}

TEST_F(StickyTest, KeyedCallRunsThePrimaryForExactlyTheKeysLetThrough) {
  SetAllow(0.4);
  const std::set<int> admitted = Admitted(1000);
  std::set<int> ran;
  for (int i = 0; i < 1000; ++i) {
    const int r = Call(*sw_, UserKey(i), [&] { return 1; }, [] { return 0; });
    if (r == 1) ran.insert(i);
  }
  EXPECT_EQ(ran, admitted);
  const Counters c = registry_.Get("sticky.recs")->counters;
  EXPECT_EQ(c.calls, 1000u);
  EXPECT_EQ(c.skipped, 1000u - admitted.size());
  EXPECT_EQ(c.primary_ok, admitted.size());
}

TEST_F(StickyTest, KeyedCallStillDrawsFaultsPerCall) {
  // allow 1 with an error fault at 100%: the key does not matter, every
  // call is faulted.
  SwitchValue v;
  v.fault = Fault{.kind = Fault::Kind::kError, .rate = 1.0};
  ASSERT_TRUE(registry_.SetOverride("sticky.recs", v).ok());
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(Call(*sw_, UserKey(i), [] { return 1; }, [] { return 0; }), 0);
  }
  EXPECT_EQ(registry_.Get("sticky.recs")->counters.injected_faults, 50u);
}

TEST_F(StickyTest, TheEmptyKeyIsAKeyLikeAnyOther) {
  SetAllow(0.5);
  const bool in = StickyPoint("sticky.recs", "") < (uint32_t{1} << 31);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sw_->enabled(""), in);
}

}  // namespace
}  // namespace degrade
