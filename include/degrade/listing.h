// degrade/listing.h: the listing as JSON, one format for every consumer (the
// admin endpoint, degradectl --json, the C and Python bindings).
//
//   {"switches": [<switch>...], "shed": [<shed>...], "sources": [<source>...],
//    "errors": [...], "governor": <governor>}
//
// A <switch> object:
//   name, description, owner, groups, env_var, defined,
//   state ("on"|"off"), allow (number), fault (null or {kind, rate, delay_ms}),
//   layer (deciding layer), fault_layer (null or a layer), reason, actor,
//   expires_at (null or RFC 3339),
//   scope (which entry of the deciding layer: "switch"|"group:<g>"|"shed"|"all"),
//   layers: [{"layer": "env", "scope": "switch"|"group:<g>"|"shed"|"all",
//             "value": <snapshot value>}...] lowest first,
//   counters: {calls, primary_ok, skipped, primary_failures, injected_faults,
//              fallbacks}
// A <shed> object (Registry::Sheds, one per layer that sheds, lowest first):
//   layer, level (1-9), actor, reason, expires_at (null or RFC 3339).
// A <source> object: name, target, healthy, last_success, last_error_time
// (null or RFC 3339), last_error, consecutive_failures, applied.
// The <governor> object (degrade/governor.h, GovernorStatus): configured,
// enabled, cap, setting (null, or {layer, actor, reason}: who turned it off
// or capped it); when configured also target_ms, percentile, period_ms,
// measured_ms (null: too few samples), samples, in_flight, served, tier,
// tier_allow, tiers_off, periods, last_period (null or RFC 3339).
#ifndef DEGRADE_LISTING_H_
#define DEGRADE_LISTING_H_

#include <string>
#include <vector>

#include "degrade/export.h"
#include "degrade/registry.h"

namespace degrade {

// One switch as a JSON object.
DEGRADE_EXPORT std::string SwitchInfoToJson(const SwitchInfo& info);

// The whole listing of `registry` (switches, sources, recent errors).
DEGRADE_EXPORT std::string ListingToJson(const Registry& registry);

}  // namespace degrade

#endif  // DEGRADE_LISTING_H_
