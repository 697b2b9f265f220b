// Who or what caused a layer write: carried from each entry point that
// changes a layer (an admin request, a source, the expiry timer, a breaker,
// code) down to where change events are built, so that an event names its
// cause rather than whichever entry decides the switch afterwards.
// docs/audit.md states the rules each entry point follows. Not installed.
#ifndef DEGRADE_LIB_CORE_CAUSE_H_
#define DEGRADE_LIB_CORE_CAUSE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "degrade/registry.h"
#include "degrade/snapshot.h"

namespace degrade::internal {

struct Cause {
  std::string actor;
  std::string reason;
  // A snapshot's entries speak for themselves: when set, a switch whose
  // deciding entry (or, failing that, fault entry) after the change lies in
  // this layer and names an actor takes that entry's actor and reason.
  std::optional<Layer> entries_of;
  // For etcd: the revision applied.
  std::optional<int64_t> revision;
  // Record an event even when the switch's outcome did not change (a
  // breaker closing after its probes succeeded).
  bool always = false;
};

// A cause with just an actor and a reason.
inline Cause MakeCause(std::string actor, std::string reason, bool always = false) {
  Cause c;
  c.actor = std::move(actor);
  c.reason = std::move(reason);
  c.always = always;
  return c;
}

// The cause of a source's write of `layer` when the source names itself
// "file /etc/svc/degrade.json", "remote https://...", "etcd /degrade/" or
// similar: actor is the first word ("file"), reason "<source> applied";
// entries speak for themselves. An empty source stands for the layer.
Cause SourceCause(std::string_view source, Layer layer);

// Registry entry points that take the cause from their caller (the admin
// endpoint's writes and clears, bulk writes), as Registry's methods of the
// same names otherwise. `cause.actor` must not be empty.
absl::Status SetOverrideWithCause(Registry& registry, std::string_view name, SwitchValue value,
                                  absl::Duration ttl, Cause cause);
absl::Status ClearOverrideWithCause(Registry& registry, std::string_view name, Cause cause);
// The admin layer's governor setting (nullopt clears it), as
// Registry::SetGovernorSetting without a ttl (an expires_at in `setting`
// works). Defined in registry_governor.cc.
absl::Status SetGovernorSettingWithCause(Registry& registry,
                                         std::optional<GovernorSetting> setting, Cause cause);
// A shed as events, listings and the console show it: "shed at tier ≥ 3 by
// oncall: INC-7 db saturated" (" by <actor>" only with an actor, ": <reason>"
// only with a reason). The reason of the "off" entry a shed stands for.
std::string ShedText(const Shed& shed);
// What a clear or an expiry of a shed took away: `admin shed at tier ≥ 3 by
// bob ("INC-7")`, as DescribeEntry for entries.
std::string DescribeShed(Layer layer, const Shed& shed);

// The admin layer's shed (the admin endpoint's PUT/DELETE /degrade/v1/shed),
// as Registry::SetShed and ClearShed. An empty cause.reason becomes
// ShedText(shed) for a set, `admin shed at tier ≥ N by <actor> ("<reason>")
// cleared` for a clear.
absl::Status SetShedWithCause(Registry& registry, Shed shed, absl::Duration ttl, Cause cause);
absl::Status ClearShedWithCause(Registry& registry, Cause cause);
// A whole layer written at once (the admin bulk write): as ApplySnapshot.
absl::Status ApplySnapshotWithCause(Registry& registry, Layer layer, Snapshot snapshot,
                                    std::string_view source, const Cause& cause);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_CORE_CAUSE_H_
