// A snapshot value as nlohmann JSON, for code inside lib/ that embeds it in
// a larger document (the listing). Not installed.
#ifndef DEGRADE_LIB_CORE_SNAPSHOT_JSON_H_
#define DEGRADE_LIB_CORE_SNAPSHOT_JSON_H_

#include "degrade/breaker.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"
#include "nlohmann/json.hpp"

namespace degrade::internal {

// The value as SwitchValueToJson writes it (SwitchValueToJson dumps this).
nlohmann::json SwitchValueJson(const SwitchValue& value);
// A breaker policy in full, as a value's "breaker" field is written.
nlohmann::json BreakerPolicyJson(const BreakerPolicy& policy);
// A shed and a governor setting as SnapshotToJson writes them.
nlohmann::json ShedJson(const Shed& shed);
nlohmann::json GovernorSettingJson(const GovernorSetting& setting);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CORE_SNAPSHOT_JSON_H_
