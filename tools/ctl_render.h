// degradectl's human output, from the listing JSON of degrade/listing.h, or
// from the etcd backend's listing (ctl_backend.h, EtcdOptions), which each
// function below recognises ("etcd" at the top of a listing, "key" in an
// entry) and shows as what etcd holds: keys, values, revisions.
//
// Input is a service's JSON, so nothing here trusts it: a missing field or a
// field of the wrong type shows as "-" rather than failing, and control
// characters in reasons (a newline, a terminal escape) are replaced by
// blanks before they reach the terminal.
#ifndef DEGRADE_TOOLS_CTL_RENDER_H_
#define DEGRADE_TOOLS_CTL_RENDER_H_

#include <string>

#include "absl/time/time.h"
#include "ctl_backend.h"
#include "nlohmann/json.hpp"

namespace degrade::ctl {

// The table of `degradectl list`:
//   NAME             STATE   LAYER  REASON              ACTOR  EXPIRES  CALLS  FALLBACKS
//   recommendations  off     admin  INC-42 vendor down  ana    in 14m   1200   1180
// then the sources' health and the number of recent errors.
std::string RenderList(const nlohmann::json& listing, absl::Time now);

// The block of `degradectl get`: every field, every layer's setting.
std::string RenderSwitch(const nlohmann::json& sw, absl::Time now);

// The one line after a write:
//   recommendations: off (admin, reason "INC-42", expires in 15m)
std::string RenderWriteResult(const nlohmann::json& sw, absl::Time now);

// The inventory of `degradectl inventory --json`, from a listing: the
// defined switches, by name, as degrade/inventory.h's InventoryToJson writes
// them: {"switches": [{"name", "description", "owner", "groups", "env_var",
// "breaker"}]} ("breaker": whether some layer gives it a breaker policy).
nlohmann::json InventoryFromListing(const nlohmann::json& listing);

// The table of `degradectl inventory`:
//   NAME             OWNER           GROUPS  BREAKER  ENV VAR                  DESCRIPTION
//   recommendations  team-discovery  tier2   yes      DEGRADE_RECOMMENDATIONS  "Customers ...
// then the switches without an owner or a description.
std::string RenderInventory(const nlohmann::json& listing);

// The answer to `degradectl shed N|clear`. Admin: the layers that now shed
// ("admin: shed at tier ≥ 3 by bob: INC-7 (expires in 30m)") and the
// switches the admin shed turns off, or what a clear did. etcd: the key
// written or deleted, with its revision.
std::string RenderShedResult(const nlohmann::json& reply, absl::Time now);
// The answer to `degradectl governor off|on|cap N|clear`. Admin: one line
// of the governor's state (GovernorLine); etcd: the key written or deleted.
std::string RenderGovernorResult(const nlohmann::json& reply, absl::Time now);
// "governor: off by bob: INC-9" / "governor: p95 310 ms, target 200 ms,
// serving 45% of tiered work (tier 7 at 40%, 1 tier off)" / "governor: not
// configured", from a listing's or reply's "governor" object; empty when
// there is none.
std::string GovernorLine(const nlohmann::json& governor);

// "on", "off", "on 25%", with " +fault" when a fault is active.
std::string StateLabel(const nlohmann::json& sw);

// "in 14m", "in 2h05m", "in 3d4h", "in 45s"; "expired" once past. `rfc3339`
// not a time: returned as given.
std::string RelativeExpiry(const std::string& rfc3339, absl::Time now);

// A value of a WatchEvent: "(none)" for null; "off"; "on 25%"; "on +fault
// error at 50%"; for an etcd value that sets only a fault, "fault delay
// 800ms"; "fault off" for {"fault": "off"}.
std::string ValueLabel(const nlohmann::json& value);

// One line of `degradectl watch`:
//   2026-11-22T05:01:02.123Z  recommendations: on -> off (admin, by ana, reason "INC-42", expires in 15m)
//   2026-11-22T05:01:02.123Z  group tier2: (none) -> off (etcd rev 812, by ana)
std::string RenderWatchEvent(const WatchEvent& event, absl::Time now);

// One line of `degradectl watch --json` (no newline), in the shape of the
// library's change events (degrade/registry.h ChangeEventToJson):
//   {"time": ..., "event": "change", "switch": ..., "old": ..., "new": ...,
//    "old_layer": ..., "layer": ..., "actor": ..., "reason": ...,
//    "expires_at": ... | null}
// plus "fault_layer" when a fault is set (admin), and for etcd "key" and
// "revision", with "group": NAME or "all": true instead of "switch" for
// those keys.
std::string WatchEventJson(const WatchEvent& event);

}  // namespace degrade::ctl

#endif  // DEGRADE_TOOLS_CTL_RENDER_H_
