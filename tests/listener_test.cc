// Change listeners and change logging: what an event carries, when one is
// (and is not) delivered, ordering, re-entrancy, and kChange JSON lines.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "degrade/switch.h"
#include "degrade/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_registry.h"
#include "test_wait.h"
#include "nlohmann/json.hpp"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class ListenerTest : public ::testing::Test {
 protected:
  Registry& registry() {
    if (!registry_) {
      registry_ = std::make_unique<Registry>(Registry::Options{
          .clock = &clock_,
          .getenv = env_.Getenv(),
          .log_sink = logs_.Sink(),
          .timer_threads = false,
      });
    }
    return *registry_;
  }

  Switch* Define(SwitchSpec spec) {
    absl::StatusOr<Switch*> sw = registry().Define(std::move(spec));
    EXPECT_TRUE(sw.ok()) << sw.status();
    return sw.ok() ? *sw : nullptr;
  }

  // Records every event into events_.
  uint64_t Record() {
    return registry().AddListener([this](const ChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    });
  }

  std::vector<ChangeEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::vector<std::string> change_lines() {
    std::vector<std::string> out;
    for (const test_util::LogCapture::Line& l : logs_.Lines()) {
      if (l.level == LogLevel::kChange) out.push_back(l.message);
    }
    return out;
  }

  void Apply(Layer layer, Snapshot snapshot) {
    absl::Status s = registry().ApplySnapshot(layer, std::move(snapshot), "test source");
    ASSERT_TRUE(s.ok()) << s;
  }

  testing::FakeClock clock_;
  test_util::FakeEnv env_;
  std::mutex mu_;
  std::vector<ChangeEvent> events_;
  test_util::LogCapture logs_;
  std::unique_ptr<Registry> registry_;
};

// ------------------------------------------------------------------ what an event carries

TEST_F(ListenerTest, ListenerReceivesEveryFieldOfAChange) {
  Define(Spec("recs"));
  Record();
  ASSERT_TRUE(registry().SetOverride("recs", Off("INC-4211 vendor 5xx", "oncall")).ok());
  const std::vector<ChangeEvent> got = events();
  ASSERT_EQ(got.size(), 1u);
  const ChangeEvent& e = got[0];
  EXPECT_EQ(e.name, "recs");
  EXPECT_EQ(DescribeState(e.old_state), "on");
  EXPECT_EQ(DescribeState(e.new_state), "off");
  EXPECT_EQ(e.old_layer, Layer::kDefault);
  EXPECT_EQ(e.layer, Layer::kAdmin);
  EXPECT_EQ(e.actor, "oncall");
  EXPECT_EQ(e.reason, "INC-4211 vendor 5xx");
  EXPECT_EQ(e.time, clock_.Now());
}

TEST_F(ListenerTest, EventTimeComesFromTheRegistryClock) {
  Define(Spec("recs"));
  Record();
  clock_.Advance(absl::Minutes(7));
  const absl::Time expected = clock_.Now();
  ASSERT_TRUE(registry().SetOverride("recs", Off()).ok());
  ASSERT_EQ(events().size(), 1u);
  EXPECT_EQ(events()[0].time, expected);
  EXPECT_EQ(expected, absl::FromUnixSeconds(1'800'000'000) + absl::Minutes(7));
}

TEST_F(ListenerTest, EventCarriesOldAndNewAllow) {
  Define(Spec("recs"));
  Apply(Layer::kFile, [] {
    Snapshot s;
    s.switches["recs"] = Allow(0.75);
    return s;
  }());
  Record();
  Apply(Layer::kRemote, [] {
    Snapshot s;
    s.switches["recs"] = Allow(0.25);
    return s;
  }());
  ASSERT_EQ(events().size(), 1u);
  const ChangeEvent e = events()[0];
  EXPECT_EQ(DescribeState(e.old_state), "on allow=0.75");
  EXPECT_EQ(DescribeState(e.new_state), "on allow=0.25");
  EXPECT_EQ(e.old_layer, Layer::kFile);
  EXPECT_EQ(e.layer, Layer::kRemote);
}

TEST_F(ListenerTest, EventCarriesAFaultChange) {
  Define(Spec("recs"));
  Record();
  SwitchValue drill;
  drill.fault = Fault{Fault::Kind::kError, 0.5, 0};
  drill.actor = "drill";
  ASSERT_TRUE(registry().SetOverride("recs", drill).ok());
  ASSERT_EQ(events().size(), 1u);
  EXPECT_EQ(DescribeState(events()[0].new_state), "on fault=error rate=0.5");
  EXPECT_EQ(events()[0].layer, Layer::kDefault);  // the fault does not decide the state
}

TEST_F(ListenerTest, ChangeOfDecidingLayerAloneIsAnEvent) {
  Define(Spec("recs"));
  Apply(Layer::kFile, [] {
    Snapshot s;
    s.switches["recs"] = Off();
    return s;
  }());
  Record();
  ASSERT_TRUE(registry().SetOverride("recs", Off("same state", "ops")).ok());
  ASSERT_EQ(events().size(), 1u);
  EXPECT_EQ(DescribeState(events()[0].old_state), "off");
  EXPECT_EQ(DescribeState(events()[0].new_state), "off");
  EXPECT_EQ(events()[0].old_layer, Layer::kFile);
  EXPECT_EQ(events()[0].layer, Layer::kAdmin);
}

// ------------------------------------------------------------------ when there is no event

TEST_F(ListenerTest, NoEventWhenReapplyingAnIdenticalSnapshot) {
  Define(Spec("a", {"g"}));
  Define(Spec("b"));
  Snapshot s;
  s.switches["b"] = Allow(0.5);
  s.groups["g"] = Off("cut", "ops");
  Apply(Layer::kRemote, s);
  Record();
  Apply(Layer::kRemote, s);
  EXPECT_THAT(events(), IsEmpty());
}

TEST_F(ListenerTest, NoEventWhenAHigherLayerIsHiddenByAnEvenHigherOne) {
  Define(Spec("a"));
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  Record();
  Apply(Layer::kRemote, [] {
    Snapshot s;
    s.switches["a"] = Allow(0.5);
    return s;
  }());
  EXPECT_THAT(events(), IsEmpty());
}

TEST_F(ListenerTest, NoEventForSwitchesTheChangeDoesNotAffect) {
  Define(Spec("a"));
  Define(Spec("b"));
  Define(Spec("c"));
  Record();
  ASSERT_TRUE(registry().SetOverride("b", Off()).ok());
  ASSERT_EQ(events().size(), 1u);
  EXPECT_EQ(events()[0].name, "b");
}

TEST_F(ListenerTest, NoEventWhenASwitchIsDefined) {
  Record();
  env_.Set("DEGRADE_A", "off");
  Define(Spec("a"));
  Define(Spec("b"));
  EXPECT_THAT(events(), IsEmpty());
}

TEST_F(ListenerTest, GroupChangeGivesOneEventPerMember) {
  Define(Spec("a", {"g"}));
  Define(Spec("b", {"g", "h"}));
  Define(Spec("c", {"h"}));
  Record();
  Apply(Layer::kFile, [] {
    Snapshot s;
    s.groups["g"] = Off();
    return s;
  }());
  std::vector<std::string> names;
  for (const ChangeEvent& e : events()) names.push_back(e.name);
  EXPECT_THAT(names, UnorderedElementsAre("a", "b"));
}

// ------------------------------------------------------------------ order and delivery

TEST_F(ListenerTest, EventsArriveInOrderAcrossManyChanges) {
  Define(Spec("a"));
  Record();
  std::vector<double> allows;
  for (int i = 1; i <= 100; ++i) {
    allows.push_back(i / 128.0);
    ASSERT_TRUE(registry().SetOverride("a", Allow(allows.back())).ok());
  }
  const std::vector<ChangeEvent> got = events();
  ASSERT_EQ(got.size(), allows.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].new_state.allow, allows[i]) << i;
    EXPECT_EQ(got[i].old_state.allow, i == 0 ? 1.0 : allows[i - 1]) << i;
  }
}

TEST_F(ListenerTest, EveryListenerReceivesEachEvent) {
  Define(Spec("a"));
  int first = 0;
  int second = 0;
  registry().AddListener([&](const ChangeEvent&) { ++first; });
  registry().AddListener([&](const ChangeEvent&) { ++second; });
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  ASSERT_TRUE(registry().ClearOverride("a").ok());
  EXPECT_EQ(first, 2);
  EXPECT_EQ(second, 2);
}

TEST_F(ListenerTest, RemoveListenerStopsDelivery) {
  Define(Spec("a"));
  const uint64_t id = Record();
  int other = 0;
  registry().AddListener([&](const ChangeEvent&) { ++other; });
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  registry().RemoveListener(id);
  ASSERT_TRUE(registry().ClearOverride("a").ok());
  EXPECT_EQ(events().size(), 1u);
  EXPECT_EQ(other, 2);
}

// With nobody listening no events are built, but the state a later event
// starts from is still the one the switch had.
TEST_F(ListenerTest, ListenerAddedLaterGetsOnlyLaterChangesFromTheRightOldState) {
  Define(Spec("a"));
  ASSERT_TRUE(registry().SetOverride("a", Allow(0.25)).ok());  // nobody listens
  Record();
  ASSERT_TRUE(registry().SetOverride("a", Off("later")).ok());
  const std::vector<ChangeEvent> got = events();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].old_state.allow, 0.25);
  EXPECT_EQ(got[0].old_layer, Layer::kAdmin);
  EXPECT_EQ(got[0].new_state.state, State::kOff);
  EXPECT_EQ(got[0].reason, "later");
}

TEST_F(ListenerTest, NoEventsOnceTheLastListenerIsRemoved) {
  Define(Spec("a"));
  const uint64_t id = Record();
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  registry().RemoveListener(id);
  ASSERT_TRUE(registry().ClearOverride("a").ok());
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  EXPECT_EQ(events().size(), 1u);
  // Listening again: the next change starts from off, as it is.
  Record();
  ASSERT_TRUE(registry().ClearOverride("a").ok());
  const std::vector<ChangeEvent> got = events();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].old_state.state, State::kOff);
  EXPECT_EQ(got[1].new_state.state, State::kOn);
}

// A batch (one snapshot changing several switches) is delivered event by
// event: a listener added or removed during it counts from the next event.
TEST_F(ListenerTest, ListenerAddedDuringABatchGetsTheRestOfIt) {
  Define(Spec("a", {"g"}));
  Define(Spec("b", {"g"}));
  Define(Spec("c", {"g"}));
  int later = 0;
  bool added = false;
  registry().AddListener([&](const ChangeEvent&) {
    if (!added) {
      added = true;
      registry().AddListener([&](const ChangeEvent&) { ++later; });
    }
  });
  Snapshot s;
  s.groups["g"] = Off();
  Apply(Layer::kFile, s);
  EXPECT_EQ(later, 2);
}

TEST_F(ListenerTest, ListenerRemovedDuringABatchGetsNoMoreOfIt) {
  Define(Spec("a", {"g"}));
  Define(Spec("b", {"g"}));
  Define(Spec("c", {"g"}));
  int removed_calls = 0;
  uint64_t removed_id = 0;
  bool removed = false;
  registry().AddListener([&](const ChangeEvent&) {
    if (!removed) {
      removed = true;
      registry().RemoveListener(removed_id);
    }
  });
  removed_id = registry().AddListener([&](const ChangeEvent&) { ++removed_calls; });
  Snapshot s;
  s.groups["g"] = Off();
  Apply(Layer::kFile, s);
  // The first event had both listeners copied before the removal.
  EXPECT_EQ(removed_calls, 1);
}

TEST_F(ListenerTest, RemoveListenerWithUnknownIdIsHarmless) {
  Define(Spec("a"));
  const uint64_t id = Record();
  registry().RemoveListener(id + 1000);
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  EXPECT_EQ(events().size(), 1u);
}

TEST_F(ListenerTest, ListenerIdsAreDistinct) {
  const uint64_t a = Record();
  const uint64_t b = Record();
  EXPECT_NE(a, b);
}

// ------------------------------------------------------------------ re-entrancy

TEST_F(ListenerTest, ListenerMayChangeTheRegistryAndItsEventComesAfter) {
  Switch* a = Define(Spec("a"));
  Switch* b = Define(Spec("b"));
  Record();
  registry().AddListener([this](const ChangeEvent& e) {
    if (e.name == "a" && e.new_state.state == State::kOff) {
      EXPECT_TRUE(registry().SetOverride("b", Off("follows a", "listener")).ok());
    }
  });
  RunWithDeadline([&] { ASSERT_TRUE(registry().SetOverride("a", Off()).ok()); });
  EXPECT_FALSE(a->enabled());
  EXPECT_FALSE(b->enabled());
  const std::vector<ChangeEvent> got = events();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].name, "a");
  EXPECT_EQ(got[1].name, "b");
  EXPECT_EQ(got[1].actor, "listener");
}

TEST_F(ListenerTest, ListenerRunsWithoutTheRegistryLock) {
  Switch* a = Define(Spec("a"));
  std::vector<SwitchInfo> seen;
  bool enabled_inside = true;
  registry().AddListener([&](const ChangeEvent&) {
    seen = registry().List();
    enabled_inside = a->enabled();
    EXPECT_EQ(registry().Find("a"), a);
    EXPECT_TRUE(registry().Get("a").ok());
    EXPECT_FALSE(registry().LayerSnapshot(Layer::kAdmin).empty());
    EXPECT_TRUE(registry().errors().empty());
  });
  RunWithDeadline([&] { ASSERT_TRUE(registry().SetOverride("a", Off()).ok()); });
  // The listener saw the new state: it runs after the change is visible.
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].effective.state, State::kOff);
  EXPECT_FALSE(enabled_inside);
}

TEST_F(ListenerTest, ListenerMayLogThroughTheRegistry) {
  Define(Spec("a"));
  registry().AddListener(
      [this](const ChangeEvent& e) { registry().Log(LogLevel::kError, "saw " + e.name); });
  RunWithDeadline([&] { ASSERT_TRUE(registry().SetOverride("a", Off()).ok()); });
  ASSERT_EQ(registry().errors().size(), 1u);
  EXPECT_EQ(registry().errors()[0].message, "saw a");
}

TEST_F(ListenerTest, ListenerMayRemoveItself) {
  Define(Spec("a"));
  int calls = 0;
  uint64_t id = 0;
  id = registry().AddListener([&](const ChangeEvent&) {
    ++calls;
    registry().RemoveListener(id);
  });
  RunWithDeadline([&] {
    ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
    ASSERT_TRUE(registry().ClearOverride("a").ok());
  });
  EXPECT_EQ(calls, 1);
}

// Many writers: whatever the interleaving, listeners must see the changes in
// the order they were made, so each event starts where the previous one ended.
// Several rounds, because a wrong order needs an unlucky interleaving to show.
TEST_F(ListenerTest, EventsFromConcurrentWritersArriveInStateOrder) {
  Define(Spec("a"));
  Record();
  constexpr int kRounds = 10;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  int breaks = 0;
  size_t total = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([this, t, round] {
        for (int i = 0; i < kPerThread; ++i) {
          // Distinct allows within a round and from the previous round's
          // last value: every write is a change.
          const double allow = (1 + t * kPerThread + i + (round % 2) * 4096) / 8192.0;
          EXPECT_TRUE(registry().SetOverride("a", Allow(allow)).ok());
        }
      });
    }
    for (std::thread& w : writers) w.join();
  }
  const std::vector<ChangeEvent> got = events();
  total = got.size();
  for (size_t i = 1; i < got.size(); ++i) {
    if (!(got[i].old_state == got[i - 1].new_state)) ++breaks;
  }
  EXPECT_EQ(total, static_cast<size_t>(kRounds * kThreads * kPerThread));
  EXPECT_EQ(breaks, 0) << "events delivered out of state order";
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().new_state, registry().Get("a")->effective);
}

// ------------------------------------------------------------------ change lines

TEST_F(ListenerTest, SetLogChangesSendsEachChangeAsAJsonLine) {
  Define(Spec("search.suggest"));
  registry().SetLogChanges(true);
  ASSERT_TRUE(registry().SetOverride("search.suggest", Off("INC-1", "oncall")).ok());
  const std::vector<std::string> lines = change_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].find('\n'), std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j.at("switch"), "search.suggest");
  EXPECT_EQ(j.at("old").at("state"), "on");
  EXPECT_EQ(j.at("new").at("state"), "off");
  EXPECT_EQ(j.at("old_layer"), "default");
  EXPECT_EQ(j.at("layer"), "admin");
  EXPECT_EQ(j.at("actor"), "oncall");
  EXPECT_EQ(j.at("reason"), "INC-1");
  absl::Time time;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, j.at("time").get<std::string>(), &time, &error))
      << error;
  EXPECT_EQ(time, clock_.Now());
}

TEST_F(ListenerTest, ChangeLineCarriesAllow) {
  Define(Spec("a"));
  registry().SetLogChanges(true);
  ASSERT_TRUE(registry().SetOverride("a", Allow(0.25)).ok());
  ASSERT_EQ(change_lines().size(), 1u);
  const nlohmann::json j = nlohmann::json::parse(change_lines()[0]);
  EXPECT_EQ(j.at("new").at("state"), "on");
  EXPECT_EQ(j.at("new").at("allow"), 0.25);
}

TEST_F(ListenerTest, NoChangeLinesByDefault) {
  Define(Spec("a"));
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  EXPECT_THAT(change_lines(), IsEmpty());
}

TEST_F(ListenerTest, SetLogChangesFalseStopsChangeLines) {
  Define(Spec("a"));
  registry().SetLogChanges(true);
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  registry().SetLogChanges(false);
  ASSERT_TRUE(registry().ClearOverride("a").ok());
  EXPECT_EQ(change_lines().size(), 1u);
}

TEST_F(ListenerTest, DegradeLogChangesVariableTurnsChangeLinesOn) {
  env_.Set("DEGRADE_LOG_CHANGES", "on");
  Define(Spec("a"));
  ASSERT_TRUE(registry().SetOverride("a", Off()).ok());
  ASSERT_EQ(change_lines().size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(change_lines()[0]).at("switch"), "a");
}

TEST_F(ListenerTest, NoChangeLineWhenNothingChanges) {
  Define(Spec("a"));
  registry().SetLogChanges(true);
  ASSERT_TRUE(registry().ClearOverride("a").ok());
  Apply(Layer::kFile, Snapshot{});
  EXPECT_THAT(change_lines(), IsEmpty());
}

}  // namespace
}  // namespace degrade
