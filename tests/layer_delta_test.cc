// internal::ApplyLayerDelta: a partial update of one layer, as
// ApplySnapshot of the layer with the delta made to it would be.
#include "core/layer_delta.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "degrade/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace degrade {
namespace {

using internal::ApplyLayerDelta;
using internal::LayerDelta;
using ::testing::HasSubstr;

SwitchValue Off() {
  SwitchValue v;
  v.state = State::kOff;
  return v;
}

class LayerDeltaTest : public ::testing::Test {
 protected:
  LayerDeltaTest() {
    Registry::Options options;
    options.clock = &clock_;
    options.getenv = [](std::string_view) { return std::optional<std::string>(); };
    options.log_sink = [](LogLevel, std::string_view) {};
    registry_ = std::make_unique<Registry>(std::move(options));
    for (const char* name : {"recs", "search", "ads"}) {
      SwitchSpec spec;
      spec.name = name;
      spec.description = name;
      if (std::string(name) == "ads") spec.groups = {"tier2"};
      switches_.push_back(*registry_->Define(spec));
    }
    registry_->AddListener([this](const ChangeEvent& e) { events_.push_back(e); });
  }
  Switch& recs() { return *switches_[0]; }
  Switch& search() { return *switches_[1]; }
  Switch& ads() { return *switches_[2]; }

  testing::FakeClock clock_;
  std::unique_ptr<Registry> registry_;
  std::vector<Switch*> switches_;
  std::vector<ChangeEvent> events_;
};

TEST_F(LayerDeltaTest, SetsOneSwitchAndKeepsTheRestOfTheLayer) {
  Snapshot base;
  base.switches["search"] = Off();
  base.switches["unknown.one"] = Off();
  ASSERT_TRUE(registry_->ApplySnapshot(Layer::kRemote, base, "etcd").ok());
  for (int round = 0; round < 2; ++round) {  // the first delta copies; the second edits in place
    LayerDelta delta;
    delta.switches["recs"] = round == 0 ? std::optional<SwitchValue>(Off()) : std::nullopt;
    ASSERT_TRUE(ApplyLayerDelta(*registry_, Layer::kRemote, std::move(delta), "etcd").ok());
    EXPECT_EQ(recs().enabled(), round == 1);
    EXPECT_FALSE(search().enabled());
    Snapshot layer = registry_->LayerSnapshot(Layer::kRemote);
    EXPECT_EQ(layer.switches.size(), round == 0 ? 3u : 2u);
    EXPECT_TRUE(layer.switches.contains("unknown.one"));
  }
}

TEST_F(LayerDeltaTest, GroupAndAllEntriesReachTheSwitchesTheyCover) {
  LayerDelta first;
  first.groups["tier2"] = Off();
  ASSERT_TRUE(ApplyLayerDelta(*registry_, Layer::kRemote, std::move(first), "etcd").ok());
  LayerDelta group;  // in place now
  group.groups["tier2"] = std::nullopt;
  group.change_all = true;
  group.all = Off();
  ASSERT_TRUE(ApplyLayerDelta(*registry_, Layer::kRemote, std::move(group), "etcd").ok());
  EXPECT_FALSE(recs().enabled());
  EXPECT_FALSE(ads().enabled());
  LayerDelta clear;
  clear.change_all = true;
  ASSERT_TRUE(ApplyLayerDelta(*registry_, Layer::kRemote, std::move(clear), "etcd").ok());
  EXPECT_TRUE(recs().enabled());
  EXPECT_TRUE(ads().enabled());
  EXPECT_EQ(registry_->LayerSnapshot(Layer::kRemote), Snapshot());
}

TEST_F(LayerDeltaTest, ABadEntryChangesNothingAndNamesTheEntry) {
  LayerDelta warm;  // so that the failing delta meets the in-place path
  warm.switches["search"] = Off();
  ASSERT_TRUE(ApplyLayerDelta(*registry_, Layer::kRemote, std::move(warm), "etcd").ok());
  LayerDelta delta;
  delta.switches["recs"] = Off();
  SwitchValue bad;
  bad.allow = 1.5;
  delta.switches["ads"] = bad;
  absl::Status s = ApplyLayerDelta(*registry_, Layer::kRemote, std::move(delta), "etcd /p/");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("etcd /p/: "));
  EXPECT_THAT(s.message(), HasSubstr("switches.\"ads\""));
  EXPECT_TRUE(recs().enabled());
  EXPECT_EQ(registry_->LayerSnapshot(Layer::kRemote).switches.size(), 1u);

  LayerDelta bad_name;
  bad_name.groups["Not A Name"] = Off();
  EXPECT_EQ(ApplyLayerDelta(*registry_, Layer::kRemote, std::move(bad_name), "etcd").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyLayerDelta(*registry_, Layer::kEnv, LayerDelta(), "etcd").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LayerDeltaTest, ChangesAreDeliveredAsEventsWithTheSource) {
  LayerDelta first;
  first.switches["search"] = Off();
  ASSERT_TRUE(ApplyLayerDelta(*registry_, Layer::kRemote, std::move(first), "etcd /p/").ok());
  LayerDelta second;
  second.switches["recs"] = Off();
  ASSERT_TRUE(ApplyLayerDelta(*registry_, Layer::kRemote, std::move(second), "etcd /p/").ok());
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0].name, "search");
  EXPECT_EQ(events_[1].name, "recs");
  EXPECT_EQ(events_[1].layer, Layer::kRemote);
  EXPECT_EQ(events_[1].actor, "etcd");
  EXPECT_EQ(events_[1].reason, "etcd /p/ applied");
}

TEST_F(LayerDeltaTest, ReplacingTheLayerEndsInPlaceEditing) {
  LayerDelta first;
  first.switches["recs"] = Off();
  ASSERT_TRUE(ApplyLayerDelta(*registry_, Layer::kRemote, std::move(first), "etcd").ok());
  Snapshot whole;
  whole.switches["search"] = Off();
  ASSERT_TRUE(registry_->ApplySnapshot(Layer::kRemote, whole, "etcd").ok());
  EXPECT_TRUE(recs().enabled());
  LayerDelta next;
  next.switches["ads"] = Off();
  ASSERT_TRUE(ApplyLayerDelta(*registry_, Layer::kRemote, std::move(next), "etcd").ok());
  Snapshot layer = registry_->LayerSnapshot(Layer::kRemote);
  EXPECT_EQ(layer.switches.size(), 2u);
  EXPECT_FALSE(layer.switches.contains("recs"));
  EXPECT_FALSE(search().enabled());
  EXPECT_FALSE(ads().enabled());
}

}  // namespace
}  // namespace degrade
