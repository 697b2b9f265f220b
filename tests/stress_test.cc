// Concurrency: writers flip switches through every API while readers check
// and call. Run under ThreadSanitizer by the test command.
#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "degrade/call.h"
#include "degrade/registry.h"
#include "gtest/gtest.h"
#include "test_registry.h"

namespace degrade {
namespace {

using namespace ::degrade::test_util;  // tests/test_util.h

constexpr int kSwitches = 8;

std::unique_ptr<Registry> MakeRegistry() {
  return std::make_unique<Registry>(QuietOptions());
}

// The values writers publish: on, off, dimmed, and on with a fault.
std::vector<EffectiveState> WrittenStates() {
  EffectiveState on;
  EffectiveState off;
  off.state = State::kOff;
  EffectiveState dimmed;
  dimmed.allow = 0.5;
  EffectiveState faulty;
  faulty.fault = Fault{Fault::Kind::kError, 0.5, 0};
  return {on, off, dimmed, faulty};
}

// What readers may see: state and fault are decided per field, possibly by
// different layers, so any state with any fault (none while off). Anything
// else (another allow, rate or kind) is a torn or invented state.
std::vector<EffectiveState> AllowedStates() {
  std::vector<EffectiveState> out;
  for (double allow : {1.0, 0.5}) {
    for (bool fault : {false, true}) {
      EffectiveState s;
      s.allow = allow;
      if (fault) s.fault = Fault{Fault::Kind::kError, 0.5, 0};
      out.push_back(s);
    }
  }
  EffectiveState off;
  off.state = State::kOff;
  out.push_back(off);
  return out;
}

SwitchValue ValueFor(const EffectiveState& s) {
  SwitchValue v;
  v.state = s.state;
  if (s.state == State::kOn && s.allow < 1.0) v.allow = s.allow;
  if (s.fault) v.fault = s.fault;
  return v;
}

bool IsAllowed(const EffectiveState& s, const std::vector<EffectiveState>& allowed) {
  for (const EffectiveState& a : allowed) {
    if (a.state != s.state) continue;
    if (std::abs(a.allow - s.allow) > 1e-6) continue;
    if (a.fault.has_value() != s.fault.has_value()) continue;
    if (a.fault && (a.fault->kind != s.fault->kind || std::abs(a.fault->rate - s.fault->rate) > 1e-6)) {
      continue;
    }
    return true;
  }
  return false;
}

TEST(StressTest, ConcurrentFlipsChecksAndCallsStayConsistent) {
  auto registry = MakeRegistry();
  std::vector<Switch*> switches;
  for (int i = 0; i < kSwitches; ++i) {
    switches.push_back(*registry->Define(
        {.name = "dep" + std::to_string(i), .description = "stress", .groups = {"all-deps"}}));
  }
  std::atomic<uint64_t> events{0};
  registry->AddListener([&](const ChangeEvent&) { events.fetch_add(1, std::memory_order_relaxed); });

  const std::vector<EffectiveState> allowed = AllowedStates();
  const std::vector<EffectiveState> written = WrittenStates();
  std::atomic<bool> stop{false};
  std::atomic<bool> torn{false};
  std::atomic<uint64_t> calls_made{0};

  std::vector<std::thread> threads;
  // Readers: check and call through every switch.
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&] {
      uint64_t made = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (Switch* sw : switches) {
          (void)sw->enabled();
          Call(*sw, [] { return 1; }, [] { return 0; });
          ++made;
          if (!IsAllowed(sw->state(), allowed)) torn.store(true);
        }
      }
      calls_made.fetch_add(made);
    });
  }
  // Writers: per-switch overrides, whole-layer snapshots, clears, listings.
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(w);
      for (int i = 0; i < 400; ++i) {
        Switch* sw = switches[rng() % kSwitches];
        const EffectiveState& s = written[rng() % written.size()];
        switch (rng() % 4) {
          case 0:
            ASSERT_TRUE(registry->SetOverride(sw->name(), ValueFor(s)).ok());
            break;
          case 1:
            ASSERT_TRUE(registry->ClearOverride(sw->name()).ok());
            break;
          case 2: {
            Snapshot snap;
            snap.switches[std::string(sw->name())] = ValueFor(s);
            ASSERT_TRUE(registry->ApplySnapshot(Layer::kRemote, snap, "stress").ok());
            break;
          }
          default:
            (void)registry->List();
        }
      }
    });
  }
  for (size_t i = 3; i < threads.size(); ++i) threads[i].join();
  stop.store(true);
  for (size_t i = 0; i < 3; ++i) threads[i].join();

  EXPECT_FALSE(torn.load()) << "a reader saw a state no writer published";

  // Counters add up exactly to the calls made.
  uint64_t counted = 0;
  for (const SwitchInfo& info : registry->List()) {
    if (!info.defined) continue;
    counted += info.counters.calls;
    EXPECT_EQ(info.counters.calls, info.counters.primary_ok + info.counters.fallbacks);
  }
  EXPECT_EQ(counted, calls_made.load());
  EXPECT_GT(events.load(), 0u);

  // With writers done, every switch's word agrees with the registry's view.
  for (Switch* sw : switches) {
    const SwitchInfo info = *registry->Get(sw->name());
    const EffectiveState hot = sw->state();
    EXPECT_EQ(hot.state, info.effective.state) << sw->name();
    EXPECT_NEAR(hot.allow, info.effective.allow, 1e-6) << sw->name();
    EXPECT_EQ(hot.fault.has_value(), info.effective.fault.has_value()) << sw->name();
  }
}

TEST(StressTest, LastWriteWinsForEverySwitch) {
  auto registry = MakeRegistry();
  std::vector<Switch*> switches;
  for (int i = 0; i < kSwitches; ++i) {
    switches.push_back(*registry->Define({.name = "s" + std::to_string(i), .description = "x"}));
  }
  // Each writer owns half of the switches; its last write must stick.
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (int round = 0; round < 300; ++round) {
        for (int i = w; i < kSwitches; i += 2) {
          SwitchValue v;
          v.state = (round % 2 == 0) ? State::kOff : State::kOn;
          ASSERT_TRUE(registry->SetOverride(switches[i]->name(), v).ok());
        }
      }
    });
  }
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      for (Switch* sw : switches) (void)sw->enabled();
    }
  });
  for (auto& t : writers) t.join();
  stop.store(true);
  reader.join();
  // Round 299 is odd: on.
  for (Switch* sw : switches) {
    EXPECT_TRUE(sw->enabled()) << sw->name();
    EXPECT_EQ(registry->Get(sw->name())->deciding_layer, Layer::kAdmin);
  }
}

TEST(StressTest, ListenersSeeEveryChangeInOrderPerSwitch) {
  auto registry = MakeRegistry();
  Switch* sw = *registry->Define({.name = "ordered", .description = "x"});
  std::mutex mu;
  std::vector<State> seen;
  registry->AddListener([&](const ChangeEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(e.new_state.state);
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        SwitchValue v;
        v.state = (i % 2 == 0) ? State::kOff : State::kOn;
        ASSERT_TRUE(registry->SetOverride("ordered", v).ok());
      }
    });
  }
  for (auto& t : writers) t.join();
  std::lock_guard<std::mutex> lock(mu);
  // Events alternate (each is a real change) and the last matches the state.
  ASSERT_FALSE(seen.empty());
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_NE(seen[i], seen[i - 1]) << i;
  EXPECT_EQ(seen.back(), sw->enabled() ? State::kOn : State::kOff);
}

}  // namespace
}  // namespace degrade
