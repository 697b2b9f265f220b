// degradectl's fleet commands over etcd (docs/fleet.md "Is it off
// everywhere?"): what the instances registered under PREFIX/instances/
// (lib/etcd/registration.h) say they applied.
//
//   status [SWITCH]   who is registered, who applied the latest change, and
//                     every switch where an instance differs from etcd, why
//   --wait            after a write: until every instance applied it
//   typo protection   a write naming a switch no instance defines
//   history [SWITCH]  past changes from etcd's revisions
//
// Each returns degradectl's exit status (0 ok, 1 failure) and prints to
// `out` (results) and `err` (problems). Errors name what failed and what to
// check.
#ifndef DEGRADE_TOOLS_CTL_FLEET_H_
#define DEGRADE_TOOLS_CTL_FLEET_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "etcd/etcd_client.h"
#include "nlohmann/json.hpp"

namespace degrade::ctl {

struct FleetTarget {
  internal::EtcdClient::Config client;
  std::string prefix;  // normalised
};

// `degradectl --etcd status [SWITCH]`: exit 0 when at least one instance is
// registered and every one agrees with etcd (current, healthy, no switch
// decided otherwise), else 1.
int FleetStatus(const FleetTarget& target, std::string_view only_switch, bool json,
                std::ostream& out, std::ostream& err);

// Refuses (FailedPrecondition, with the nearest defined name as "did you
// mean") a write to `name` when at least one instance is registered and
// none defines it. OK when one does, or when none is registered (nothing
// to check against: registration may be off). Unavailable when etcd cannot
// be read.
absl::Status CheckSwitchKnown(const FleetTarget& target, std::string_view name);

// After a write at `revision` (started at `started`): waits until every
// registered instance reports that revision, at most `timeout`, then
// prints how long the fleet took (p50 and max, from `started`) and every
// instance that did not confirm in time or disagrees about `name` (empty:
// any switch). Exit 0 when every instance confirmed and agrees, else 1
// (also when no instance is registered). With `json`, the outcome goes into
// `*report` (the caller prints it with the write's reply) instead of `out`.
int FleetWait(const FleetTarget& target, int64_t revision, absl::Time started,
              std::string_view name, absl::Duration timeout, bool json, nlohmann::json* report,
              std::ostream& out, std::ostream& err);

// `degradectl --etcd history [SWITCH]`: every change of the layer's keys
// (or of PREFIX/switches/SWITCH) that etcd still holds, oldest first, with
// its revision, time (the value's set_at, which degradectl writes; "-" for
// other writers and deletes), actor, reason, and old -> new; then where
// etcd's compaction cut the history. Exit 0, or 1 when etcd cannot be read.
int FleetHistory(const FleetTarget& target, std::string_view only_switch, bool json,
                 std::ostream& out, std::ostream& err);

}  // namespace degrade::ctl

#endif  // DEGRADE_TOOLS_CTL_FLEET_H_
