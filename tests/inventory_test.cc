// degrade::Inventory(): every declared switch with owner, groups and
// description, for tests that keep degraded mode possible as dependencies
// grow.
#include "degrade/inventory.h"

#include <string>

#include "degrade/registry.h"
#include "degrade/snapshot.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace degrade {
namespace {

using ::testing::ElementsAre;

Registry::Options Quiet() {
  Registry::Options o;
  o.getenv = [](std::string_view) { return std::nullopt; };
  o.log_sink = [](LogLevel, std::string_view) {};
  return o;
}

TEST(InventoryTest, ListsDefinedSwitchesByNameWithOwnerGroupsAndBreaker) {
  Registry registry(Quiet());
  ASSERT_TRUE(registry.Define({.name = "reviews", .description = "Star ratings", .owner = "ugc",
                               .groups = {"tier2"}}).ok());
  ASSERT_TRUE(registry.Define({.name = "analytics", .description = "Funnel events",
                               .groups = {"tier3", "vendor"},
                               .breaker = BreakerPolicy{}}).ok());
  const std::vector<InventoryEntry> inv = Inventory(registry);
  ASSERT_EQ(inv.size(), 2u);
  EXPECT_EQ(inv[0].name, "analytics");
  EXPECT_EQ(inv[0].owner, "");
  EXPECT_THAT(inv[0].groups, ElementsAre("tier3", "vendor"));
  EXPECT_TRUE(inv[0].has_breaker);
  EXPECT_EQ(inv[0].env_var, "DEGRADE_ANALYTICS");
  EXPECT_EQ(inv[1].name, "reviews");
  EXPECT_EQ(inv[1].description, "Star ratings");
  EXPECT_EQ(inv[1].owner, "ugc");
  EXPECT_FALSE(inv[1].has_breaker);
}

TEST(InventoryTest, LeavesOutNamesNoCodeDefines) {
  Registry registry(Quiet());
  ASSERT_TRUE(registry.Define({.name = "recs", .description = "d"}).ok());
  ASSERT_TRUE(registry
                  .ApplySnapshotJson(Layer::kFile, R"({"switches": {"legacy.search": "off"}})",
                                     "test")
                  .ok());
  ASSERT_EQ(registry.List().size(), 2u);  // the listing shows the unknown name
  const std::vector<InventoryEntry> inv = Inventory(registry);
  ASSERT_EQ(inv.size(), 1u);
  EXPECT_EQ(inv[0].name, "recs");
}

TEST(InventoryTest, BreakerFromAnyLayerCounts) {
  Registry registry(Quiet());
  ASSERT_TRUE(registry.Define({.name = "recs", .description = "d"}).ok());
  EXPECT_FALSE(Inventory(registry)[0].has_breaker);
  ASSERT_TRUE(registry
                  .ApplySnapshotJson(Layer::kFile,
                                     R"({"switches": {"recs": {"breaker": {"open_s": 5}}}})",
                                     "test")
                  .ok());
  EXPECT_TRUE(Inventory(registry)[0].has_breaker);
}

TEST(InventoryTest, CarriesEachSwitchsTier) {
  Registry registry(Quiet());
  ASSERT_TRUE(registry.Define({.name = "essential", .description = "no tier"}).ok());
  ASSERT_TRUE(registry.Define({.name = "recs", .description = "shed early", .tier = 8}).ok());
  const std::vector<InventoryEntry> inventory = Inventory(registry);
  ASSERT_EQ(inventory.size(), 2u);
  EXPECT_EQ(inventory[0].tier, 0);
  EXPECT_EQ(inventory[1].tier, 8);
}

TEST(InventoryTest, JsonFormat) {
  const std::string text = InventoryToJson(
      {{"recs", "Recommendations", "team", {"tier2"}, 7, "DEGRADE_RECS", true}});
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j, nlohmann::json::parse(R"({"switches": [{"name": "recs",
      "description": "Recommendations", "owner": "team", "groups": ["tier2"], "tier": 7,
      "env_var": "DEGRADE_RECS", "breaker": true}]})"));
  EXPECT_EQ(nlohmann::json::parse(InventoryToJson({})), nlohmann::json::parse(R"({"switches": []})"));
}

}  // namespace
}  // namespace degrade
