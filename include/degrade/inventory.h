// degrade/inventory.h: every declared switch with who owns it and what it
// guards: the inventory of a service's non-essential dependencies.
//
//   for (const degrade::InventoryEntry& e : degrade::Inventory()) {
//     EXPECT_FALSE(e.owner.empty()) << e.name << " has no owner";
//   }
//
// As dependencies grow, degraded mode stays possible only if every switch
// keeps a description an on-call engineer can judge and an owner to call; a
// test like the one above keeps it so. `degradectl inventory` shows the same
// list for a running service.
//
// Cost: one Registry::List() (a lock and a copy of every switch); not for
// hot paths. Thread safety: any thread.
#ifndef DEGRADE_INVENTORY_H_
#define DEGRADE_INVENTORY_H_

#include <string>
#include <vector>

#include "degrade/export.h"
#include "degrade/registry.h"

namespace degrade {

struct InventoryEntry {
  std::string name;
  std::string description;
  std::string owner;                // empty when the declaration names none
  std::vector<std::string> groups;
  int tier = 0;                     // 0 (no tier), 1 (shed last) to 9 (shed first)
  std::string env_var;              // DEGRADE_<NAME>
  bool has_breaker = false;         // some layer gives it a breaker policy
};

// The switches defined in `registry`, by name. Names that a layer mentions
// but no code defines are left out (they are not dependencies of this
// process).
DEGRADE_EXPORT std::vector<InventoryEntry> Inventory(const Registry& registry = Registry::Global());

// {"switches": [{"name", "description", "owner", "groups", "tier", "env_var",
// "breaker"}...]}, the format of `degradectl inventory --json`.
DEGRADE_EXPORT std::string InventoryToJson(const std::vector<InventoryEntry>& inventory);

}  // namespace degrade

#endif  // DEGRADE_INVENTORY_H_
