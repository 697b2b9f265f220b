#include "degrade/state.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace degrade {
namespace {

EffectiveState Make(State state, double allow = 1.0, std::optional<Fault> fault = std::nullopt) {
  EffectiveState out;
  out.state = state;
  out.allow = allow;
  out.fault = fault;
  return out;
}

TEST(StateTest, StateNames) {
  EXPECT_EQ(StateName(State::kOn), "on");
  EXPECT_EQ(StateName(State::kOff), "off");
}

TEST(StateTest, LayerNamesFollowPrecedenceOrder) {
  EXPECT_EQ(LayerName(Layer::kDefault), "default");
  EXPECT_EQ(LayerName(Layer::kFile), "file");
  EXPECT_EQ(LayerName(Layer::kEnv), "env");
  EXPECT_EQ(LayerName(Layer::kRemote), "remote");
  EXPECT_EQ(LayerName(Layer::kBreaker), "breaker");
  EXPECT_EQ(LayerName(Layer::kAdmin), "admin");
}

TEST(StateTest, ParseLayerNameRoundTripsEveryLayer) {
  for (int i = 0; i < kLayerCount; ++i) {
    const Layer layer = static_cast<Layer>(i);
    EXPECT_EQ(ParseLayerName(LayerName(layer)), layer) << LayerName(layer);
  }
}

TEST(StateTest, ParseLayerNameRejectsOtherSpellings) {
  EXPECT_EQ(ParseLayerName("Admin"), std::nullopt);
  EXPECT_EQ(ParseLayerName("admin "), std::nullopt);
  EXPECT_EQ(ParseLayerName(""), std::nullopt);
  EXPECT_EQ(ParseLayerName("etcd"), std::nullopt);
}

TEST(StateTest, FaultKindNames) {
  EXPECT_EQ(FaultKindName(Fault::Kind::kError), "error");
  EXPECT_EQ(FaultKindName(Fault::Kind::kDelay), "delay");
}

TEST(StateTest, DescribePlainOn) { EXPECT_EQ(DescribeState(EffectiveState{}), "on"); }

TEST(StateTest, DescribeOff) { EXPECT_EQ(DescribeState(Make(State::kOff)), "off"); }

TEST(StateTest, DescribeOnWithAllow) {
  EXPECT_EQ(DescribeState(Make(State::kOn, 0.25)), "on allow=0.25");
}

TEST(StateTest, DescribeOnWithZeroAllow) {
  EXPECT_EQ(DescribeState(Make(State::kOn, 0.0)), "on allow=0");
}

TEST(StateTest, DescribeAllowJustBelowOneIsNotRoundedToOne) {
  EXPECT_EQ(DescribeState(Make(State::kOn, 0.9999999)), "on allow=0.9999999");
}

TEST(StateTest, DescribeOffIgnoresAllow) {
  EXPECT_EQ(DescribeState(Make(State::kOff, 0.5)), "off");
}

TEST(StateTest, DescribeErrorFault) {
  const EffectiveState state =
      Make(State::kOn, 1.0, Fault{.kind = Fault::Kind::kError, .rate = 0.5, .delay_ms = 0});
  EXPECT_EQ(DescribeState(state), "on fault=error rate=0.5");
}

TEST(StateTest, DescribeDelayFaultWhileOff) {
  const EffectiveState state =
      Make(State::kOff, 1.0, Fault{.kind = Fault::Kind::kDelay, .rate = 1.0, .delay_ms = 200});
  EXPECT_EQ(DescribeState(state), "off fault=delay rate=1 delay_ms=200");
}

TEST(StateTest, DescribeAllowAndFaultTogether) {
  const EffectiveState state =
      Make(State::kOn, 0.5, Fault{.kind = Fault::Kind::kError, .rate = 0.1, .delay_ms = 50});
  EXPECT_EQ(DescribeState(state), "on allow=0.5 fault=error rate=0.1 delay_ms=50");
}

TEST(StateTest, CallsPassOnlyWhenOnWithPositiveAllow) {
  EXPECT_TRUE(Make(State::kOn, 0.1).calls_pass());
  EXPECT_FALSE(Make(State::kOn, 0.0).calls_pass());
  EXPECT_FALSE(Make(State::kOff).calls_pass());
}

TEST(StateTest, SwitchValueSetsStateWithAllowAlone) {
  SwitchValue value;
  value.allow = 0.5;
  EXPECT_TRUE(value.SetsState());
  EXPECT_FALSE(value.SetsFault());
}

}  // namespace
}  // namespace degrade
