// What an admin write's body means beyond the snapshot format (DESIGN
// sections 3 and 7): the checks that only writes to the admin layer make
// (an expiry already past, names this process does not define) and the bulk
// write's body, a whole snapshot with an optional ttl_s for the write. Pure
// functions of the body, the time and the defined names; the routes
// (routes.h) answer with what they return. Not installed.
#ifndef DEGRADE_LIB_ADMIN_ADMIN_WRITE_H_
#define DEGRADE_LIB_ADMIN_ADMIN_WRITE_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/snapshot.h"
#include "degrade/state.h"

namespace degrade::internal {

// The source that prefixes the bulk write's messages and names it in
// change events: "admin bulk PUT: switches.recs.allow: 2 is not in [0, 1]".
inline constexpr std::string_view kBulkWriteSource = "admin bulk PUT";

// InvalidArgument when `value` has an expires_at at or before `now`: an
// override that is over before it starts would only remove the entry it
// replaces, which is what DELETE is for. The message names `source`, `path`
// (a JSON path such as switches."shop.recs"), the time and now:
//   admin PUT: switches.recs.expires_at: "2020-01-01T00:00:00Z" is not in
//   the future (now 2026-12-06T04:00:00Z); accepted: an RFC 3339 time after
//   now, or ttl_s
absl::Status CheckExpiryInFuture(const SwitchValue& value, std::string_view source,
                                 std::string_view path, absl::Time now);

// A bulk write, checked: what the admin layer becomes, and who caused it.
struct BulkWrite {
  // Every entry (switches, groups, all) carries an actor: its own, else the
  // default actor; with the write's ttl_s, every entry expires at
  // now + ttl_s.
  Snapshot snapshot;
  std::optional<double> ttl_s;
  // The cause of the write, for change events and the log: the actor and
  // reason every entry agrees on; otherwise the default actor and a reason
  // that says what the write was ("bulk write of 3 entries").
  std::string actor;
  std::string reason;
  // Unknown fields, as ParseSnapshot reports them.
  std::vector<std::string> warnings;
};

// Parses the body of PUT /degrade/v1/switches: a snapshot (ParseSnapshot,
// source kBulkWriteSource) whose top level may also hold "ttl_s", a number
// of seconds in (0, 2592000] applied to every entry. `default_actor` fills
// entries without an actor (the X-Degrade-Actor header, else "admin").
// `defined` tells whether a switch name is defined in this process.
//
// InvalidArgument (nothing is applied) on anything ParseSnapshot refuses; on
// a bad ttl_s ("admin bulk PUT: ttl_s: -1 is not in (0, 2592000]; accepted:
// a number of seconds in (0, 2592000] (30 days)"); on an entry with its own
// expiry when the write has ttl_s; on an expiry not in the future
// (CheckExpiryInFuture); and on switch names not defined here, all of them
// named in one message, as the single-switch PUT answers 404 for one.
absl::StatusOr<BulkWrite> ParseBulkWrite(std::string_view body, absl::Time now,
                                         std::string_view default_actor,
                                         const std::function<bool(std::string_view)>& defined);

// The source that prefixes the shed write's messages:
// "admin PUT shed: shed.level: 12 is not an integer in [0, 9]; ...".
inline constexpr std::string_view kShedWriteSource = "admin PUT shed";

// Parses the body of PUT /degrade/v1/shed: {"level": 1-9, "reason",
// "actor", "expires_at" | "ttl_s"} (ParseShed, source kShedWriteSource,
// path "shed"). `default_actor` fills a shed without an actor.
// InvalidArgument (nothing is applied) on anything ParseShed refuses, on
// level 0 (DELETE clears the shed), and on an expiry not in the future.
absl::StatusOr<Shed> ParseShedWrite(std::string_view body, absl::Time now,
                                    std::string_view default_actor,
                                    std::vector<std::string>* warnings);

}  // namespace degrade::internal

#endif  // DEGRADE_LIB_ADMIN_ADMIN_WRITE_H_
