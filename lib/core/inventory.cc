// The inventory of declared switches (see degrade/inventory.h).
#include "degrade/inventory.h"

#include <algorithm>

#include "nlohmann/json.hpp"

namespace degrade {

std::vector<InventoryEntry> Inventory(const Registry& registry) {
  std::vector<InventoryEntry> out;
  for (SwitchInfo& info : registry.List()) {
    if (!info.defined) continue;
    out.push_back({std::move(info.name), std::move(info.description), std::move(info.owner),
                   std::move(info.groups), info.tier, std::move(info.env_var),
                   info.breaker.has_value()});
  }
  std::sort(out.begin(), out.end(),
            [](const InventoryEntry& a, const InventoryEntry& b) { return a.name < b.name; });
  return out;
}

std::string InventoryToJson(const std::vector<InventoryEntry>& inventory) {
  nlohmann::json switches = nlohmann::json::array();
  for (const InventoryEntry& e : inventory) {
    switches.push_back({{"name", e.name},
                        {"description", e.description},
                        {"owner", e.owner},
                        {"groups", e.groups},
                        {"tier", e.tier},
                        {"env_var", e.env_var},
                        {"breaker", e.has_breaker}});
  }
  // Descriptions are typed by people: replace invalid UTF-8 rather than throw.
  return nlohmann::json{{"switches", switches}}.dump(-1, ' ', false,
                                                     nlohmann::json::error_handler_t::replace);
}

}  // namespace degrade
