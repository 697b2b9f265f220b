// The fleet as its registrations show it (etcd/registration.h): who is
// registered, who applied the latest change, and where instances disagree
// with etcd. Shared by `degradectl --etcd status`, `--wait` and the
// console's fleet panel. Not installed.
//
// Thread safety: pure functions over their arguments (ReadFleet does one
// range through the client, which is thread-safe).
#ifndef DEGRADE_LIB_ETCD_REGISTRATION_VIEW_H_
#define DEGRADE_LIB_ETCD_REGISTRATION_VIEW_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etcd/etcd_client.h"

namespace degrade::internal {

// One registration, parsed.
struct InstanceRecord {
  std::string key;
  std::string id;
  std::string host;
  int64_t pid = 0;
  std::string version;
  std::string started_at;
  std::string written_at;
  int64_t revision = 0;        // every change up to here applied
  int64_t layer_revision = 0;  // the newest change of the layer it applied
  int64_t mod_revision = 0;    // of the registration key itself
  // Sources that are not healthy: "etcd: <last_error>".
  std::vector<std::string> unhealthy;
  // Why the NOLINT: clang-tidy 14's bugprone-exception-escape flags every
  // class with an nlohmann::json member (as for ctl::Reply); the special
  // members are the implicit ones.
  // NOLINTNEXTLINE(bugprone-exception-escape)
  struct Switch {
    std::string state;  // "on" | "off"
    double allow = 1.0;
    nlohmann::json fault;  // null or {kind, rate, delay_ms}
    std::string layer;
    std::vector<std::string> groups;
  };
  std::map<std::string, Switch> switches;
};

// Parses the value of a registration key. InvalidArgument naming the key
// and the JSON path when it is not a registration.
absl::StatusOr<InstanceRecord> ParseRegistration(const std::string& key,
                                                 const std::string& value);

// Every key under `prefix` (normalised) as of one revision: the layer's keys
// and the registrations, split.
struct FleetSnapshot {
  std::string prefix;
  int64_t revision = 0;             // the store's
  std::vector<EtcdKv> layer;        // switches/, groups/, all, and any other key
  std::vector<InstanceRecord> instances;  // by id
  std::vector<std::string> errors;  // registrations that could not be read
};
absl::StatusOr<FleetSnapshot> ReadFleet(EtcdClient& client, std::string_view prefix);

// The comparison (see docs/fleet.md "degradectl status"), as JSON:
//   {"prefix", "revision", "latest_revision", "registered", "current",
//    "agree", "instances": [{"id", "host", "pid", "version", "started_at",
//    "written_at", "revision", "current", "healthy", "problems": [...]}],
//    "disagreements": [{"switch", "etcd": null | {"key", "scope",
//    "mod_revision", "value"}, "instances": [{"id", "state", "allow",
//    "fault", "layer", "why"}]}], "errors": [...]}
// `only_switch` (non-empty) limits the per-switch part to that switch.
// `agree` is true when at least one instance is registered, every one is
// current and healthy, and no switch has a disagreement.
nlohmann::json CompareFleet(const FleetSnapshot& fleet, std::string_view only_switch,
                            absl::Time now);

// The names of every switch some registered instance defines.
std::vector<std::string> DefinedSwitches(const FleetSnapshot& fleet);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ETCD_REGISTRATION_VIEW_H_
