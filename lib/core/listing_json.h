// nlohmann forms of the listing, for code inside lib/ that embeds them
// (the admin endpoint). Not installed.
#ifndef DEGRADE_LIB_LISTING_JSON_H_
#define DEGRADE_LIB_LISTING_JSON_H_

#include <string>
#include <vector>

#include "degrade/registry.h"
#include "nlohmann/json.hpp"

namespace degrade::internal {

nlohmann::json SwitchInfoJson(const SwitchInfo& info);
nlohmann::json SourceHealthJson(const SourceHealth& health);
// The governor's status as the listing shows it (degrade/listing.h).
nlohmann::json GovernorStatusJson(const GovernorStatus& g);
nlohmann::json ListingJson(const Registry& registry);
// The listing's "shed" array: [{"layer", "level", "actor", "reason",
// "expires_at"}...] as Registry::Sheds gives them.
nlohmann::json ShedsJson(const std::vector<LayerShed>& sheds);
// Serialises without ever throwing (invalid UTF-8 is replaced).
std::string Dump(const nlohmann::json& j);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_LISTING_JSON_H_
